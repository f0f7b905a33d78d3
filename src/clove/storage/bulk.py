"""Bulk import: the optional store capability, the rows it takes, and a fallback for the rest.

An import creates many relationships at one new revision, all or nothing, like SpiceDB's
``ImportBulkRelationships``: a relationship that is already live, or that the import repeats,
fails the whole import with RelationshipExistsError naming its row (rows count from 1 in the
order the iterable yields them). Expired relationships do not count as live.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, runtime_checkable

from clove.errors import RelationshipExistsError
from clove.relationships import Operation, RelationshipUpdate, format_relationship
from clove.storage._rows import relationship_from_row
from clove.storage.protocol import RelationshipKey, Store

# The six key columns, then caveat name, canonical context JSON, expiration (epoch µs).
ImportRow = tuple[str, str, str, str, str, str, str | None, str | None, int | None]

DEFAULT_BATCH_SIZE = 10_000


@runtime_checkable
class BulkImporter(Protocol):
    """A store that imports a stream of rows without holding it in memory."""

    def import_rows(self, rows: Iterable[ImportRow], *, batch_size: int) -> int:
        """Create every row at one new revision, all or nothing; return that revision.

        Reads ``rows`` ``batch_size`` at a time, so memory does not grow with the import.
        Whatever the iterable raises (a validation error at row 900,000) propagates and
        leaves nothing written; so does RelationshipExistsError for a row whose key is live
        already or repeated by the import. Other writers are held off only for the final
        step, not while the rows stream in, unless the store says otherwise (PostgreSQL
        loads a large import into an empty table under its writers' lock).
        """
        ...


def find_importer(store: Store) -> BulkImporter | None:
    """The ``BulkImporter`` behind ``store`` (looking through wrappers such as the cache)."""
    candidate: object = store
    for _ in range(4):  # wrappers nest a few levels at most
        if isinstance(candidate, BulkImporter):
            return candidate
        candidate = getattr(candidate, "inner", None)
        if candidate is None:
            return None
    return None


def describe_row(row: ImportRow) -> str:
    """``row`` in relationship syntax, for messages."""
    return format_relationship(relationship_from_row(row))


def import_by_write(store: Store, rows: Iterable[ImportRow], *, batch_size: int) -> int:
    """Import into a store without ``BulkImporter`` as one write of CREATE updates.

    The in-memory store holds everything anyway, so materializing the write costs no more
    than the data itself. ``batch_size`` has nothing to bound here and is accepted for
    symmetry.
    """
    del batch_size
    first_row: dict[RelationshipKey, int] = {}
    updates: list[RelationshipUpdate] = []
    for number, row in enumerate(rows, start=1):
        key: RelationshipKey = row[:6]
        earlier = first_row.setdefault(key, number)
        if earlier != number:
            message = (
                f"row {number}: relationship {describe_row(row)} is repeated"
                f" (first at row {earlier})"
            )
            raise RelationshipExistsError(message)
        rel = relationship_from_row(row)
        updates.append(RelationshipUpdate(operation=Operation.CREATE, relationship=rel))
    head = store.reader(store.head_revision())
    for update in updates:
        rel = update.relationship
        if head.find(*rel.key) is not None:
            number = first_row[rel.key]
            raise RelationshipExistsError(f"row {number}: relationship {rel} already exists")
    return store.write(updates)
