"""The storage contract every backend implements.

Storage is MVCC: every successful write is applied all-or-nothing at a new revision (a
positive integer, strictly increasing); a ``Reader`` opened at a revision sees exactly the
data committed at or before it, whatever writers do meanwhile. Expired relationships are
invisible to every read (a relationship expires at its ``expiration`` instant).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from clove.errors import RevisionUnavailableError
from clove.relationships import (
    Precondition,
    Relationship,
    RelationshipFilter,
    RelationshipUpdate,
)

RelationshipKey = tuple[str, str, str, str, str, str]


def require_revision(revision: int, head: int) -> None:
    """Raise RevisionUnavailableError unless ``revision`` is between 0 and ``head``."""
    if revision < 0 or revision > head:
        message = f"revision {revision} is not available (head is {head})"
        raise RevisionUnavailableError(message)


@dataclass(frozen=True, slots=True, kw_only=True)
class SchemaRecord:
    """Schema text as stored, and the revision that wrote it."""

    text: str
    revision: int


class Reader(Protocol):
    """A consistent view of the store at one revision, judging expiration at one instant.

    A snapshot is the pair: every read of one reader (and of every reader wrapped around
    it) sees the data committed at or before ``revision``, minus what expired by ``now``.
    """

    @property
    def revision(self) -> int: ...

    @property
    def now(self) -> datetime:
        """The instant (UTC) at which this reader judges expiration, fixed when it opened."""
        ...

    def subjects(
        self, resource_type: str, resource_id: str, relation: str
    ) -> Sequence[Relationship]:
        """Every live relationship ``resource_type:resource_id#relation@*``.

        The check hot path: backends should answer from an index, without a full scan.
        """
        ...

    def find(
        self,
        resource_type: str,
        resource_id: str,
        relation: str,
        subject_type: str,
        subject_id: str,
        subject_relation: str,
    ) -> Relationship | None:
        """The live relationship with exactly this key, if any (the direct-check probe)."""
        ...

    def subject_sets(
        self, resource_type: str, resource_id: str, relation: str
    ) -> Sequence[Relationship]:
        """The live relationships of ``subjects(...)`` whose subject is a set (``type:id#rel``)."""
        ...

    def resources(
        self,
        subject_type: str,
        subject_id: str,
        subject_relation: str | None,
        resource_type: str,
        relation: str,
    ) -> Sequence[Relationship]:
        """Every live ``resource_type:*#relation@subject_type:subject_id[#subject_relation]``.

        ``subject_relation`` None matches any subject relation (arrows walk subject objects).
        """
        ...

    def query(
        self,
        filter: RelationshipFilter,
        *,
        after: RelationshipKey | None = None,
        limit: int | None = None,
    ) -> Iterator[Relationship]:
        """Live relationships matching ``filter`` in ``Relationship.key`` order, after ``after``."""
        ...

    def schema(self) -> SchemaRecord | None:
        """The schema in force at this revision, or None if none was ever written."""
        ...


class Store(Protocol):
    """A relationship store with MVCC revisions."""

    @property
    def store_id(self) -> str:
        """A stable identifier of this datastore, carried in consistency tokens."""
        ...

    def head_revision(self) -> int:
        """The newest committed revision (0 for an empty store)."""
        ...

    def reader(self, revision: int, *, now: datetime | None = None) -> Reader:
        """A reader at ``revision`` judging expiration at ``now`` (None: the current time).

        Raises RevisionUnavailableError if the revision is not servable.
        """
        ...

    def write(
        self,
        updates: Sequence[RelationshipUpdate],
        *,
        preconditions: Sequence[Precondition] = (),
        delete_filters: Sequence[RelationshipFilter] = (),
        schema_text: str | None = None,
        now: datetime | None = None,
    ) -> int:
        """Apply everything at one new revision, all or nothing, and return that revision.

        Order inside the write: preconditions are checked against the head (raising
        PreconditionFailedError), then ``delete_filters`` delete what they match, then
        ``updates`` apply in order (CREATE of a live relationship raises
        RelationshipExistsError), then ``schema_text`` (if given) becomes the schema.
        A write that changes nothing still gets a new revision.
        """
        ...

    def delete_expired(self, now: datetime) -> int:
        """Physically remove relationships expired at ``now``; return how many."""
        ...

    def close(self) -> None:
        """Release resources; further use raises StorageError."""
        ...
