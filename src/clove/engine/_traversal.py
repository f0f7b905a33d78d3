"""The depth-first walk that check and lookup_subjects share: a fixed point per cycle.

Questions are ``(type, object id, relation or permission)``; each is answered once per
request and memoised. Cycles in the data (groups that contain each other) make questions
depend on themselves. The walk finds them as it goes, as Tarjan's algorithm finds strongly
connected components: a question asked again while it is still open (on the path, or in a
component not yet finished) gets its *provisional* value, and the reader is noted. When the
first question of a component finishes, the component is solved to a fixed point with a
worklist: a question is evaluated again only when a value it read has changed since. Values
only rise, so each question is evaluated a bounded number of times (a few per question, and
per caveat parameter), and evaluation stays polynomial in what it reads, whatever the graph.

Provisional values start at the bottom of the walk's semantics: "no" (the least fixed point,
SpiceDB's answer for a cycle of unions), or "undecided" (``_unknown``) where a cycle makes a
question undecided rather than false (OpenFGA). A component in which a question depends on
itself through an exclusion (``a - b`` with ``b`` reaching ``a``) has no least fixed point;
it is solved from "undecided" instead (Kripke-Kleene), and what stays undecided is reported
as such by the caller.

Past ``SHALLOW_DEPTH`` the walk raises ``TooDeep`` and its caller runs it again on a deep
stack (see ``_deep``). Every evaluation is charged to the request's ``Budget`` (which stops
the walk past its deadline) and counted in ``steps``, so tests can bound the work on any graph.
"""

from __future__ import annotations

from collections import deque
from typing import Generic, TypeVar

from clove.engine._deep import SHALLOW_DEPTH, TooDeep
from clove.engine.budget import Budget
from clove.engine.typesystem import TypeSystem
from clove.errors import MaxDepthExceededError, ResourceExhaustedError
from clove.schema import ir

R = TypeVar("R")
Question = tuple[str, str, str]


class _Open(Generic[R]):
    """A question whose component is not finished: its provisional value and where it is."""

    __slots__ = ("depth", "index", "member", "value", "version")

    def __init__(
        self, value: R, index: int, depth: int, member: ir.Relation | ir.Permission
    ) -> None:
        self.value = value
        self.version = 0  # bumped whenever ``value`` changes
        self.index = index  # discovery order, as in Tarjan's algorithm
        self.depth = depth  # nested steps from the request's question
        self.member = member


class Traversal(Generic[R]):
    """Memoised evaluation to a fixed point; subclasses say how expressions combine."""

    __slots__ = (
        "_budget",
        "_deep",
        "_depth",
        "_frame",
        "_low",
        "_max_depth",
        "_memo",
        "_negative",
        "_next_index",
        "_open",
        "_readers",
        "_stack",
        "_tainted",
        "_types",
        "steps",
    )

    def __init__(self, types: TypeSystem, budget: Budget, *, deep: bool) -> None:
        self._types = types
        self._budget = budget
        self._memo: dict[Question, R] = {}
        self._open: dict[Question, _Open[R]] = {}
        self._stack: list[Question] = []  # open questions, in discovery order
        # Who read an open question's provisional value, and which version of it they saw.
        self._readers: dict[Question, dict[Question, int]] = {}
        self._next_index = 0
        # The state of the question being evaluated (saved and restored around each one).
        self._frame: Question | None = None
        self._low = 0  # the lowest index of an open question it read (Tarjan's low-link)
        self._negative = False  # inside the subtracted side of an exclusion
        self._tainted = False  # its component reads one of its own questions negatively
        self._depth = 0
        self._deep = deep
        self.steps = 0
        # Past this depth ``_too_deep`` decides: a resolution limit, or the deep stack.
        limit = types.resolution_limit
        self._max_depth = SHALLOW_DEPTH if limit is None else min(SHALLOW_DEPTH, limit - 1)

    # --- what subclasses provide ---------------------------------------------------------

    def _empty(self) -> R:
        """The answer about something the schema lacks; the default start of a cycle."""
        raise NotImplementedError

    def _bottom(self) -> R:
        """Where a question's provisional value starts while a cycle runs through it."""
        return self._empty()

    def _unknown(self) -> R | None:
        """ "Undecided", where a cycle through an exclusion starts; None: the walk has none."""
        return None

    def _relation(self, type_name: str, object_id: str, relation: str) -> R:
        raise NotImplementedError

    def _expression(
        self, type_name: str, object_id: str, name: str, expression: ir.Expression
    ) -> R:
        """Evaluate ``expression`` on the object; ``This`` in it means ``name``'s stored data."""
        raise NotImplementedError

    # --- the walk ------------------------------------------------------------------------

    def _negated(self) -> bool:
        """Enter the subtracted side of an exclusion; returns what to restore after it."""
        outer = self._negative
        self._negative = not outer
        return outer

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

    def visit(self, type_name: str, object_id: str, name: str) -> R:
        key = (type_name, object_id, name)
        memo = self._memo.get(key)
        if memo is not None:
            return memo
        node = self._open.get(key)
        if node is None:
            member = self._types.member(type_name, name)
            if member is None:
                return self._empty()
            node = self._start(key, member)
            if key not in self._open:
                return node.value
        # An open question: its provisional value, noted so that a change reaches the reader.
        self._low = min(self._low, node.index)
        if self._negative:
            self._tainted = True
        if self._frame is not None:
            self._readers.setdefault(key, {})[self._frame] = node.version
        return node.value

    def _start(self, key: Question, member: ir.Relation | ir.Permission) -> _Open[R]:
        """Evaluate a question seen for the first time; solve its component if it closes one."""
        depth = self._depth
        if depth > self._max_depth:
            self._too_deep(depth)
        index = self._next_index
        self._next_index = index + 1
        node = _Open(self._bottom(), index, depth, member)
        self._open[key] = node
        position = len(self._stack)
        self._stack.append(key)
        outer = (self._frame, self._low, self._negative, self._tainted, self._depth)
        try:
            self._evaluate(key, node)
            low, tainted = self._low, self._tainted
            if low == index:
                if self._solve(position, tainted):
                    low, tainted = outer[1], outer[3]
                else:  # it grew to reach an older question: that one solves it
                    low = min(outer[1], self._low)
                    tainted = outer[3] or tainted or self._tainted
            else:
                low, tainted = min(outer[1], low), outer[3] or tainted
        except BaseException:
            self._abandon(position)
            raise
        finally:
            self._frame, _, self._negative, _, self._depth = outer
        self._low, self._tainted = low, tainted
        return node

    def _evaluate(self, key: Question, node: _Open[R]) -> None:
        """(Re-)evaluate an open question from the current values of what it reads."""
        self._frame = key
        self._low = node.index
        self._negative = False
        self._tainted = False
        self._depth = node.depth + 1
        self.steps += 1
        self._budget.spend()
        type_name, object_id, name = key
        member = node.member
        if isinstance(member, ir.Permission):
            value = self._expression(type_name, object_id, name, member.expression)
        elif member.rewrite is None:
            value = self._relation(type_name, object_id, name)
        else:
            value = self._expression(type_name, object_id, name, member.rewrite)
        if value != node.value:
            node.value = value
            node.version += 1

    def _solve(self, position: int, tainted: bool) -> bool:
        """Bring the component at ``stack[position:]`` to its fixed point and memoise it.

        False when re-evaluation made it read a question older than its first (the component
        is then part of a larger one, left open for that one to solve).
        """
        stack, opened = self._stack, self._open
        first = opened[stack[position]]
        restarted = tainted
        if tainted and self._restart(position):
            queue = deque(stack[position:])
        else:
            queue = deque(self._stale(position))
        queued = set(queue)
        while queue:
            key = queue.popleft()
            queued.discard(key)
            node = opened[key]
            before = node.version
            self._evaluate(key, node)
            if self._low < first.index:
                return False
            if self._tainted and not restarted:
                restarted = True
                if self._restart(position):
                    queue = deque(stack[position:])
                    queued = set(queue)
                    continue
            if node.version != before:
                for reader, seen in self._readers.get(key, {}).items():
                    if seen != node.version and reader not in queued and reader in opened:
                        queue.append(reader)
                        queued.add(reader)
        for key in stack[position:]:
            self._memo[key] = opened.pop(key).value
            self._readers.pop(key, None)
        del stack[position:]
        return True

    def _restart(self, position: int) -> bool:
        """Start the component again from "undecided"; False when the walk has no such value."""
        unknown = self._unknown()
        if unknown is None or unknown == self._bottom():
            return False
        for key in self._stack[position:]:
            node = self._open[key]
            node.value = unknown
            node.version += 1
        return True

    def _stale(self, position: int) -> list[Question]:
        """The component's questions that read a value that has changed since."""
        opened = self._open
        stale: dict[Question, None] = {}
        for key in self._stack[position:]:
            version = opened[key].version
            for reader, seen in self._readers.get(key, {}).items():
                if seen != version and reader in opened:
                    stale[reader] = None
        return list(stale)

    def _abandon(self, position: int) -> None:
        """Forget the open questions from ``position`` on (an error is unwinding the walk)."""
        for key in self._stack[position:]:
            self._open.pop(key, None)
            self._readers.pop(key, None)
        del self._stack[position:]
