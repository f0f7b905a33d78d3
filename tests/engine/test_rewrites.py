"""Relations with rewrites, and what OpenFGA's semantics change, through the public API."""

from __future__ import annotations

import pytest

import clove
from clove.engine.expand import ExpandNode, expand
from clove.engine.typesystem import TypeSystem
from clove.relationships import Operation, RelationshipUpdate, parse_relationship
from clove.schema import ir
from clove.storage.memory import MemoryStore

MODEL = """\
model
  schema 1.1
type user
type group
  relations
    define member: [user, group#member]
type folder
  relations
    define viewer: [user, group#member]
type document
  relations
    define parent: [folder]
    define editor: [user]
    define blocked: [user]
    define viewer: [user, user:*, group#member] or editor or viewer from parent
    define reader: [user] and editor
    define commenter: [user] but not blocked
"""


@pytest.fixture
def db() -> clove.Database:
    database = clove.open()
    database.write_schema(MODEL)
    database.write_relationships(
        [
            "group:eng#member@user:anne",
            "folder:f1#viewer@user:finn",
            "document:d1#parent@folder:f1",
            "document:d1#viewer@group:eng#member",
            "document:d1#editor@user:ed",
            "document:d2#reader@user:ed",
            "document:d2#reader@user:rae",
            "document:d2#editor@user:rae",
            "document:d3#commenter@user:cat",
            "document:d3#commenter@user:bob",
            "document:d3#blocked@user:bob",
            "document:d4#viewer@user:*",
        ]
    )
    return database


def test_stored_relationships_join_the_rest_of_the_rewrite(db: clove.Database) -> None:
    for user in ("anne", "ed", "finn"):
        assert db.check("document:d1", "viewer", f"user:{user}"), user
    found = db.lookup_subjects("document:d1", "viewer", "user")
    assert [s.subject_id for s in found] == ["anne", "ed", "finn"]
    listed = db.lookup_resources("document", "viewer", "user:finn")
    assert [r.resource_id for r in listed] == ["d1", "d4"]


def test_stored_relationships_in_an_intersection_and_an_exclusion(db: clove.Database) -> None:
    assert db.check("document:d2", "reader", "user:rae")
    assert not db.check("document:d2", "reader", "user:ed")
    assert [r.resource_id for r in db.lookup_resources("document", "reader", "user:ed")] == []
    assert db.check("document:d3", "commenter", "user:cat")
    assert not db.check("document:d3", "commenter", "user:bob")
    found = db.lookup_subjects("document:d3", "commenter", "user")
    assert [s.subject_id for s in found] == ["cat"]


def test_a_public_document_is_listed_for_everyone(db: clove.Database) -> None:
    assert db.check("document:d4", "viewer", "user:anyone")
    assert db.check("document:d4", "viewer", "user:*")
    listed = db.lookup_resources("document", "viewer", "user:anyone")
    assert [r.resource_id for r in listed] == ["d4"]


def test_writes_to_a_rewritten_relation_follow_its_direct_types(db: clove.Database) -> None:
    with pytest.raises(clove.RelationshipTypeError, match="not allowed"):
        db.write_relationships(["document:d1#reader@user:*"])


def test_expand_shows_the_rewrite_with_the_stored_leaf() -> None:
    schema = ir.Schema(
        definitions=(
            ir.Definition(name="user"),
            ir.Definition(
                name="doc",
                relations=(
                    ir.Relation(name="owner", allowed=(ir.AllowedSubject(type="user"),)),
                    ir.Relation(
                        name="viewer",
                        allowed=(ir.AllowedSubject(type="user"),),
                        rewrite=ir.Union(children=(ir.This(), ir.RelationRef(name="owner"))),
                    ),
                ),
            ),
        )
    )
    store = MemoryStore()
    store.write(
        [
            RelationshipUpdate(operation=Operation.TOUCH, relationship=parse_relationship(text))
            for text in ("doc:d#viewer@user:v", "doc:d#owner@user:o")
        ]
    )
    tree = expand(TypeSystem(schema), store.reader(store.head_revision()), "doc", "d", "viewer")
    leaf = ExpandNode(object="doc:d", relation="viewer", operation="leaf", subjects=("user:v",))
    owners = ExpandNode(object="doc:d", relation="owner", operation="leaf", subjects=("user:o",))
    assert tree == ExpandNode(
        object="doc:d", relation="viewer", operation="union", children=(leaf, owners)
    )


CONDITIONAL = """\
model
  schema 1.1
type user
type document
  relations
    define viewer: [user with before_noon]
condition before_noon(hour: int) {
  hour < 12
}
"""


def test_openfga_semantics_make_a_missing_condition_parameter_an_error() -> None:
    db = clove.open()
    db.write_schema(CONDITIONAL)
    db.write_relationships(["document:d1#viewer@user:anne[before_noon]"])
    with pytest.raises(clove.ContextError, match=r"missing context parameters.*hour"):
        db.check("document:d1", "viewer", "user:anne")
    with pytest.raises(clove.ContextError, match="hour"):
        db.lookup_resources("document", "viewer", "user:anne")
    with pytest.raises(clove.ContextError, match="hour"):
        db.lookup_subjects("document:d1", "viewer", "user")
    assert db.check("document:d1", "viewer", "user:anne", context={"hour": 9})
    assert not db.check("document:d1", "viewer", "user:anne", context={"hour": 15})


def test_openfga_semantics_cap_the_resolution_depth() -> None:
    lines = ["model", "  schema 1.1", "type user", "type group", "  relations"]
    lines.append("    define member: [user, group#member]")
    db = clove.open()
    db.write_schema("\n".join(lines) + "\n")
    chain = [f"group:g{i}#member@group:g{i + 1}#member" for i in range(30)]
    db.write_relationships([*chain, "group:g30#member@user:anne"])
    assert db.check("group:g10", "member", "user:anne")
    with pytest.raises(clove.ResourceExhaustedError, match="resolution too complex"):
        db.check("group:g0", "member", "user:anne")


def test_openfga_semantics_ignore_stored_data_a_new_model_no_longer_allows() -> None:
    db = clove.open()
    db.write_schema(MODEL)
    db.write_relationships(["document:d1#editor@user:ed", "document:d1#blocked@user:bob"])
    db.write_schema(MODEL.replace("define editor: [user]", "define editor: [group#member]"))
    assert not db.check("document:d1", "editor", "user:ed")
    assert [str(r) for r in db.read_relationships("document:d1")] == [
        "document:d1#blocked@user:bob",
        "document:d1#editor@user:ed",
    ]
