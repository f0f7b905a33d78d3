"""OpenFGA's reading of stored data: tuples the current model does not allow are ignored.

OpenFGA keeps every tuple when a new model is written, and evaluates each request against
its model's type restrictions: a tuple whose user type (or userset, wildcard, condition) the
relation no longer allows, or whose relation is gone, takes no part in any answer. SpiceDB
instead refuses a schema change that would orphan data, so this filter applies only to
schemas with OpenFGA semantics.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime

from clove.engine.typesystem import TypeSystem
from clove.relationships import WILDCARD, Relationship, RelationshipFilter
from clove.storage.protocol import Reader, RelationshipKey, SchemaRecord


class TypeRestrictedReader:
    """``base`` seen through the type restrictions of ``types``."""

    __slots__ = ("_base", "_shapes")

    def __init__(self, base: Reader, types: TypeSystem) -> None:
        self._base = base
        self._shapes = types.allowed_shapes

    @property
    def revision(self) -> int:
        return self._base.revision

    @property
    def now(self) -> datetime:
        return self._base.now

    def _allowed(self, rel: Relationship) -> bool:
        shapes = self._shapes.get((rel.resource_type, rel.relation))
        if shapes is None:
            return False
        wildcard = rel.subject_id == WILDCARD
        return (rel.subject_type, rel.subject_relation, wildcard, rel.caveat_name) in shapes

    def _kept(self, found: Sequence[Relationship]) -> Sequence[Relationship]:
        allowed = self._allowed
        if all(allowed(rel) for rel in found):
            return found
        return [rel for rel in found if allowed(rel)]

    def subjects(
        self, resource_type: str, resource_id: str, relation: str
    ) -> Sequence[Relationship]:
        return self._kept(self._base.subjects(resource_type, resource_id, relation))

    def find(
        self,
        resource_type: str,
        resource_id: str,
        relation: str,
        subject_type: str,
        subject_id: str,
        subject_relation: str,
    ) -> Relationship | None:
        found = self._base.find(
            resource_type, resource_id, relation, subject_type, subject_id, subject_relation
        )
        return found if found is not None and self._allowed(found) else None

    def subject_sets(
        self, resource_type: str, resource_id: str, relation: str
    ) -> Sequence[Relationship]:
        return self._kept(self._base.subject_sets(resource_type, resource_id, relation))

    def resources(
        self,
        subject_type: str,
        subject_id: str,
        subject_relation: str | None,
        resource_type: str,
        relation: str,
    ) -> Sequence[Relationship]:
        return self._kept(
            self._base.resources(
                subject_type, subject_id, subject_relation, resource_type, relation
            )
        )

    def query(
        self,
        filter: RelationshipFilter,
        *,
        after: RelationshipKey | None = None,
        limit: int | None = None,
    ) -> Iterator[Relationship]:
        """Every stored relationship, allowed or not: reading data is not evaluating it."""
        return self._base.query(filter, after=after, limit=limit)

    def schema(self) -> SchemaRecord | None:
        return self._base.schema()


__all__ = ["TypeRestrictedReader"]
