"""Deep and cyclic data get the right answer, with no depth limit and no RecursionError."""

from __future__ import annotations

import clove

SCHEMA = """
definition user {}
definition group {
    relation member: user | group#member
}
definition folder {
    relation parent: folder
    relation viewer: user | group#member
    relation banned: user
    permission view = viewer + parent->view
    permission strict_view = (parent->strict_view + viewer) - banned
}
"""

DEPTH = 1000


def _db() -> clove.Database:
    db = clove.open()
    db.write_schema(SCHEMA)
    return db


def test_group_nested_a_thousand_levels() -> None:
    db = _db()
    rels = [f"group:g{i}#member@group:g{i + 1}#member" for i in range(DEPTH)]
    rels.append(f"group:g{DEPTH}#member@user:alice")
    db.write_relationships(rels)
    assert db.check("group:g0", "member", "user:alice")
    assert not db.check("group:g0", "member", "user:bob")
    assert db.check("group:g0", "member", f"group:g{DEPTH}#member")
    found = db.lookup_resources("group", "member", "user:alice")
    assert len(found) == DEPTH + 1
    subjects = db.lookup_subjects("group:g0", "member", "user")
    assert [s.subject_id for s in subjects] == ["alice"]


def test_folder_chain_a_thousand_deep_through_arrows_and_exclusions() -> None:
    db = _db()
    rels = [f"folder:f{i + 1}#parent@folder:f{i}" for i in range(DEPTH)]
    rels += ["folder:f0#viewer@user:alice", "folder:f0#viewer@user:mallory"]
    rels.append(f"folder:f{DEPTH // 2}#banned@user:mallory")
    db.write_relationships(rels)
    assert db.check(f"folder:f{DEPTH}", "view", "user:alice")
    assert db.check(f"folder:f{DEPTH}", "strict_view", "user:alice")
    assert db.check(f"folder:f{DEPTH}", "view", "user:mallory")
    assert not db.check(f"folder:f{DEPTH}", "strict_view", "user:mallory")
    assert db.check(f"folder:f{DEPTH // 2 - 1}", "strict_view", "user:mallory")
    strict = db.lookup_resources("folder", "strict_view", "user:mallory")
    assert len(strict) == DEPTH // 2


def test_cycle_of_groups() -> None:
    db = _db()
    db.write_relationships(
        [
            "group:a#member@group:b#member",
            "group:b#member@group:c#member",
            "group:c#member@group:a#member",
            "group:c#member@user:carol",
            "folder:x#viewer@group:a#member",
        ]
    )
    for group in "abc":
        assert db.check(f"group:{group}", "member", "user:carol")
        assert not db.check(f"group:{group}", "member", "user:dave")
        assert [s.subject_id for s in db.lookup_subjects(f"group:{group}", "member", "user")] == [
            "carol"
        ]
    assert db.check("folder:x", "view", "user:carol")
    assert [r.resource_id for r in db.lookup_resources("group", "member", "user:carol")] == [
        "a",
        "b",
        "c",
    ]


def test_folder_cycle_terminates() -> None:
    db = _db()
    db.write_relationships(
        [
            "folder:a#parent@folder:b",
            "folder:b#parent@folder:a",
            "folder:b#viewer@user:bob",
        ]
    )
    assert db.check("folder:a", "view", "user:bob")
    assert db.check("folder:a", "strict_view", "user:bob")
    assert not db.check("folder:a", "view", "user:eve")
