"""Expand: the userset tree of ``resource#relation``, one level of subject sets deep.

As in Zanzibar and SpiceDB, subject sets found in relations are leaves (expand them with
another call); computed relations and arrows on the same question are expanded in place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from clove.engine.budget import Budget
from clove.engine.typesystem import TypeSystem
from clove.errors import CloveInternalError
from clove.relationships import format_relationship
from clove.schema import ir
from clove.storage.protocol import Reader

Operation = Literal["union", "intersection", "exclusion", "leaf"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ExpandNode:
    """One node of an expansion tree.

    ``operation`` "leaf" lists ``subjects`` (``type:id``, ``type:id#relation``, ``type:*``,
    each with ``[caveat]`` when conditional); other nodes combine ``children``.
    """

    object: str
    relation: str
    operation: Operation
    children: tuple[ExpandNode, ...] = ()
    subjects: tuple[str, ...] = ()


def expand(
    types: TypeSystem,
    reader: Reader,
    type_name: str,
    object_id: str,
    name: str,
    budget: Budget | None = None,
) -> ExpandNode:
    budget = budget or Budget()
    tree = _Expander(types, reader, budget).member(type_name, object_id, name)
    budget.settle()
    return tree


class _Expander:
    def __init__(self, types: TypeSystem, reader: Reader, budget: Budget) -> None:
        self._types = types
        self._reader = reader
        self._budget = budget
        self._path: set[tuple[str, str, str]] = set()

    def member(self, type_name: str, object_id: str, name: str) -> ExpandNode:
        obj = f"{type_name}:{object_id}"
        member = self._types.member(type_name, name)
        key = (type_name, object_id, name)
        if member is None or key in self._path:
            return ExpandNode(object=obj, relation=name, operation="leaf")
        self._budget.spend()
        self._path.add(key)
        try:
            if isinstance(member, ir.Permission):
                return self._expression(type_name, object_id, name, member.expression)
            if member.rewrite is not None:
                return self._expression(type_name, object_id, name, member.rewrite)
            return self._stored(type_name, object_id, name)
        finally:
            self._path.discard(key)

    def _stored(self, type_name: str, object_id: str, name: str) -> ExpandNode:
        subjects = tuple(
            _subject_text(rel) for rel in self._reader.subjects(type_name, object_id, name)
        )
        return ExpandNode(
            object=f"{type_name}:{object_id}", relation=name, operation="leaf", subjects=subjects
        )

    def _expression(
        self, type_name: str, object_id: str, name: str, expression: ir.Expression
    ) -> ExpandNode:
        obj = f"{type_name}:{object_id}"
        match expression:
            case ir.RelationRef(name=ref):
                return self.member(type_name, object_id, ref)
            case ir.This():
                return self._stored(type_name, object_id, name)
            case ir.Union(children=children):
                nodes = tuple(self._expression(type_name, object_id, name, c) for c in children)
                return ExpandNode(object=obj, relation=name, operation="union", children=nodes)
            case ir.Intersection(children=children):
                nodes = tuple(self._expression(type_name, object_id, name, c) for c in children)
                return ExpandNode(
                    object=obj, relation=name, operation="intersection", children=nodes
                )
            case ir.Exclusion(base=base, subtracted=subtracted):
                nodes = (
                    self._expression(type_name, object_id, name, base),
                    self._expression(type_name, object_id, name, subtracted),
                )
                return ExpandNode(object=obj, relation=name, operation="exclusion", children=nodes)
            case ir.Arrow(tupleset=tupleset, target=target, function=function):
                nodes = tuple(
                    self.member(rel.subject_type, rel.subject_id, target)
                    for rel in self._reader.subjects(type_name, object_id, tupleset)
                )
                operation: Operation = "intersection" if function == "all" else "union"
                return ExpandNode(object=obj, relation=name, operation=operation, children=nodes)
            case ir.Nil():
                return ExpandNode(object=obj, relation=name, operation="leaf")
            case _:
                raise CloveInternalError(f"unknown expression node {expression!r}")


def _subject_text(rel: object) -> str:
    text = format_relationship(rel)  # type: ignore[arg-type]
    return text.split("@", 1)[1]
