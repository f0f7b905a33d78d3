"""Which relations of a model can ever have a member: OpenFGA's entry-point rule.

A relation has an entry point when some stored tuple can make a subject a member of it: a
direct type restriction to a plain type or wildcard, a ``type#rel`` restriction or a
``X from Y`` whose relation has one, a computed relation that has one, a union with one child
that has one, an intersection or a ``but not`` whose every operand has one. OpenFGA rejects a
model with a relation that has none (``define a: b`` with ``define b: a``).

OpenFGA decides this per relation by a depth-first search that never revisits a relation on its
path. A finite, non-repeating derivation exists exactly when the relation is in the least fixed
point of the rules above, which is computed here with a work list in time linear in the size of
the model, and without recursion along chains of relations (a model may have thousands).
"""

from __future__ import annotations

from collections import defaultdict

from clove.errors import CloveInternalError
from clove.schema.ir import (
    ELLIPSIS,
    Arrow,
    Exclusion,
    Expression,
    Intersection,
    Nil,
    Permission,
    Relation,
    RelationRef,
    This,
    Union,
)

Member = Relation | Permission
Key = tuple[str, str]  # (type, relation)

# Beyond this many computed relations in a row, a failing chain is reported as a loop.
_MAX_CHAIN = 200


def rewrite_of(member: Member) -> Expression:
    """The whole rewrite of a relation, with ``This`` for its directly assigned tuples."""
    if isinstance(member, Relation):
        return member.rewrite if member.rewrite is not None else This(span=member.span)
    return member.expression


class EntryPoints:
    """The entry-point analysis of a model whose references are known to resolve."""

    def __init__(self, types: dict[str, dict[str, Member]]) -> None:
        self._types = types
        self._satisfied: set[Key] = set()
        dependents: defaultdict[Key, set[Key]] = defaultdict(set)
        for type_name, members in types.items():
            for member in members.values():
                for needed in self._references(type_name, member, rewrite_of(member)):
                    dependents[needed].add((type_name, member.name))
        pending = [(type_name, name) for type_name, members in types.items() for name in members]
        while pending:
            key = pending.pop()
            if key in self._satisfied:
                continue
            member = types[key[0]][key[1]]
            if self._holds(key[0], member, rewrite_of(member)):
                self._satisfied.add(key)
                pending.extend(dependents.get(key, ()))

    def has_entrypoint(self, type_name: str, relation: str) -> bool:
        return (type_name, relation) in self._satisfied

    def is_loop(self, type_name: str, member: Member) -> bool:
        """Whether OpenFGA calls a relation without entry point a "potential loop".

        It does when the failing part of the rewrite reaches, through computed relations of
        the same type, a relation already on the path.
        """
        return self._loop(type_name, member, rewrite_of(member), (member.name,))

    # --- the rules -----------------------------------------------------------------------

    def _holds(self, type_name: str, member: Member, expression: Expression) -> bool:
        satisfied = self._satisfied
        match expression:
            case This():
                assert isinstance(member, Relation)
                return any(
                    subject.relation == ELLIPSIS or (subject.type, subject.relation) in satisfied
                    for subject in member.allowed
                )
            case RelationRef(name=name):
                return (type_name, name) in satisfied
            case Arrow(tupleset=tupleset, target=target):
                tupleset_relation = self._types[type_name][tupleset]
                assert isinstance(tupleset_relation, Relation)
                return any(
                    (subject.type, target) in satisfied for subject in tupleset_relation.allowed
                )
            case Union(children=children):
                return any(self._holds(type_name, member, child) for child in children)
            case Intersection(children=children):
                return all(self._holds(type_name, member, child) for child in children)
            case Exclusion(base=base, subtracted=subtracted):
                return self._holds(type_name, member, base) and self._holds(
                    type_name, member, subtracted
                )
            case Nil():
                return False
            case _:
                raise CloveInternalError(f"unknown expression {expression!r}")

    def _references(self, type_name: str, member: Member, expression: Expression) -> list[Key]:
        """The relations whose entry points ``expression`` depends on."""
        match expression:
            case This():
                assert isinstance(member, Relation)
                return [
                    (subject.type, subject.relation)
                    for subject in member.allowed
                    if subject.relation != ELLIPSIS
                ]
            case RelationRef(name=name):
                return [(type_name, name)]
            case Arrow(tupleset=tupleset, target=target):
                tupleset_relation = self._types[type_name][tupleset]
                assert isinstance(tupleset_relation, Relation)
                return [
                    (subject.type, target)
                    for subject in tupleset_relation.allowed
                    if target in self._types.get(subject.type, {})
                ]
            case Union(children=children) | Intersection(children=children):
                return [
                    key for child in children for key in self._references(type_name, member, child)
                ]
            case Exclusion(base=base, subtracted=subtracted):
                return self._references(type_name, member, base) + self._references(
                    type_name, member, subtracted
                )
            case Nil():
                return []
            case _:
                raise CloveInternalError(f"unknown expression {expression!r}")

    def _loop(
        self, type_name: str, member: Member, expression: Expression, path: tuple[str, ...]
    ) -> bool:
        match expression:
            case RelationRef(name=name):
                if name in path or len(path) > _MAX_CHAIN:
                    return True
                target = self._types[type_name][name]
                return self._loop(type_name, target, rewrite_of(target), (*path, name))
            case Union(children=children):
                return any(self._loop(type_name, member, child, path) for child in children)
            case Intersection(children=children):
                for child in children:
                    if not self._holds(type_name, member, child):
                        return self._loop(type_name, member, child, path)
                return False
            case Exclusion(base=base, subtracted=subtracted):
                failing = base if not self._holds(type_name, member, base) else subtracted
                return self._loop(type_name, member, failing, path)
            case _:
                return False
