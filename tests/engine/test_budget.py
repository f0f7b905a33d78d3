"""A request's budget stops its work as it runs: deadlines, cancellation and step allowances.

Work is counted in reads, never timed: once a limit passes, a walk may do at most a few more
steps (the budget is checked every ``CHECK_EVERY`` of them), whatever is left of the graph.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

import clove
from clove.engine.budget import CHECK_EVERY, Budget
from clove.engine.check import check
from clove.engine.context import CaveatRunner
from clove.engine.resources import lookup_resources
from clove.engine.subjects import lookup_subjects
from clove.engine.typesystem import TypeSystem
from clove.errors import DeadlineExceededError, RequestCancelledError, ResourceExhaustedError
from clove.relationships import Operation, RelationshipUpdate, SubjectRef, parse_relationship
from clove.schema.spicedb import parse_schema
from clove.storage.memory import MemoryStore
from clove.storage.protocol import Reader

SCHEMA = """
definition user {}
definition group { relation member: user | group#member }
definition document {
    relation viewer: user | group#member
    permission view = viewer
}
"""
GROUPS = 3000
# Reads one evaluation step may make: the direct probe, the wildcard probe, the subject sets.
READS_PER_STEP = 3


def _wide() -> tuple[TypeSystem, Reader]:
    """A document whose viewers are 3,000 groups of 1 empty group each: 6,000 questions;
    and 3,000 documents whose viewers are one group holding ``user:u``."""
    texts = [f"document:wide#viewer@group:g{n}#member" for n in range(GROUPS)]
    texts += [f"group:g{n}#member@group:h{n}#member" for n in range(GROUPS)]
    texts += ["document:wide#viewer@user:nobody-else", "group:shared#member@user:u"]
    texts += [f"document:d{n}#viewer@group:shared#member" for n in range(GROUPS)]
    store = MemoryStore()
    store.write(
        [
            RelationshipUpdate(operation=Operation.TOUCH, relationship=parse_relationship(t))
            for t in texts
        ]
    )
    return TypeSystem(parse_schema(SCHEMA)), store.reader(store.head_revision())


class TrippingReader:
    """Counts reads; after ``trip_at`` of them, calls ``trip`` once (cancel, or move a clock)."""

    def __init__(self, inner: Reader, trip_at: int, trip: Callable[[], None]) -> None:
        self._inner = inner
        self._trip_at = trip_at
        self._trip = trip
        self.reads = 0

    def __getattr__(self, name: str) -> object:
        found = getattr(self._inner, name)
        if not callable(found):
            return found

        def counted(*args: object, **kwargs: object) -> object:
            self.reads += 1
            if self.reads == self._trip_at:
                self._trip()
            return found(*args, **kwargs)

        return counted


QUESTIONS: dict[str, Callable[[TypeSystem, Reader, Budget], object]] = {
    "check": lambda types, reader, budget: check(
        types, reader, "document", "wide", "view", SubjectRef(type="user", id="u"),
        CaveatRunner(types, None), budget,
    ),
    "lookup_subjects": lambda types, reader, budget: lookup_subjects(
        types, reader, "document", "wide", "view", "user", "...", CaveatRunner(types, None), budget
    ),
    "lookup_resources": lambda types, reader, budget: lookup_resources(
        types, reader, "document", "view", SubjectRef(type="user", id="u"),
        CaveatRunner(types, None), budget=budget,
    ),
}  # fmt: skip


@pytest.mark.parametrize("question", QUESTIONS)
def test_cancellation_stops_the_walk_within_a_few_steps(question: str) -> None:
    types, inner = _wide()
    whole = Budget()
    QUESTIONS[question](types, inner, whole)
    cancelled = threading.Event()
    budget = Budget(cancelled=cancelled)
    spent_then: list[int] = []

    def cancel() -> None:
        spent_then.append(budget.spent)
        cancelled.set()

    reader = TrippingReader(inner, 2, cancel)
    with pytest.raises(RequestCancelledError, match="cancelled"):
        QUESTIONS[question](types, reader, budget)  # type: ignore[arg-type]
    assert whole.spent > 2000  # the whole walk
    assert budget.spent <= spent_then[0] + CHECK_EVERY


@pytest.mark.parametrize("question", QUESTIONS)
def test_a_deadline_stops_the_walk_within_a_few_steps(question: str) -> None:
    types, inner = _wide()
    now = [0.0]
    budget = Budget(timeout=5.0, clock=lambda: now[0])
    spent_then: list[int] = []

    def pass_the_deadline() -> None:
        spent_then.append(budget.spent)
        now[0] = 10.0

    reader = TrippingReader(inner, 2, pass_the_deadline)
    with pytest.raises(DeadlineExceededError, match="deadline"):
        QUESTIONS[question](types, reader, budget)  # type: ignore[arg-type]
    assert budget.spent <= spent_then[0] + CHECK_EVERY


def test_a_step_allowance_stops_the_walk() -> None:
    types, inner = _wide()
    reader = TrippingReader(inner, 0, lambda: None)
    budget = Budget(max_steps=100)
    with pytest.raises(ResourceExhaustedError, match="more than 100 evaluation steps"):
        QUESTIONS["check"](types, reader, budget)  # type: ignore[arg-type]
    assert budget.spent == 101  # exact: the step past the allowance is the last
    with pytest.raises(clove.InvalidInputError, match="max_steps must be"):
        Budget(max_steps=-1)


def test_every_question_of_the_database_takes_a_timeout_or_a_budget() -> None:
    db = clove.open()
    db.write_schema(SCHEMA)
    db.write_relationships(["document:d#viewer@group:g#member", "group:g#member@user:u"])
    calls: dict[str, Callable[..., object]] = {
        "check": lambda **kw: db.check("document:d", "view", "user:u", **kw),
        "check_bulk": lambda **kw: db.check_bulk([("document:d", "view", "user:u")], **kw),
        "lookup_resources": lambda **kw: db.lookup_resources("document", "view", "user:u", **kw),
        "lookup_subjects": lambda **kw: db.lookup_subjects("document:d", "view", "user", **kw),
        "expand": lambda **kw: db.expand("document:d", "view", **kw),
    }
    for name, call in calls.items():
        call(timeout=30)
        with pytest.raises(DeadlineExceededError):
            call(timeout=0)
        cancelled = threading.Event()
        cancelled.set()
        with pytest.raises(RequestCancelledError):
            call(budget=Budget(cancelled=cancelled))
        budget = Budget()
        call(budget=budget)
        assert budget.spent > 0, name
        with pytest.raises(clove.InvalidInputError, match="not both"):
            call(timeout=1, budget=Budget())
        for bad in (-1, float("nan"), "1", True):
            with pytest.raises(clove.InvalidInputError, match="timeout must be"):
                call(timeout=bad)
