"""Cyclic data: answers are the fixed point a plain solver finds, at a cost bounded by counting.

Groups nest in cycles and documents inherit along cyclic ``parent`` chains. A reference solver
iterates every equation of the schema over every object until nothing changes (no walk, no
memo, no cut), and check, lookup_resources and lookup_subjects must agree with it on random
graphs. The work they do is counted (evaluation steps and reads), never timed: on a ladder of
groups with a back edge, which made the old path-cut walk double its work per layer, the
count must grow linearly with the ladder.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import product

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clove.engine.check import Checker, check
from clove.engine.context import CaveatRunner
from clove.engine.resources import lookup_resources
from clove.engine.subjects import SubjectFinder, lookup_subjects
from clove.engine.typesystem import TypeSystem
from clove.errors import CycleError
from clove.relationships import Operation, RelationshipUpdate, SubjectRef, parse_relationship
from clove.schema.spicedb import parse_schema
from clove.storage.memory import MemoryStore
from clove.storage.protocol import Reader

SCHEMA = """
definition user {}
definition group {
    relation member: user | group#member
}
definition document {
    relation parent: document
    relation viewer: user | group#member
    relation editor: user | group#member
    relation banned: user | group#member
    permission view = viewer + editor + parent->view
    permission edit = editor & view
    permission read = view - banned
    permission inherited = parent->read
}
"""
PERMISSIONS = ("view", "edit", "read", "inherited")
USERS = ("u0", "u1", "u2")
GROUPS = tuple(f"g{n}" for n in range(5))
DOCUMENTS = tuple(f"d{n}" for n in range(5))


class CountingReader:
    """A reader that counts every read it answers, and fails past ``limit`` of them."""

    def __init__(self, inner: Reader, limit: int = 1 << 62) -> None:
        self._inner = inner
        self._limit = limit
        self.reads = 0

    def __getattr__(self, name: str) -> object:
        found = getattr(self._inner, name)
        if not callable(found):
            return found

        def counted(*args: object, **kwargs: object) -> object:
            self.reads += 1
            assert self.reads <= self._limit, f"more than {self._limit} reads"
            return found(*args, **kwargs)

        return counted


def _store(relationships: Sequence[str]) -> tuple[TypeSystem, Reader]:
    types = TypeSystem(parse_schema(SCHEMA))
    store = MemoryStore()
    store.write(
        [
            RelationshipUpdate(operation=Operation.TOUCH, relationship=parse_relationship(text))
            for text in relationships
        ]
    )
    return types, store.reader(store.head_revision())


# --- the reference: every equation, over every object, until nothing changes -------------


def _reference(relationships: Sequence[str]) -> dict[tuple[str, str, str], bool]:
    """``(object, name, user) -> member?``: the least fixed point, by plain iteration."""
    rels = [parse_relationship(text) for text in relationships]

    def stored(resource: str, relation: str) -> list[tuple[str, str, str]]:
        kind, _, rid = resource.partition(":")
        return [
            (r.subject_type, r.subject_id, r.subject_relation)
            for r in rels
            if r.resource_type == kind and r.resource_id == rid and r.relation == relation
        ]

    value: dict[tuple[str, str, str], bool] = {}

    def get(obj: str, name: str, user: str) -> bool:
        return value.get((obj, name, user), False)

    def direct(obj: str, relation: str, user: str) -> bool:
        return any(
            (kind == "user" and sid == user)
            or (kind == "group" and get(f"group:{sid}", "member", user))
            for kind, sid, _ in stored(obj, relation)
        )

    def parents(document: str) -> list[str]:
        return [f"document:{sid}" for _, sid, _ in stored(document, "parent")]

    def lower(document: str, user: str) -> dict[str, bool]:
        view = (
            direct(document, "viewer", user)
            or direct(document, "editor", user)
            or any(get(p, "view", user) for p in parents(document))
        )
        return {
            "viewer": direct(document, "viewer", user),
            "editor": direct(document, "editor", user),
            "banned": direct(document, "banned", user),
            "view": view,
            "edit": direct(document, "editor", user) and get(document, "view", user),
        }

    # Stratum 1 (unions and intersections): iterate to the least fixed point.
    changed = True
    while changed:
        changed = False
        for user in USERS:
            for group in GROUPS:
                key = (f"group:{group}", "member", user)
                new = direct(f"group:{group}", "member", user)
                if new and not value.get(key, False):
                    value[key], changed = True, True
            for document in DOCUMENTS:
                obj = f"document:{document}"
                for name, new in lower(obj, user).items():
                    if new and not value.get((obj, name, user), False):
                        value[obj, name, user], changed = True, True
    # Stratum 2: the exclusion over settled values, then the arrow over it.
    for user, document in product(USERS, DOCUMENTS):
        obj = f"document:{document}"
        value[obj, "read", user] = get(obj, "view", user) and not get(obj, "banned", user)
    for user, document in product(USERS, DOCUMENTS):
        obj = f"document:{document}"
        value[obj, "inherited", user] = any(get(p, "read", user) for p in parents(obj))
    return value


@st.composite
def cyclic_graphs(draw: st.DrawFn) -> list[str]:
    choices = [f"group:{a}#member@group:{b}#member" for a, b in product(GROUPS, GROUPS)]
    choices += [f"group:{g}#member@user:{u}" for g, u in product(GROUPS, USERS)]
    choices += [f"document:{a}#parent@document:{b}" for a, b in product(DOCUMENTS, DOCUMENTS)]
    for relation in ("viewer", "editor", "banned"):
        choices += [f"document:{d}#{relation}@user:{u}" for d, u in product(DOCUMENTS, USERS)]
        choices += [
            f"document:{d}#{relation}@group:{g}#member" for d, g in product(DOCUMENTS, GROUPS)
        ]
    return draw(st.lists(st.sampled_from(choices), min_size=1, max_size=40, unique=True))


@settings(max_examples=120, deadline=None, derandomize=True)
@given(cyclic_graphs())
def test_check_and_both_lookups_are_the_fixed_point_of_cyclic_data(
    relationships: list[str],
) -> None:
    expected = _reference(relationships)
    types, reader = _store(relationships)
    caveats = CaveatRunner(types, None)
    for name in PERMISSIONS:
        members = {
            d: lookup_subjects(types, reader, "document", d, name, "user", "...", caveats)
            for d in DOCUMENTS
        }
        for user in USERS:
            subject = SubjectRef(type="user", id=user)
            listed = {
                rid
                for rid, _ in lookup_resources(types, reader, "document", name, subject, caveats)
            }
            for document in DOCUMENTS:
                want = expected.get((f"document:{document}", name, user), False)
                where = (document, name, user)
                got = check(types, reader, "document", document, name, subject, caveats)
                assert got is want, where
                assert (document in listed) is want, where
                assert (user in members[document].concrete) is want, where


@settings(max_examples=120, deadline=None, derandomize=True)
@given(cyclic_graphs())
def test_a_request_evaluates_each_question_a_bounded_number_of_times(
    relationships: list[str],
) -> None:
    types, reader = _store(relationships)
    caveats = CaveatRunner(types, None)
    # Every question the data can pose, and every edge between questions it stores.
    questions = len(USERS) + len(GROUPS) * 2 + len(DOCUMENTS) * 8
    bound = 4 * (questions + 4 * len(relationships))
    for name, document, user in product(PERMISSIONS, DOCUMENTS, USERS):
        checker = Checker(types, reader, SubjectRef(type="user", id=user), caveats)
        checker.member("document", document, name)
        assert checker.steps <= bound
        finder = SubjectFinder(types, reader, "user", "...", caveats)
        finder.members("document", document, name)
        assert finder.steps <= bound


# --- a ladder of groups with a back edge -------------------------------------------------


def ladder(layers: int) -> list[str]:
    """Two groups per layer, each holding both groups of the next; the last holds the first."""
    relationships = [
        f"group:l{layer}x{a}#member@group:l{layer + 1}x{b}#member"
        for layer in range(layers - 1)
        for a, b in product(range(2), range(2))
    ]
    relationships += [f"group:l{layers - 1}x{a}#member@group:l0x0#member" for a in range(2)]
    relationships += [f"document:top#viewer@group:l0x{a}#member" for a in range(2)]
    return relationships


def _ladder_cost(layers: int, found: bool) -> tuple[int, int]:
    relationships = ladder(layers)
    if found:  # the member sits at the bottom of the ladder
        relationships.append(f"group:l{layers - 1}x1#member@user:u0")
    types, inner = _store(relationships)
    caveats = CaveatRunner(types, None)
    steps = reads = 0
    for name in PERMISSIONS:
        # Far above linear, far below exponential: the old walk fails here, not by hanging.
        reader = CountingReader(inner, limit=100 * len(relationships))
        checker = Checker(types, reader, SubjectRef(type="user", id="u0"), caveats)  # type: ignore[arg-type]
        checker.member("document", "top", name)
        finder = SubjectFinder(types, reader, "user", "...", caveats)  # type: ignore[arg-type]
        finder.members("document", "top", name)
        lookup_resources(types, reader, "document", name, SubjectRef(type="user", id="u0"), caveats)  # type: ignore[arg-type]
        steps += checker.steps + finder.steps
        reads += reader.reads
    return steps, reads


@pytest.mark.parametrize("found", [False, True], ids=["absent", "at-the-bottom"])
def test_a_ladder_with_a_back_edge_costs_linear_work(found: bool) -> None:
    small_steps, small_reads = _ladder_cost(20, found)
    large_steps, large_reads = _ladder_cost(80, found)
    # Four times the ladder: at most about four times the work (the old walk: 2**60 times).
    assert large_steps <= 4.5 * small_steps
    assert large_reads <= 4.5 * small_reads
    assert large_steps <= 40 * len(ladder(80))


def test_a_deep_ladder_answers_through_the_database() -> None:
    import clove

    db = clove.open()
    db.write_schema(SCHEMA)
    db.write_relationships([*ladder(300), "group:l299x1#member@user:u0"])
    assert db.check("document:top", "view", "user:u0").permissionship == "has"
    assert db.check("document:top", "view", "user:u1").permissionship == "no"
    assert [s.subject_id for s in db.lookup_subjects("document:top", "view", "user")] == ["u0"]


# --- cycles through an exclusion ---------------------------------------------------------

NEGATIVE = """
definition user {}
definition document {
    relation parent: document
    relation viewer: user
    permission view = viewer - parent->view
}
"""


def _negative(relationships: Sequence[str]) -> tuple[TypeSystem, Reader]:
    types = TypeSystem(parse_schema(NEGATIVE))
    store = MemoryStore()
    store.write(
        [
            RelationshipUpdate(operation=Operation.TOUCH, relationship=parse_relationship(text))
            for text in relationships
        ]
    )
    return types, store.reader(store.head_revision())


def test_a_cycle_through_an_exclusion_that_decides_gets_its_answer() -> None:
    # view(d0) = viewer(d0) - view(d1); view(d1) = viewer(d1) - view(d0) = no: so d0 is "has".
    types, reader = _negative(
        [
            "document:d0#parent@document:d1",
            "document:d1#parent@document:d0",
            "document:d0#viewer@user:u",
        ]
    )
    caveats = CaveatRunner(types, None)
    u = SubjectRef(type="user", id="u")
    assert check(types, reader, "document", "d0", "view", u, caveats) is True
    assert check(types, reader, "document", "d1", "view", u, caveats) is False
    assert set(
        lookup_subjects(types, reader, "document", "d0", "view", "user", "...", caveats).concrete
    ) == {"u"}


def test_a_question_that_negates_itself_is_a_cycle_error() -> None:
    # view(d0) = viewer(d0) - view(d0): no consistent answer.
    types, reader = _negative(["document:d0#parent@document:d0", "document:d0#viewer@user:u"])
    caveats = CaveatRunner(types, None)
    u = SubjectRef(type="user", id="u")
    with pytest.raises(CycleError, match="depends on itself through an exclusion"):
        check(types, reader, "document", "d0", "view", u, caveats)
    with pytest.raises(CycleError):
        lookup_subjects(types, reader, "document", "d0", "view", "user", "...", caveats)
    # A user the base side does not hold is decided ("no") whatever the cycle says.
    other = SubjectRef(type="user", id="other")
    assert check(types, reader, "document", "d0", "view", other, caveats) is False
