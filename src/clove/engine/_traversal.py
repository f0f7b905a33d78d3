"""The depth-first walk that check and lookup_subjects share.

Questions are ``(type, object id, relation or permission)``. Cycles in the data (groups that
contain each other) are cut on the current path, which yields the least fixed point; an
answer is memoised for the rest of the request only when it did not depend on a cut above
it, so a shared sub-question is answered once and never wrongly. Past ``SHALLOW_DEPTH`` the
walk raises ``TooDeep`` and its caller runs it again on a deep stack (see ``_deep``).
"""

from __future__ import annotations

from typing import Generic, TypeVar

from clove.engine._deep import SHALLOW_DEPTH, TooDeep
from clove.engine.typesystem import TypeSystem
from clove.schema import ir

R = TypeVar("R")
Question = tuple[str, str, str]

_NO_CUT = 1 << 30


class Traversal(Generic[R]):
    """Memoised, cycle-safe evaluation; subclasses say how relations and expressions combine."""

    __slots__ = ("_cut", "_deep", "_memo", "_path", "_types")

    def __init__(self, types: TypeSystem, *, deep: bool) -> None:
        self._types = types
        self._memo: dict[Question, R] = {}
        self._path: dict[Question, int] = {}
        self._cut = _NO_CUT
        self._deep = deep

    def _empty(self) -> R:
        """The answer for a question cut by a cycle, or about something the schema lacks."""
        raise NotImplementedError

    def _relation(self, type_name: str, object_id: str, relation: str) -> R:
        raise NotImplementedError

    def _expression(
        self, type_name: str, object_id: str, name: str, expression: ir.Expression
    ) -> R:
        """Evaluate ``expression`` on the object; ``This`` in it means ``name``'s stored data."""
        raise NotImplementedError

    def visit(self, type_name: str, object_id: str, name: str) -> R:
        key = (type_name, object_id, name)
        memo = self._memo.get(key)
        if memo is not None:
            return memo
        depth = self._path.get(key)
        if depth is not None:
            self._cut = min(self._cut, depth)
            return self._empty()
        member = self._types.member(type_name, name)
        if member is None:
            return self._empty()
        depth = len(self._path)
        if depth > SHALLOW_DEPTH and not self._deep:
            raise TooDeep
        self._path[key] = depth
        outer_cut = self._cut
        self._cut = _NO_CUT
        try:
            if isinstance(member, ir.Permission):
                found = self._expression(type_name, object_id, name, member.expression)
            elif member.rewrite is None:
                found = self._relation(type_name, object_id, name)
            else:
                found = self._expression(type_name, object_id, name, member.rewrite)
        finally:
            del self._path[key]
        cut = self._cut
        if cut >= depth:
            self._memo[key] = found
            cut = _NO_CUT
        self._cut = min(outer_cut, cut)
        return found
