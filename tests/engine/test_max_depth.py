"""``max_depth``: evaluations deeper than the limit fail clearly; shallower ones are unaffected."""

from __future__ import annotations

import pytest

import clove
from clove.errors import InvalidInputError, MaxDepthExceededError, ResourceExhaustedError

SCHEMA = """
definition user {}
definition group {
    relation member: user | group#member
}
definition folder {
    relation parent: folder
    relation viewer: user | group#member
    permission view = viewer + parent->view
}
"""
LIMIT = 10
CHAIN = 3 * LIMIT


def _db(max_depth: int | None) -> clove.Database:
    db = clove.open(max_depth=max_depth)
    db.write_schema(SCHEMA)
    rels = [f"folder:f{i + 1}#parent@folder:f{i}" for i in range(CHAIN)]
    rels += [f"group:g{i}#member@group:g{i + 1}#member" for i in range(CHAIN)]
    rels += ["folder:f0#viewer@user:alice", f"group:g{CHAIN}#member@user:bob"]
    db.write_relationships(rels)
    return db


def test_shallow_questions_are_answered_under_the_limit() -> None:
    db = _db(LIMIT)
    assert db.check(f"folder:f{LIMIT // 2}", "view", "user:alice")
    assert not db.check(f"folder:f{LIMIT // 2}", "view", "user:bob")
    assert db.check(f"group:g{CHAIN - LIMIT // 2}", "member", "user:bob")
    assert db.lookup_subjects(f"folder:f{LIMIT // 2}", "view", "user")[0].subject_id == "alice"


def test_deeper_checks_and_lookups_raise_max_depth_exceeded() -> None:
    db = _db(LIMIT)
    with pytest.raises(MaxDepthExceededError, match=f"more than {LIMIT} nested steps") as raised:
        db.check(f"folder:f{CHAIN}", "view", "user:alice")
    assert raised.value.limit == LIMIT
    assert isinstance(raised.value, ResourceExhaustedError)
    with pytest.raises(MaxDepthExceededError):
        db.check("group:g0", "member", "user:bob")
    with pytest.raises(MaxDepthExceededError):
        db.lookup_resources("folder", "view", "user:alice")
    with pytest.raises(MaxDepthExceededError):
        db.lookup_resources("group", "member", "user:bob")
    with pytest.raises(MaxDepthExceededError):
        db.lookup_subjects(f"folder:f{CHAIN}", "view", "user")


def test_without_a_limit_the_same_data_is_answered() -> None:
    db = _db(None)
    assert db.check(f"folder:f{CHAIN}", "view", "user:alice")
    assert db.check("group:g0", "member", "user:bob")
    assert len(db.lookup_resources("folder", "view", "user:alice")) == CHAIN + 1
    assert len(db.lookup_resources("group", "member", "user:bob")) == CHAIN + 1


def test_the_limit_must_be_positive() -> None:
    with pytest.raises(InvalidInputError, match="max_depth must be a positive integer"):
        clove.open(max_depth=0)
