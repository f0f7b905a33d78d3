"""Contextual relationships: seen by one request, validated, never written, on every backend."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import clove
from clove.relationships import Relationship
from storage.postgres_server import (
    store_url,
)

SCHEMA = """
definition user {}
definition group {
    relation member: user | group#member
}
definition document {
    relation viewer: user | group#member
    relation banned: user
    permission view = viewer - banned
}
"""


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[clove.Database]:
    with store_url(request.param, tmp_path, "contextual.db") as url:
        database = clove.open(url)
        database.write_schema(SCHEMA)
        database.write_relationships(["group:eng#member@user:alice", "document:d1#viewer@user:bob"])
        yield database
        database.close()


def test_check_sees_contextual_relationships_for_that_request_only(db: clove.Database) -> None:
    extra = ["document:d2#viewer@group:eng#member"]
    assert db.check("document:d2", "view", "user:alice", contextual_relationships=extra)
    assert not db.check("document:d2", "view", "user:alice")
    assert [str(rel) for rel in db.read_relationships("document")] == [
        "document:d1#viewer@user:bob"
    ]


def test_contextual_relationships_take_part_in_exclusions(db: clove.Database) -> None:
    banned = ["document:d1#banned@user:bob"]
    assert not db.check("document:d1", "view", "user:bob", contextual_relationships=banned)
    assert db.check("document:d1", "view", "user:bob")


def test_check_bulk_applies_them_to_every_item(db: clove.Database) -> None:
    extra = [
        Relationship(
            resource_type="group",
            resource_id="eng",
            relation="member",
            subject_type="user",
            subject_id="carol",
        ),
        "document:d1#viewer@group:eng#member",
    ]
    results = db.check_bulk(
        [("document:d1", "view", "user:alice"), ("document:d1", "view", "user:carol")],
        contextual_relationships=extra,
    )
    assert [bool(result) for result in results] == [True, True]
    assert not db.check("document:d1", "view", "user:carol")


def test_lookups_see_them(db: clove.Database) -> None:
    extra = ["document:d3#viewer@group:eng#member", "group:eng#member@user:dan"]
    found = db.lookup_resources("document", "view", "user:dan", contextual_relationships=extra)
    assert [r.resource_id for r in found] == ["d3"]
    subjects = db.lookup_subjects("document:d3", "view", "user", contextual_relationships=extra)
    assert [s.subject_id for s in subjects] == ["alice", "dan"]
    assert db.lookup_resources("document", "view", "user:dan") == []


@pytest.mark.parametrize(
    ("relationship", "message"),
    [
        ("folder:x#viewer@user:alice", "object definition `folder` not found"),
        ("document:d1#view@user:alice", "cannot write a relationship to permission `view`"),
        ("document:d1#viewer@group:eng", "subjects of type `group` are not allowed"),
        ("document:d1#viewer@user:*", "subjects of type `user:*` are not allowed"),
    ],
)
def test_contextual_relationships_are_validated_against_the_schema(
    db: clove.Database, relationship: str, message: str
) -> None:
    with pytest.raises(clove.ValidationError, match=re.escape(message)):
        db.check("document:d1", "view", "user:alice", contextual_relationships=[relationship])
    with pytest.raises(clove.ValidationError, match=re.escape(message)):
        db.lookup_subjects("document:d1", "view", "user", contextual_relationships=[relationship])


def test_malformed_contextual_relationships_are_syntax_errors(db: clove.Database) -> None:
    with pytest.raises(clove.RelationshipSyntaxError):
        db.lookup_resources("document", "view", "user:a", contextual_relationships=["nope"])
