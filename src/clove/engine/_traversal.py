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
from clove.errors import MaxDepthExceededError, ResourceExhaustedError
from clove.schema import ir

R = TypeVar("R")
Question = tuple[str, str, str]

_NO_CUT = 1 << 30


class Traversal(Generic[R]):
    """Memoised, cycle-safe evaluation; subclasses say how relations and expressions combine."""

    __slots__ = ("_cut", "_deep", "_max_depth", "_memo", "_path", "_types")

    def __init__(self, types: TypeSystem, *, deep: bool) -> None:
        self._types = types
        self._memo: dict[Question, R] = {}
        self._path: dict[Question, int] = {}
        self._cut = _NO_CUT
        self._deep = deep
        # Past this depth ``_too_deep`` decides: a resolution limit, or the deep stack.
        limit = types.resolution_limit
        self._max_depth = SHALLOW_DEPTH if limit is None else min(SHALLOW_DEPTH, limit - 1)

    def _empty(self) -> R:
        """The answer about something the schema lacks (and, by default, for a cycle)."""
        raise NotImplementedError

    def _cycle(self) -> R:
        """The answer for a question cut because it is already being asked on the path."""
        return self._empty()

    def _too_deep(self, depth: int) -> None:
        limit = self._types.resolution_limit
        if limit is not None and depth >= limit:
            if limit == self._types.max_depth:
                raise MaxDepthExceededError(limit)
            raise ResourceExhaustedError(
                f"resolution too complex: the question needs more than {limit} nested steps"
            )
        if depth > SHALLOW_DEPTH and not self._deep:
            raise TooDeep

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
            return self._cycle()
        member = self._types.member(type_name, name)
        if member is None:
            return self._empty()
        depth = len(self._path)
        if depth > self._max_depth:
            self._too_deep(depth)
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
