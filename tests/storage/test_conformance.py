"""The storage conformance suite: the contract of ``clove.storage.protocol``, on every backend.

Tests taking ``store`` (or ``make_store``) run once per backend in ``conftest.OPENERS``; the
ones at the end need a file and run on SQLite only (restart, several processes, crashes).
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clove.errors import (
    PreconditionFailedError,
    RelationshipExistsError,
    RevisionUnavailableError,
    StorageError,
)
from clove.relationships import (
    Operation,
    Precondition,
    PreconditionKind,
    Relationship,
    RelationshipFilter,
    RelationshipUpdate,
    parse_relationship,
)
from clove.schema.ir import ELLIPSIS
from clove.storage.protocol import Reader, SchemaRecord, Store
from clove.storage.sqlite import SqliteStore
from storage.interrupted_writes import Interrupting, die_while_writing

PAST = datetime(2000, 1, 1, tzinfo=UTC)
FUTURE = datetime(2300, 1, 1, tzinfo=UTC)
EVERYTHING = RelationshipFilter()


def rel(text: str) -> Relationship:
    return parse_relationship(text)


def create(*texts: str) -> list[RelationshipUpdate]:
    return [RelationshipUpdate(operation=Operation.CREATE, relationship=rel(t)) for t in texts]


def touch(*texts: str) -> list[RelationshipUpdate]:
    return [RelationshipUpdate(operation=Operation.TOUCH, relationship=rel(t)) for t in texts]


def delete(*texts: str) -> list[RelationshipUpdate]:
    return [RelationshipUpdate(operation=Operation.DELETE, relationship=rel(t)) for t in texts]


def must_match(**fields: str) -> Precondition:
    return Precondition(kind=PreconditionKind.MUST_MATCH, filter=RelationshipFilter(**fields))


def must_not_match(**fields: str) -> Precondition:
    return Precondition(kind=PreconditionKind.MUST_NOT_MATCH, filter=RelationshipFilter(**fields))


def texts(relationships: Iterator[Relationship] | Sequence[Relationship]) -> list[str]:
    """Relationships in canonical text (caveat and expiration included), in the order given."""
    return [str(r) for r in relationships]


def everything(reader: Reader) -> list[str]:
    return texts(reader.query(EVERYTHING))


def head_reader(store: Store) -> Reader:
    return store.reader(store.head_revision())


def _raise_runtime_error() -> None:
    raise RuntimeError("the caller's updates broke")


# --- revisions ---------------------------------------------------------------------------


def test_an_empty_store_is_at_revision_zero(store: Store) -> None:
    assert store.head_revision() == 0
    reader = store.reader(0)
    assert reader.revision == 0
    assert everything(reader) == []
    assert not reader.subjects("doc", "d1", "viewer")
    assert not reader.resources("user", "alice", None, "doc", "viewer")
    assert reader.schema() is None


def test_store_id_is_stable(store: Store) -> None:
    assert store.store_id
    store.write(touch("doc:d1#viewer@user:alice"))
    assert store.store_id == store.store_id


def test_writes_return_strictly_increasing_revisions(store: Store) -> None:
    revisions = [
        store.write(touch("doc:d1#viewer@user:alice")),
        store.write(delete("doc:d1#viewer@user:alice")),
        store.write([]),  # a write that changes nothing still gets a revision
        store.write(delete("doc:d1#viewer@user:nobody")),
        store.write([], schema_text="definition user {}"),
    ]
    assert revisions == [1, 2, 3, 4, 5]
    assert store.head_revision() == 5


@pytest.mark.parametrize("revision", [-1, 2, 100])
def test_reader_outside_the_history_is_unavailable(store: Store, revision: int) -> None:
    store.write(touch("doc:d1#viewer@user:alice"))
    with pytest.raises(RevisionUnavailableError):
        store.reader(revision)


# --- CREATE, TOUCH, DELETE ---------------------------------------------------------------


def test_create_then_read_back(store: Store) -> None:
    revision = store.write(create("doc:d1#viewer@user:alice", "doc:d1#viewer@user:bob"))
    reader = store.reader(revision)
    assert texts(reader.subjects("doc", "d1", "viewer")) == [
        "doc:d1#viewer@user:alice",
        "doc:d1#viewer@user:bob",
    ]


def test_create_of_an_existing_relationship_applies_nothing(store: Store) -> None:
    store.write(touch("doc:d1#viewer@user:alice", "doc:d5#viewer@user:dan"), schema_text="v1")
    with pytest.raises(RelationshipExistsError):
        store.write(
            create("doc:d2#viewer@user:bob", "doc:d1#viewer@user:alice"),
            delete_filters=[RelationshipFilter(resource_id="d5")],
            schema_text="v2",
        )
    assert store.head_revision() == 1
    reader = store.reader(1)
    assert everything(reader) == ["doc:d1#viewer@user:alice", "doc:d5#viewer@user:dan"]
    assert reader.schema() == SchemaRecord(text="v1", revision=1)
    # The store goes on working, and the failed write took no revision.
    assert store.write(touch("doc:d3#viewer@user:carol")) == 2


def test_create_twice_in_one_write_raises(store: Store) -> None:
    with pytest.raises(RelationshipExistsError):
        store.write(create("doc:d1#viewer@user:alice", "doc:d1#viewer@user:alice"))
    assert store.head_revision() == 0


def test_create_after_touch_in_one_write_raises(store: Store) -> None:
    with pytest.raises(RelationshipExistsError):
        store.write(touch("doc:d1#viewer@user:alice") + create("doc:d1#viewer@user:alice"))
    assert store.head_revision() == 0


def test_create_differs_by_subject_relation(store: Store) -> None:
    store.write(create("doc:d1#viewer@group:eng"))
    store.write(create("doc:d1#viewer@group:eng#member"))
    assert everything(head_reader(store)) == [
        "doc:d1#viewer@group:eng",
        "doc:d1#viewer@group:eng#member",
    ]


def test_create_after_delete_in_one_write_succeeds(store: Store) -> None:
    store.write(touch("doc:d1#viewer@user:alice[cav]"))
    revision = store.write(delete("doc:d1#viewer@user:alice") + create("doc:d1#viewer@user:alice"))
    assert everything(store.reader(revision)) == ["doc:d1#viewer@user:alice"]


def test_create_after_delete_filter_in_one_write_succeeds(store: Store) -> None:
    store.write(touch("doc:d1#viewer@user:alice[cav]"))
    revision = store.write(
        create("doc:d1#viewer@user:alice"), delete_filters=[RelationshipFilter(resource_id="d1")]
    )
    assert everything(store.reader(revision)) == ["doc:d1#viewer@user:alice"]


def test_create_over_an_expired_relationship_succeeds(store: Store) -> None:
    store.write(touch("doc:d1#viewer@user:alice[expiration:2000-01-01T00:00:00Z]"))
    revision = store.write(create("doc:d1#viewer@user:alice"))
    assert everything(store.reader(revision)) == ["doc:d1#viewer@user:alice"]


def test_create_judges_expiration_at_the_writes_now(store: Store) -> None:
    store.write(touch("doc:d1#viewer@user:alice[expiration:2200-01-01T00:00:00Z]"))
    with pytest.raises(RelationshipExistsError):
        store.write(create("doc:d1#viewer@user:alice"), now=datetime(2199, 1, 1, tzinfo=UTC))
    revision = store.write(create("doc:d1#viewer@user:alice"), now=FUTURE)
    assert everything(store.reader(revision)) == ["doc:d1#viewer@user:alice"]


def test_touch_replaces_caveat_and_expiration(store: Store) -> None:
    first = store.write(touch('doc:d1#viewer@user:alice[cav:{"n":1}]'))
    second = store.write(touch("doc:d1#viewer@user:alice[expiration:2300-01-01T00:00:00Z]"))
    third = store.write(touch("doc:d1#viewer@user:alice"))
    assert everything(store.reader(first)) == ['doc:d1#viewer@user:alice[cav:{"n":1}]']
    assert everything(store.reader(second)) == [
        "doc:d1#viewer@user:alice[expiration:2300-01-01T00:00:00Z]"
    ]
    assert everything(store.reader(third)) == ["doc:d1#viewer@user:alice"]


def test_touch_twice_in_one_write_keeps_the_last(store: Store) -> None:
    revision = store.write(
        touch('doc:d1#viewer@user:alice[cav:{"n":1}]', 'doc:d1#viewer@user:alice[cav:{"n":2}]')
    )
    assert everything(store.reader(revision)) == ['doc:d1#viewer@user:alice[cav:{"n":2}]']


def test_touch_then_delete_in_one_write_leaves_nothing(store: Store) -> None:
    store.write(touch("doc:d1#viewer@user:alice"))
    revision = store.write(
        touch("doc:d1#viewer@user:alice[cav]", "doc:d2#viewer@user:bob")
        + delete("doc:d1#viewer@user:alice", "doc:d2#viewer@user:bob")
    )
    assert everything(store.reader(revision)) == []
    assert everything(store.reader(revision - 1)) == ["doc:d1#viewer@user:alice"]


def test_delete_removes_and_delete_of_missing_is_fine(store: Store) -> None:
    store.write(touch("doc:d1#viewer@user:alice", "doc:d1#viewer@user:bob"))
    revision = store.write(delete("doc:d1#viewer@user:alice", "doc:d9#viewer@user:nobody"))
    assert revision == 2
    assert everything(store.reader(2)) == ["doc:d1#viewer@user:bob"]
    assert store.write(delete("doc:d1#viewer@user:alice")) == 3


def test_delete_ignores_caveat_and_expiration(store: Store) -> None:
    store.write(touch('doc:d1#viewer@user:alice[cav:{"n":1}]'))
    revision = store.write(delete("doc:d1#viewer@user:alice"))
    assert everything(store.reader(revision)) == []


def test_any_error_during_a_write_applies_nothing(store: Store) -> None:
    store.write(touch("doc:d1#viewer@user:alice"), schema_text="v1")
    updates = touch(*(f"doc:x{i}#viewer@user:u{i}" for i in range(50)))
    with pytest.raises(RuntimeError):
        store.write(
            Interrupting(updates, at=30, interrupt=_raise_runtime_error),
            delete_filters=[EVERYTHING],
            schema_text="v2",
        )
    assert store.head_revision() == 1
    assert everything(head_reader(store)) == ["doc:d1#viewer@user:alice"]
    assert head_reader(store).schema() == SchemaRecord(text="v1", revision=1)
    assert store.write(touch("doc:d2#viewer@user:bob")) == 2
    assert everything(store.reader(2)) == ["doc:d1#viewer@user:alice", "doc:d2#viewer@user:bob"]


# --- preconditions -----------------------------------------------------------------------


def test_preconditions_that_hold_let_the_write_through(store: Store) -> None:
    store.write(touch("doc:d1#viewer@user:alice"))
    revision = store.write(
        touch("doc:d2#viewer@user:bob"),
        preconditions=[
            must_match(resource_type="doc", resource_id="d1"),
            must_not_match(subject_id="bob"),
        ],
    )
    assert revision == 2


@pytest.mark.parametrize(
    "precondition",
    [
        must_match(resource_type="doc", resource_id="d9"),
        must_match(subject_type="user", subject_id="alice", subject_relation="member"),
        must_not_match(resource_type="doc", subject_id="alice"),
        must_not_match(),
    ],
    ids=["must-match-nothing", "must-match-other-relation", "must-not-match", "must-not-any"],
)
def test_a_failed_precondition_applies_nothing(store: Store, precondition: Precondition) -> None:
    store.write(touch("doc:d1#viewer@user:alice"), schema_text="v1")
    with pytest.raises(PreconditionFailedError):
        store.write(
            touch("doc:d2#viewer@user:bob"),
            preconditions=[must_match(resource_id="d1"), precondition],
            delete_filters=[EVERYTHING],
            schema_text="v2",
        )
    assert store.head_revision() == 1
    assert everything(head_reader(store)) == ["doc:d1#viewer@user:alice"]
    assert head_reader(store).schema() == SchemaRecord(text="v1", revision=1)


def test_preconditions_see_the_head_before_the_write(store: Store) -> None:
    with pytest.raises(PreconditionFailedError):
        store.write(touch("doc:d1#viewer@user:alice"), preconditions=[must_match(resource_id="d1")])
    store.write(touch("doc:d1#viewer@user:alice"))
    revision = store.write(
        delete("doc:d1#viewer@user:alice"), preconditions=[must_match(resource_id="d1")]
    )
    assert everything(store.reader(revision)) == []


def test_preconditions_ignore_expired_relationships(store: Store) -> None:
    store.write(touch("doc:d1#viewer@user:alice[expiration:2000-01-01T00:00:00Z]"))
    with pytest.raises(PreconditionFailedError):
        store.write([], preconditions=[must_match(resource_id="d1")])
    assert store.write([], preconditions=[must_not_match(resource_id="d1")]) == 2


# --- delete filters ----------------------------------------------------------------------


def test_delete_filters_remove_what_they_match(store: Store) -> None:
    store.write(
        touch(
            "doc:d1#viewer@user:alice",
            "doc:d1#editor@user:alice",
            "doc:d2#viewer@user:alice",
            "doc:d2#viewer@group:eng#member",
            "folder:f1#viewer@user:alice",
        )
    )
    revision = store.write(
        [],
        delete_filters=[
            RelationshipFilter(resource_type="doc", relation="viewer", subject_type="user"),
            RelationshipFilter(resource_type="folder", resource_id="f9"),  # matches nothing
        ],
    )
    assert everything(store.reader(revision)) == [
        "doc:d1#editor@user:alice",
        "doc:d2#viewer@group:eng#member",
        "folder:f1#viewer@user:alice",
    ]
    assert len(everything(store.reader(1))) == 5


def test_delete_filters_apply_before_updates(store: Store) -> None:
    store.write(touch("doc:d1#viewer@user:alice", "doc:d1#viewer@user:bob"))
    revision = store.write(
        touch("doc:d1#viewer@user:alice[cav]"),
        delete_filters=[RelationshipFilter(resource_id="d1")],
    )
    assert everything(store.reader(revision)) == ["doc:d1#viewer@user:alice[cav]"]


def test_delete_filter_by_id_prefix(store: Store) -> None:
    store.write(
        touch(
            "doc:team_a#viewer@user:u",
            "doc:team-a#viewer@user:u",
            "doc:teamXa#viewer@user:u",
            "doc:Team_a#viewer@user:u",
            "doc:tea#viewer@user:u",
        )
    )
    revision = store.write([], delete_filters=[RelationshipFilter(resource_id_prefix="team_")])
    assert everything(store.reader(revision)) == [
        "doc:Team_a#viewer@user:u",
        "doc:tea#viewer@user:u",
        "doc:team-a#viewer@user:u",
        "doc:teamXa#viewer@user:u",
    ]


# --- reads -------------------------------------------------------------------------------

GRAPH = (
    "doc:d1#viewer@user:alice",
    "doc:d1#viewer@user:*",
    "doc:d1#viewer@group:eng#member",
    "doc:d1#viewer@group:eng",
    "doc:d1#editor@user:alice",
    "doc:d2#viewer@user:alice",
    "doc:d2#viewer@group:eng#member",
    "doc:d2#viewer@group:eng#admin",
    "folder:d1#viewer@user:alice",
    "group:eng#member@user:bob",
)


@pytest.fixture
def graph(store: Store) -> Reader:
    store.write(touch(*GRAPH))
    return store.reader(1)


def test_subjects_returns_exactly_the_resources_relation(graph: Reader) -> None:
    assert sorted(texts(graph.subjects("doc", "d1", "viewer"))) == sorted(
        [
            "doc:d1#viewer@user:alice",
            "doc:d1#viewer@user:*",
            "doc:d1#viewer@group:eng#member",
            "doc:d1#viewer@group:eng",
        ]
    )
    assert texts(graph.subjects("doc", "d1", "editor")) == ["doc:d1#editor@user:alice"]
    assert not graph.subjects("doc", "d3", "viewer")
    assert not graph.subjects("doc", "d1", "owner")


def test_subject_sets_are_the_subjects_with_a_relation(graph: Reader) -> None:
    assert texts(graph.subject_sets("doc", "d1", "viewer")) == ["doc:d1#viewer@group:eng#member"]
    assert sorted(texts(graph.subject_sets("doc", "d2", "viewer"))) == [
        "doc:d2#viewer@group:eng#admin",
        "doc:d2#viewer@group:eng#member",
    ]
    assert not graph.subject_sets("doc", "d1", "editor")
    assert not graph.subject_sets("doc", "d3", "viewer")


@pytest.mark.parametrize(
    "text",
    [
        "doc:d1#viewer@user:alice",
        "doc:d1#viewer@user:*",
        "doc:d1#viewer@group:eng#member",
        "doc:d1#viewer@group:eng",
        "group:eng#member@user:bob",
    ],
)
def test_find_returns_the_relationship_with_exactly_that_key(graph: Reader, text: str) -> None:
    assert graph.find(*rel(text).key) == rel(text)


@pytest.mark.parametrize(
    "key",
    [
        ("doc", "d1", "viewer", "group", "eng", "admin"),
        ("doc", "d1", "viewer", "user", "bob", ELLIPSIS),
        ("doc", "d1", "owner", "user", "alice", ELLIPSIS),
        ("doc", "d3", "viewer", "user", "alice", ELLIPSIS),
        ("folder", "d2", "viewer", "user", "alice", ELLIPSIS),
    ],
)
def test_find_of_a_missing_key_is_none(graph: Reader, key: tuple[str, ...]) -> None:
    assert graph.find(*key) is None


def test_find_sees_caveat_expiration_and_revision(store: Store) -> None:
    first = store.write(
        touch(
            'doc:d1#viewer@user:alice[cav:{"n":1}][expiration:2300-01-01T00:00:00Z]',
            "doc:d1#viewer@user:old[expiration:2000-01-01T00:00:00Z]",
        )
    )
    second = store.write(delete("doc:d1#viewer@user:alice"))
    key = ("doc", "d1", "viewer", "user", "alice", ELLIPSIS)
    found = store.reader(first).find(*key)
    assert found is not None
    assert str(found) == 'doc:d1#viewer@user:alice[cav:{"n":1}][expiration:2300-01-01T00:00:00Z]'
    assert found.caveat_context == {"n": 1}
    assert store.reader(second).find(*key) is None
    assert store.reader(first).find("doc", "d1", "viewer", "user", "old", ELLIPSIS) is None


@pytest.mark.parametrize(
    ("subject_relation", "expected"),
    [
        (None, ["doc:d1#viewer@group:eng#member", "doc:d1#viewer@group:eng"]),
        (ELLIPSIS, ["doc:d1#viewer@group:eng"]),
        ("member", ["doc:d1#viewer@group:eng#member"]),
        ("owner", []),
    ],
)
def test_resources_by_subject_relation(
    graph: Reader, subject_relation: str | None, expected: list[str]
) -> None:
    found = graph.resources("group", "eng", subject_relation, "doc", "viewer")
    wanted = [e for e in expected if e.startswith("doc:d1")]
    if subject_relation is None:
        wanted += ["doc:d2#viewer@group:eng#member", "doc:d2#viewer@group:eng#admin"]
    elif subject_relation == "member":
        wanted += ["doc:d2#viewer@group:eng#member"]
    assert sorted(texts(found)) == sorted(wanted)


def test_resources_keeps_to_the_resource_type_and_relation(graph: Reader) -> None:
    assert sorted(texts(graph.resources("user", "alice", None, "doc", "viewer"))) == [
        "doc:d1#viewer@user:alice",
        "doc:d2#viewer@user:alice",
    ]
    assert texts(graph.resources("user", "alice", ELLIPSIS, "folder", "viewer")) == [
        "folder:d1#viewer@user:alice"
    ]
    assert not graph.resources("user", "bob", None, "doc", "viewer")


def test_wildcard_subjects_are_stored_as_written(graph: Reader) -> None:
    # Storage does not expand wildcards; the engine does.
    assert texts(graph.resources("user", "*", None, "doc", "viewer")) == ["doc:d1#viewer@user:*"]
    assert "doc:d1#viewer@user:*" not in texts(
        graph.resources("user", "alice", None, "doc", "viewer")
    )
    assert texts(graph.query(RelationshipFilter(subject_id="*"))) == ["doc:d1#viewer@user:*"]


def test_query_returns_everything_in_key_order(graph: Reader) -> None:
    found = list(graph.query(EVERYTHING))
    assert [r.key for r in found] == sorted(rel(t).key for t in GRAPH)


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        (RelationshipFilter(resource_type="folder"), ["folder:d1#viewer@user:alice"]),
        (
            RelationshipFilter(resource_id="d1", relation="viewer", subject_type="group"),
            ["doc:d1#viewer@group:eng", "doc:d1#viewer@group:eng#member"],
        ),
        (
            RelationshipFilter(subject_type="group", subject_id="eng", subject_relation=ELLIPSIS),
            ["doc:d1#viewer@group:eng"],
        ),
        (
            RelationshipFilter(subject_relation="admin"),
            ["doc:d2#viewer@group:eng#admin"],
        ),
        (
            RelationshipFilter(resource_type="doc", subject_type="user", subject_id="alice"),
            ["doc:d1#editor@user:alice", "doc:d1#viewer@user:alice", "doc:d2#viewer@user:alice"],
        ),
        (RelationshipFilter(resource_type="doc", resource_id_prefix="d2"), None),
        (RelationshipFilter(resource_id_prefix="e"), ["group:eng#member@user:bob"]),
        (RelationshipFilter(resource_id_prefix="x"), []),
        (RelationshipFilter(resource_type="nothing"), []),
    ],
)
def test_query_by_filter(
    graph: Reader, filter: RelationshipFilter, expected: list[str] | None
) -> None:
    if expected is None:
        expected = [t for t in sorted(GRAPH, key=lambda t: rel(t).key) if t.startswith("doc:d2")]
    assert texts(graph.query(filter)) == expected


@pytest.mark.parametrize("page_size", [1, 2, 3, 7, 100])
@pytest.mark.parametrize(
    "filter",
    [
        EVERYTHING,
        RelationshipFilter(resource_type="doc"),
        RelationshipFilter(resource_type="doc", resource_id="d1", relation="viewer"),
        RelationshipFilter(subject_type="group", subject_id="eng"),
        RelationshipFilter(relation="viewer"),
    ],
)
def test_paging_returns_every_row_once_in_order(
    graph: Reader, filter: RelationshipFilter, page_size: int
) -> None:
    expected = list(graph.query(filter))
    assert expected
    seen: list[Relationship] = []
    after = None
    while True:
        page = list(graph.query(filter, after=after, limit=page_size))
        assert len(page) <= page_size
        seen += page
        if len(page) < page_size:
            break
        after = page[-1].key
    assert seen == expected


def test_after_is_exclusive_and_need_not_exist(graph: Reader) -> None:
    keys = [r.key for r in graph.query(EVERYTHING)]
    assert [r.key for r in graph.query(EVERYTHING, after=keys[2])] == keys[3:]
    between = ("doc", "d1", "viewer", "group", "eng", "zzz")  # sorts between two rows
    assert [r.key for r in graph.query(EVERYTHING, after=between)] == [
        k for k in keys if k > between
    ]
    assert list(graph.query(EVERYTHING, after=keys[-1])) == []
    assert list(graph.query(RelationshipFilter(resource_type="doc"), after=keys[-1])) == []
    assert list(graph.query(EVERYTHING, limit=0)) == []
    # ``after`` before or beyond everything a filter fixes.
    docs = [r.key for r in graph.query(RelationshipFilter(resource_type="doc"))]
    before = ("aaa", "", "", "", "", "")
    assert [r.key for r in graph.query(RelationshipFilter(resource_type="doc"), after=before)] == (
        docs
    )
    beyond = ("zzz", "", "", "", "", "")
    assert list(graph.query(RelationshipFilter(resource_type="doc"), after=beyond)) == []


def test_query_pages_through_many_rows(store: Store) -> None:
    count = 1234  # more than any backend's internal page
    store.write(touch(*(f"doc:d{i:05}#viewer@user:u{i % 7}" for i in range(count))))
    reader = head_reader(store)
    found = [r.resource_id for r in reader.query(RelationshipFilter(resource_type="doc"))]
    assert found == [f"d{i:05}" for i in range(count)]
    assert len(list(reader.query(RelationshipFilter(subject_id="u3")))) == len(range(3, count, 7))
    assert len(list(reader.query(EVERYTHING, limit=1001))) == 1001


def test_caveat_context_round_trips(store: Store) -> None:
    context = {"b": [1, 2.5, "x"], "a": {"nested": True, "none": None}, "ü": "ß"}
    relationship = Relationship(
        resource_type="doc",
        resource_id="d1",
        relation="viewer",
        subject_type="user",
        subject_id="alice",
        caveat_name="some_caveat",
        caveat_context=context,
    )
    store.write([RelationshipUpdate(operation=Operation.TOUCH, relationship=relationship)])
    for found in (
        head_reader(store).subjects("doc", "d1", "viewer")[0],
        head_reader(store).resources("user", "alice", None, "doc", "viewer")[0],
        next(head_reader(store).query(EVERYTHING)),
    ):
        assert found == relationship
        assert found.caveat_name == "some_caveat"
        assert found.caveat_context == context
        assert found.context_json == relationship.context_json


def test_caveat_without_context(store: Store) -> None:
    store.write(touch("doc:d1#viewer@user:alice[some_caveat]"))
    (found,) = head_reader(store).subjects("doc", "d1", "viewer")
    assert found.caveat_name == "some_caveat"
    assert not found.caveat_context


# --- expiration --------------------------------------------------------------------------


def test_expired_relationships_are_invisible(store: Store) -> None:
    store.write(
        touch(
            "doc:d1#viewer@user:old[expiration:2000-01-01T00:00:00Z]",
            "doc:d1#viewer@user:new[expiration:2300-01-01T00:00:00Z]",
            "doc:d1#viewer@user:always",
        )
    )
    reader = head_reader(store)
    visible = [
        "doc:d1#viewer@user:always",
        "doc:d1#viewer@user:new[expiration:2300-01-01T00:00:00Z]",
    ]
    assert texts(reader.query(EVERYTHING)) == visible
    assert sorted(texts(reader.subjects("doc", "d1", "viewer"))) == visible
    assert not reader.resources("user", "old", None, "doc", "viewer")
    assert len(reader.resources("user", "new", None, "doc", "viewer")) == 1


def test_expiration_keeps_its_instant(store: Store) -> None:
    expiration = datetime(2250, 6, 1, 12, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
    relationship = Relationship(
        resource_type="doc",
        resource_id="d1",
        relation="viewer",
        subject_type="user",
        subject_id="alice",
        expiration=expiration,
    )
    store.write([RelationshipUpdate(operation=Operation.TOUCH, relationship=relationship)])
    (found,) = head_reader(store).subjects("doc", "d1", "viewer")
    assert found.expiration == expiration
    assert found == relationship


def test_a_reader_judges_expiration_when_it_is_opened(store: Store) -> None:
    soon = datetime.now(UTC) + timedelta(milliseconds=300)
    relationship = Relationship(
        resource_type="doc",
        resource_id="d1",
        relation="viewer",
        subject_type="user",
        subject_id="alice",
        expiration=soon,
    )
    revision = store.write(
        [RelationshipUpdate(operation=Operation.TOUCH, relationship=relationship)]
    )
    early = store.reader(revision)
    time.sleep(max(0.0, (soon - datetime.now(UTC)).total_seconds()) + 0.05)
    assert list(early.subjects("doc", "d1", "viewer")) == [relationship]
    assert not store.reader(revision).subjects("doc", "d1", "viewer")


def test_delete_expired(store: Store) -> None:
    store.write(
        touch(
            "doc:d1#viewer@user:old[expiration:2000-01-01T00:00:00Z]",
            "doc:d1#viewer@user:later[expiration:2200-01-01T00:00:00Z]",
            "doc:d1#viewer@user:always",
        )
    )
    assert store.delete_expired(datetime.now(UTC)) == 1
    assert store.delete_expired(datetime.now(UTC)) == 0
    assert store.head_revision() == 1
    assert texts(head_reader(store).query(EVERYTHING)) == [
        "doc:d1#viewer@user:always",
        "doc:d1#viewer@user:later[expiration:2200-01-01T00:00:00Z]",
    ]
    assert store.delete_expired(FUTURE) == 1
    assert texts(head_reader(store).query(EVERYTHING)) == ["doc:d1#viewer@user:always"]
    # The relationship can be written again afterwards.
    revision = store.write(create("doc:d1#viewer@user:old"))
    assert texts(store.reader(revision).subjects("doc", "d1", "viewer")) == [
        "doc:d1#viewer@user:always",
        "doc:d1#viewer@user:old",
    ]


# --- schema ------------------------------------------------------------------------------


def test_schema_history(store: Store) -> None:
    first = store.write([], schema_text="definition user {}")
    relationships = store.write(touch("doc:d1#viewer@user:alice"))
    second = store.write(touch("doc:d2#viewer@user:bob"), schema_text="definition doc {}")
    v1 = SchemaRecord(text="definition user {}", revision=first)
    v2 = SchemaRecord(text="definition doc {}", revision=second)
    assert store.reader(0).schema() is None
    assert store.reader(first).schema() == v1
    assert store.reader(relationships).schema() == v1
    assert store.reader(second).schema() == v2
    assert everything(store.reader(second)) == [
        "doc:d1#viewer@user:alice",
        "doc:d2#viewer@user:bob",
    ]


def test_an_empty_schema_text_is_still_a_schema(store: Store) -> None:
    revision = store.write([], schema_text="")
    assert store.reader(revision).schema() == SchemaRecord(text="", revision=revision)


# --- MVCC --------------------------------------------------------------------------------


def test_a_reader_is_unaffected_by_later_writes(store: Store) -> None:
    store.write(touch("doc:d1#viewer@user:alice", "doc:d1#viewer@user:bob"), schema_text="v1")
    reader = store.reader(1)
    before = everything(reader)
    store.write(
        touch("doc:d1#viewer@user:alice[cav]", "doc:d1#viewer@user:carol"),
        delete_filters=[RelationshipFilter(subject_id="bob")],
        schema_text="v2",
    )
    store.write(delete("doc:d1#viewer@user:alice"))
    store.delete_expired(datetime.now(UTC))
    assert everything(reader) == before
    assert texts(reader.subjects("doc", "d1", "viewer")) == before
    assert reader.find("doc", "d1", "viewer", "user", "bob", ELLIPSIS) is not None
    assert store.reader(2).find("doc", "d1", "viewer", "user", "bob", ELLIPSIS) is None
    assert reader.schema() == SchemaRecord(text="v1", revision=1)
    assert everything(store.reader(3)) == ["doc:d1#viewer@user:carol"]


def test_concurrent_threads_lose_no_writes(store: Store) -> None:
    threads, writes = 4, 25
    revisions: dict[int, list[int]] = {}
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            mine = revisions.setdefault(worker, [])
            for i in range(writes):
                mine.append(store.write(touch(f"doc:t{worker}-{i}#viewer@user:u")))
                reader = store.reader(mine[-1])
                assert reader.subjects("doc", f"t{worker}-{i}", "viewer")
        except BaseException as error:
            errors.append(error)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    assert errors == []
    _assert_serialized(list(revisions.values()), threads * writes)
    assert len(everything(head_reader(store))) == threads * writes


def _assert_serialized(per_writer: list[list[int]], total: int) -> None:
    """Every write got its own revision, 1..total, increasing within each writer."""
    for revisions in per_writer:
        assert revisions == sorted(set(revisions))
    every = sorted(r for revisions in per_writer for r in revisions)
    assert every == list(range(1, total + 1))


def test_a_closed_store_refuses_work(store: Store) -> None:
    store.write(touch("doc:d1#viewer@user:alice"))
    reader = store.reader(1)
    store.close()
    with pytest.raises(StorageError):
        store.head_revision()
    with pytest.raises(StorageError):
        store.reader(1)
    with pytest.raises(StorageError):
        store.write(touch("doc:d2#viewer@user:bob"))
    with pytest.raises(StorageError):
        store.delete_expired(datetime.now(UTC))
    with pytest.raises(StorageError):
        reader.subjects("doc", "d1", "viewer")
    with pytest.raises(StorageError):
        reader.find("doc", "d1", "viewer", "user", "alice", ELLIPSIS)
    with pytest.raises(StorageError):
        reader.subject_sets("doc", "d1", "viewer")
    with pytest.raises(StorageError):
        reader.resources("user", "alice", None, "doc", "viewer")
    with pytest.raises(StorageError):
        list(reader.query(EVERYTHING))
    with pytest.raises(StorageError):
        reader.schema()
    store.close()  # closing twice is harmless


# --- the MVCC property: every revision equals a replayed model ---------------------------

_RESOURCE_IDS = ("d1", "d2")
_RELATIONS = ("viewer", "editor")
_SUBJECTS = (("user", "alice", ELLIPSIS), ("user", "*", ELLIPSIS), ("group", "eng", "member"))
_FILTERS = (
    EVERYTHING,
    RelationshipFilter(resource_id="d1"),
    RelationshipFilter(relation="editor"),
    RelationshipFilter(subject_type="group", subject_id="eng"),
    RelationshipFilter(resource_id="d2", relation="viewer", subject_id="alice"),
)

relationships = st.builds(
    lambda resource_id, relation, subject, caveat, expiration: Relationship(
        resource_type="doc",
        resource_id=resource_id,
        relation=relation,
        subject_type=subject[0],
        subject_id=subject[1],
        subject_relation=subject[2],
        caveat_name=None if caveat is None else "cav",
        caveat_context=None if caveat is None else {"n": caveat},
        expiration=expiration,
    ),
    st.sampled_from(_RESOURCE_IDS),
    st.sampled_from(_RELATIONS),
    st.sampled_from(_SUBJECTS),
    st.none() | st.integers(0, 2),
    st.sampled_from([None, None, PAST, FUTURE]),
)
updates = st.builds(
    lambda operation, relationship: RelationshipUpdate(
        operation=operation, relationship=relationship
    ),
    st.sampled_from(list(Operation)),
    relationships,
)
preconditions = st.builds(
    lambda kind, filter: Precondition(kind=kind, filter=filter),
    st.sampled_from(list(PreconditionKind)),
    st.sampled_from(_FILTERS),
)


class Batch:
    def __init__(
        self,
        updates: list[RelationshipUpdate],
        preconditions: list[Precondition],
        delete_filters: list[RelationshipFilter],
        schema_text: str | None,
    ) -> None:
        self.updates = updates
        self.preconditions = preconditions
        self.delete_filters = delete_filters
        self.schema_text = schema_text

    def __repr__(self) -> str:
        return repr(vars(self))


batches = st.builds(
    Batch,
    st.lists(updates, max_size=5),
    st.lists(preconditions, max_size=1),
    st.lists(st.sampled_from(_FILTERS[1:]), max_size=1),
    st.none() | st.sampled_from(["s1", "s2"]),
)


class Model:
    """The storage contract replayed naively: one full copy of the data per revision."""

    def __init__(self) -> None:
        self.states: list[dict[tuple[str, ...], Relationship]] = [{}]
        self.schemas: list[SchemaRecord | None] = [None]

    def apply(self, batch: Batch, now: datetime) -> type[Exception] | None:
        """Apply ``batch`` as a new revision, or return the error the store must raise."""

        def visible(r: Relationship) -> bool:
            return not r.expired(now)

        state = dict(self.states[-1])
        for precondition in batch.preconditions:
            found = any(precondition.filter.matches(r) and visible(r) for r in state.values())
            if found != (precondition.kind is PreconditionKind.MUST_MATCH):
                return PreconditionFailedError
        for filter in batch.delete_filters:
            for key, r in list(state.items()):
                if filter.matches(r) and visible(r):
                    del state[key]
        present: dict[tuple[str, ...], bool] = {}
        for update in batch.updates:
            r = update.relationship
            if update.operation is Operation.CREATE:
                exists = (
                    present[r.key]
                    if r.key in present
                    else (r.key in state and visible(state[r.key]))
                )
                if exists:
                    return RelationshipExistsError
            if update.operation is Operation.DELETE:
                state.pop(r.key, None)
                present[r.key] = False
            else:
                state[r.key] = r
                present[r.key] = True
        self.states.append(state)
        revision = len(self.states) - 1
        if batch.schema_text is not None:
            self.schemas.append(SchemaRecord(text=batch.schema_text, revision=revision))
        else:
            self.schemas.append(self.schemas[-1])
        return None

    def visible(self, revision: int, now: datetime) -> list[Relationship]:
        found = [r for r in self.states[revision].values() if not r.expired(now)]
        return sorted(found, key=lambda r: r.key)


def _assert_reader_matches(reader: Reader, model: Model, now: datetime) -> None:
    expected = model.visible(reader.revision, now)
    assert list(reader.query(EVERYTHING)) == expected
    assert reader.schema() == model.schemas[reader.revision]
    by_key = {r.key: r for r in expected}
    for resource_id in _RESOURCE_IDS:
        for relation in _RELATIONS:
            found = reader.subjects("doc", resource_id, relation)
            subjects = [
                r for r in expected if r.resource_id == resource_id and r.relation == relation
            ]
            assert sorted(found, key=lambda r: r.key) == subjects
            found = reader.subject_sets("doc", resource_id, relation)
            assert sorted(found, key=lambda r: r.key) == [
                r for r in subjects if r.subject_relation != ELLIPSIS
            ]
            for subject in _SUBJECTS:
                key = ("doc", resource_id, relation, *subject)
                assert reader.find(*key) == by_key.get(key)
    for subject_type, subject_id, subject_relation in _SUBJECTS:
        for relation in _RELATIONS:
            for wanted in (None, subject_relation):
                found = reader.resources(subject_type, subject_id, wanted, "doc", relation)
                assert sorted(found, key=lambda r: r.key) == [
                    r
                    for r in expected
                    if (r.subject_type, r.subject_id, r.relation)
                    == (subject_type, subject_id, relation)
                    and wanted in (None, r.subject_relation)
                ]
    for filter in _FILTERS:
        assert list(reader.query(filter)) == [r for r in expected if filter.matches(r)]
        paged: list[Relationship] = []
        after = None
        while page := list(reader.query(filter, after=after, limit=2)):
            paged += page
            after = page[-1].key
        assert paged == [r for r in expected if filter.matches(r)]


@settings(
    max_examples=60,
    deadline=None,
    # ``make_store`` hands out a fresh store per example by design.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.lists(batches, min_size=1, max_size=8))
def test_every_revision_matches_a_replayed_model(
    make_store: Callable[[], Store], history: list[Batch]
) -> None:
    store = make_store()
    try:
        model = Model()
        readers: list[Reader] = [store.reader(0)]
        for batch in history:
            now = datetime.now(UTC)
            error = model.apply(batch, now)
            if error is not None:
                with pytest.raises(error):
                    store.write(
                        batch.updates,
                        preconditions=batch.preconditions,
                        delete_filters=batch.delete_filters,
                        schema_text=batch.schema_text,
                        now=now,
                    )
            else:
                revision = store.write(
                    batch.updates,
                    preconditions=batch.preconditions,
                    delete_filters=batch.delete_filters,
                    schema_text=batch.schema_text,
                    now=now,
                )
                assert revision == len(model.states) - 1
                readers.append(store.reader(revision))
            assert store.head_revision() == len(model.states) - 1
        now = datetime.now(UTC)
        # Readers opened along the way, and fresh ones, all see their own revision.
        for reader in readers:
            _assert_reader_matches(reader, model, now)
        for revision in range(store.head_revision() + 1):
            _assert_reader_matches(store.reader(revision), model, now)
    finally:
        store.close()


# --- SQLite only: a file that outlives processes -----------------------------------------


def test_sqlite_survives_close_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "clove.db"
    with SqliteStore(path) as store:
        store.write(touch('doc:d1#viewer@user:alice[cav:{"n":1}]'), schema_text="v1")
        store.write(touch("doc:d2#viewer@user:bob[expiration:2300-01-01T00:00:00Z]"))
        store.write(delete("doc:d1#viewer@user:alice"), schema_text="v2")
        store_id = store.store_id
    with SqliteStore(path) as reopened:
        assert reopened.store_id == store_id
        assert reopened.head_revision() == 3
        assert everything(reopened.reader(1)) == ['doc:d1#viewer@user:alice[cav:{"n":1}]']
        assert everything(reopened.reader(3)) == [
            "doc:d2#viewer@user:bob[expiration:2300-01-01T00:00:00Z]"
        ]
        assert reopened.reader(2).schema() == SchemaRecord(text="v1", revision=1)
        assert reopened.reader(3).schema() == SchemaRecord(text="v2", revision=3)
        assert reopened.write([]) == 4


def test_sqlite_stores_have_their_own_ids(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "a.db") as a, SqliteStore(tmp_path / "b.db") as b:
        assert a.store_id != b.store_id


def test_sqlite_sees_writes_from_another_store_on_the_same_file(tmp_path: Path) -> None:
    path = tmp_path / "clove.db"
    with SqliteStore(path) as first, SqliteStore(path) as second:
        assert first.store_id == second.store_id
        reader = second.reader(0)
        first.write(touch("doc:d1#viewer@user:alice"))
        # No head_revision() first: a reader beyond what ``second`` has seen looks again.
        assert everything(second.reader(1)) == ["doc:d1#viewer@user:alice"]
        assert everything(reader) == []
        assert second.write(touch("doc:d2#viewer@user:bob")) == 2
        assert first.head_revision() == 2


def test_sqlite_lookups_leave_no_snapshot_open(tmp_path: Path) -> None:
    # A statement left unfinished would keep this thread's connection on an old snapshot,
    # hiding later commits from the next reader (and blocking WAL checkpoints).
    path = tmp_path / "clove.db"
    with SqliteStore(path) as mine, SqliteStore(path) as theirs:
        mine.write(
            touch("doc:d1#viewer@user:alice", "doc:d1#viewer@group:eng#member"), schema_text="v1"
        )
        reader = mine.reader(1)
        assert next(reader.query(EVERYTHING))  # an iteration left unfinished
        assert reader.subject_sets("doc", "d1", "viewer")
        assert reader.schema() is not None
        assert reader.find("doc", "d1", "viewer", "user", "alice", ELLIPSIS) is not None
        theirs.write(touch("doc:d2#viewer@user:bob"))
        assert mine.head_revision() == 2
        assert mine.reader(2).find("doc", "d2", "viewer", "user", "bob", ELLIPSIS) is not None
        assert len(everything(mine.reader(2))) == 3


def test_sqlite_refuses_a_newer_storage_format(tmp_path: Path) -> None:
    path = tmp_path / "clove.db"
    SqliteStore(path).close()
    with closing(sqlite3.connect(path)) as connection:
        connection.execute("PRAGMA user_version = 999")
    with pytest.raises(StorageError, match="newer"):
        SqliteStore(path)


def test_sqlite_refuses_what_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "clove.db"
    path.write_bytes(b"this is not a database, just some text " * 100)
    with pytest.raises(StorageError):
        SqliteStore(path)


@pytest.mark.parametrize("path", ["", ":memory:"], ids=["empty", "memory"])
def test_sqlite_needs_a_file(path: str) -> None:
    with pytest.raises(StorageError):
        SqliteStore(path)


def test_sqlite_reader_in_another_thread(tmp_path: Path) -> None:
    # A reader opened in one thread may be used in another (each uses its own connection).
    with SqliteStore(tmp_path / "clove.db") as store:
        store.write(touch("doc:d1#viewer@user:alice"))
        reader = store.reader(1)
        found: list[Relationship] = []
        thread = threading.Thread(
            target=lambda: found.extend(reader.subjects("doc", "d1", "viewer"))
        )
        thread.start()
        thread.join()
        assert texts(found) == ["doc:d1#viewer@user:alice"]


@pytest.fixture
def spawn(monkeypatch: pytest.MonkeyPatch) -> multiprocessing.context.SpawnContext:
    """A spawn context whose children can import this module, to run its functions.

    A spawned child unpickles its target by module name; under pytest's import modes that
    name (``tests.storage.test_conformance`` or ``test_conformance``) is importable only
    from the folder it is relative to, so put that folder on the path children inherit.
    """
    root = Path(__file__).resolve().parents[__name__.count(".")]
    monkeypatch.syspath_prepend(str(root))
    return multiprocessing.get_context("spawn")


def _write_many(path: str, worker: int, count: int) -> list[int]:
    """Run in a child process: ``count`` single-relationship writes."""
    with SqliteStore(path, busy_timeout=60) as store:
        return [store.write(touch(f"doc:p{worker}-{i}#viewer@user:u")) for i in range(count)]


def test_sqlite_processes_writing_together_lose_nothing(
    tmp_path: Path, spawn: multiprocessing.context.SpawnContext
) -> None:
    path = tmp_path / "clove.db"
    SqliteStore(path).close()  # create it, so the children race on writes, not on set-up
    processes, writes = 3, 40
    with spawn.Pool(processes) as pool:
        work = [(str(path), n, writes) for n in range(processes)]
        per_process = pool.starmap_async(_write_many, work).get(timeout=300)
    _assert_serialized(per_process, processes * writes)
    with SqliteStore(path) as store:
        assert store.head_revision() == processes * writes
        assert len(everything(head_reader(store))) == processes * writes


@pytest.mark.parametrize("how", ["exit", "sigkill"])
def test_sqlite_process_killed_mid_write_leaves_nothing_half_applied(
    tmp_path: Path, spawn: multiprocessing.context.SpawnContext, how: str
) -> None:
    if how == "sigkill" and not hasattr(signal, "SIGKILL"):
        pytest.skip("no SIGKILL on this platform")
    path = tmp_path / "clove.db"
    with SqliteStore(path) as store:
        store.write(
            touch("doc:keep#viewer@user:alice", "doc:keep#viewer@user:bob"), schema_text="v1"
        )
    inside = spawn.Event()
    open_store = functools.partial(SqliteStore, str(path))
    child = spawn.Process(target=die_while_writing, args=(open_store, how, inside))
    child.start()
    try:
        if how == "sigkill":
            assert inside.wait(timeout=120), "the child never got inside its write"
            os.kill(child.pid or 0, signal.SIGKILL)
        child.join(timeout=120)
    finally:
        if child.is_alive():
            child.kill()
            child.join()
    assert child.exitcode == (3 if how == "exit" else -signal.SIGKILL)
    with closing(sqlite3.connect(path)) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    with SqliteStore(path) as store:
        assert store.head_revision() == 1
        expected = ["doc:keep#viewer@user:alice", "doc:keep#viewer@user:bob"]
        assert everything(store.reader(1)) == expected
        assert store.reader(1).schema() == SchemaRecord(text="v1", revision=1)
        # The next write takes the dead write's revision; nothing of the dead one shows.
        assert store.write(touch("doc:after#viewer@user:carol")) == 2
        assert everything(store.reader(2)) == ["doc:after#viewer@user:carol", *expected]
        assert store.reader(2).schema() == SchemaRecord(text="v1", revision=1)
