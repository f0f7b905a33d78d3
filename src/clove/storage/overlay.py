"""Contextual relationships: a reader that sees extra relationships for one request only.

OpenFGA's contextual tuples (and Clove's ``contextual_relationships=``) let a request add
relationships that are never written: the overlay answers every ``Reader`` question from the
stored data plus these. A contextual relationship with the key of a stored one takes its
place (its caveat and expiration win), so no relationship is ever seen twice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime

from clove.relationships import Relationship, RelationshipFilter
from clove.schema.ir import ELLIPSIS
from clove.storage.protocol import Reader, RelationshipKey, SchemaRecord


class OverlayReader:
    """``base`` plus ``extra`` relationships, as one consistent ``Reader``."""

    __slots__ = ("_base", "_by_key", "_by_resource", "_by_subject", "_shadowed")

    def __init__(self, base: Reader, extra: Iterable[Relationship]) -> None:
        self._base = base
        now = base.now
        # Every extra key hides the stored relationship with that key; only live extras show.
        self._shadowed: set[RelationshipKey] = set()
        self._by_key: dict[RelationshipKey, Relationship] = {}
        for rel in extra:
            self._shadowed.add(rel.key)
            if rel.expired(now):
                self._by_key.pop(rel.key, None)
            else:
                self._by_key[rel.key] = rel
        self._by_resource: dict[tuple[str, str, str], list[Relationship]] = defaultdict(list)
        self._by_subject: dict[tuple[str, str, str, str], list[Relationship]] = defaultdict(list)
        for rel in self._by_key.values():
            self._by_resource[rel.resource_type, rel.resource_id, rel.relation].append(rel)
            self._by_subject[
                rel.subject_type, rel.subject_id, rel.resource_type, rel.relation
            ].append(rel)

    @property
    def revision(self) -> int:
        return self._base.revision

    @property
    def now(self) -> datetime:
        return self._base.now

    def _merge(
        self, stored: Sequence[Relationship], extra: list[Relationship]
    ) -> list[Relationship]:
        shadowed = self._shadowed
        merged = [rel for rel in stored if rel.key not in shadowed]
        merged.extend(extra)
        return merged

    def subjects(
        self, resource_type: str, resource_id: str, relation: str
    ) -> Sequence[Relationship]:
        stored = self._base.subjects(resource_type, resource_id, relation)
        extra = self._by_resource.get((resource_type, resource_id, relation), [])
        return self._merge(stored, extra)

    def find(
        self,
        resource_type: str,
        resource_id: str,
        relation: str,
        subject_type: str,
        subject_id: str,
        subject_relation: str,
    ) -> Relationship | None:
        key = (resource_type, resource_id, relation, subject_type, subject_id, subject_relation)
        if key in self._shadowed:
            return self._by_key.get(key)
        return self._base.find(*key)

    def subject_sets(
        self, resource_type: str, resource_id: str, relation: str
    ) -> Sequence[Relationship]:
        stored = self._base.subject_sets(resource_type, resource_id, relation)
        extra = self._by_resource.get((resource_type, resource_id, relation), [])
        return self._merge(stored, [rel for rel in extra if rel.subject_relation != ELLIPSIS])

    def resources(
        self,
        subject_type: str,
        subject_id: str,
        subject_relation: str | None,
        resource_type: str,
        relation: str,
    ) -> Sequence[Relationship]:
        stored = self._base.resources(
            subject_type, subject_id, subject_relation, resource_type, relation
        )
        extra = self._by_subject.get((subject_type, subject_id, resource_type, relation), [])
        if subject_relation is not None:
            extra = [rel for rel in extra if rel.subject_relation == subject_relation]
        return self._merge(stored, extra)

    def query(
        self,
        filter: RelationshipFilter,
        *,
        after: RelationshipKey | None = None,
        limit: int | None = None,
    ) -> Iterator[Relationship]:
        extra = sorted(
            (
                rel
                for key, rel in self._by_key.items()
                if filter.matches(rel) and (after is None or key > after)
            ),
            key=lambda rel: rel.key,
        )
        if not extra and not self._shadowed:
            return self._base.query(filter, after=after, limit=limit)
        return _merged_in_order(
            # At most len(shadowed) stored relationships are hidden by contextual ones.
            self._base.query(
                filter, after=after, limit=None if limit is None else limit + len(self._shadowed)
            ),
            extra,
            self._shadowed,
            limit,
        )

    def schema(self) -> SchemaRecord | None:
        return self._base.schema()


def _merged_in_order(
    stored: Iterator[Relationship],
    extra: list[Relationship],
    replaced: set[RelationshipKey],
    limit: int | None,
) -> Iterator[Relationship]:
    """Stored and extra relationships in key order, stored ones shadowed by an extra one."""
    pending = iter(extra)
    upcoming = next(pending, None)
    emitted = 0
    for rel in stored:
        while upcoming is not None and upcoming.key < rel.key:
            if limit is not None and emitted >= limit:
                return
            yield upcoming
            emitted += 1
            upcoming = next(pending, None)
        if rel.key in replaced:
            continue
        if limit is not None and emitted >= limit:
            return
        yield rel
        emitted += 1
    while upcoming is not None:
        if limit is not None and emitted >= limit:
            return
        yield upcoming
        emitted += 1
        upcoming = next(pending, None)


__all__ = ["OverlayReader"]
