"""The embedded API: writes, consistency, caveats, expiration, paging and bad input."""

from __future__ import annotations

import pytest

import clove
from clove import Operation, Precondition, PreconditionKind, RelationshipFilter, RelationshipUpdate

SCHEMA = """
use expiration

definition user {}

definition group {
    relation member: user | group#member
}

caveat on_network(client_ip ipaddress, allowed string) {
    client_ip.in_cidr(allowed)
}

definition document {
    relation viewer: user | user:* | group#member | user with on_network | user with expiration
    relation banned: user
    permission view = viewer - banned
}
"""


@pytest.fixture(params=["memory", "sqlite"])
def db(request: pytest.FixtureRequest, tmp_path: object) -> clove.Database:
    url = "memory" if request.param == "memory" else f"sqlite://{tmp_path}/t.db"
    database = clove.open(url)
    database.write_schema(SCHEMA)
    yield database  # type: ignore[misc]
    database.close()


def test_check_with_groups_and_exclusion(db: clove.Database) -> None:
    db.write_relationships(
        [
            "group:eng#member@user:alice",
            "document:1#viewer@group:eng#member",
            "document:1#viewer@user:mallory",
            "document:1#banned@user:mallory",
        ]
    )
    assert db.check("document:1", "view", "user:alice")
    assert db.check("document:1", "view", "group:eng#member")
    assert not db.check("document:1", "view", "user:mallory")
    result = db.check("document:1", "view", "user:nobody")
    assert result.permissionship == clove.Permissionship.NO
    assert not result


def test_caveats_conditional_and_decided(db: clove.Database) -> None:
    db.write_relationships(['document:2#viewer@user:bob[on_network:{"allowed":"10.0.0.0/8"}]'])
    conditional = db.check("document:2", "view", "user:bob")
    assert conditional.permissionship == "conditional"
    assert conditional.missing_context == ("client_ip",)
    assert not conditional
    assert db.check("document:2", "view", "user:bob", context={"client_ip": "10.1.2.3"})
    assert not db.check("document:2", "view", "user:bob", context={"client_ip": "192.168.1.1"})
    with pytest.raises(clove.ContextError):
        db.check("document:2", "view", "user:bob", context={"client_ip": "not-an-ip"})


def test_expired_relationships_are_invisible(db: clove.Database) -> None:
    db.write_relationships(
        [
            "document:3#viewer@user:old[expiration:2020-01-01T00:00:00Z]",
            "document:3#viewer@user:new[expiration:2300-01-01T00:00:00Z]",
        ]
    )
    assert not db.check("document:3", "view", "user:old")
    assert db.check("document:3", "view", "user:new")
    assert [r.subject_id for r in db.read_relationships("document:3")] == ["new"]
    assert db.delete_expired() == 1


def test_write_operations_and_preconditions(db: clove.Database) -> None:
    alice = clove.parse_relationship("document:4#viewer@user:alice")
    db.write_relationships([RelationshipUpdate(operation=Operation.CREATE, relationship=alice)])
    with pytest.raises(clove.RelationshipExistsError):
        db.write_relationships(
            [
                "document:4#viewer@user:bob",
                RelationshipUpdate(operation=Operation.CREATE, relationship=alice),
            ]
        )
    assert not db.check("document:4", "view", "user:bob"), "a failed write applied nothing"
    must_not = Precondition(
        kind=PreconditionKind.MUST_NOT_MATCH,
        filter=RelationshipFilter(resource_type="document", resource_id="4"),
    )
    with pytest.raises(clove.PreconditionFailedError):
        db.write_relationships(["document:4#viewer@user:carol"], preconditions=[must_not])
    assert not db.check("document:4", "view", "user:carol")
    db.write_relationships([RelationshipUpdate(operation=Operation.DELETE, relationship=alice)])
    assert not db.check("document:4", "view", "user:alice")


def test_bad_relationships_are_rejected_before_anything_is_written(db: clove.Database) -> None:
    for bad in (
        "document:5#viewer@user:ok",
        "document:5#nosuch@user:x",
        "document:5#view@user:x",
        "document:5#banned@user:*",
        "nosuch:5#viewer@user:x",
        "document:5#viewer@group:eng",
    ):
        if bad.endswith("ok"):
            continue
        with pytest.raises(clove.ValidationError):
            db.write_relationships(["document:5#viewer@user:ok", bad])
    with pytest.raises(clove.RelationshipSyntaxError):
        db.write_relationships(["document:5#viewer@user:ok", "not a relationship"])
    assert not db.check("document:5", "view", "user:ok")


def test_tokens_snapshots_and_other_stores(db: clove.Database) -> None:
    first = db.write_relationships(["document:6#viewer@user:a"])
    db.delete_relationships("document:6#viewer@user:a")
    assert not db.check("document:6", "view", "user:a")
    snapshot = clove.Consistency.at_exact_snapshot(first)
    assert db.check("document:6", "view", "user:a", consistency=snapshot)
    fresh = clove.Consistency.at_least_as_fresh(first)
    assert not db.check("document:6", "view", "user:a", consistency=fresh)
    other = clove.open()
    other.write_schema(SCHEMA)
    foreign = other.write_relationships(["document:6#viewer@user:a"])
    with pytest.raises(clove.TokenError):
        db.check(
            "document:6", "view", "user:a", consistency=clove.Consistency.at_least_as_fresh(foreign)
        )
    with pytest.raises(clove.TokenError):
        db.check(
            "document:6", "view", "user:a", consistency=clove.Consistency.at_exact_snapshot("junk")
        )


def test_lookups_page_with_after_and_limit(db: clove.Database) -> None:
    db.write_relationships([f"document:d{i:02}#viewer@user:pat" for i in range(25)])
    pages = []
    after = None
    while True:
        page = db.lookup_resources("document", "view", "user:pat", limit=10, after=after)
        if not page:
            break
        pages.append([r.resource_id for r in page])
        after = page[-1].resource_id
    assert [len(p) for p in pages] == [10, 10, 5]
    assert [rid for page in pages for rid in page] == [f"d{i:02}" for i in range(25)]
    rels = list(db.read_relationships("document", limit=7))
    assert len(rels) == 7
    rest = list(db.read_relationships("document", after=rels[-1]))
    assert len(rels) + len(rest) == 25


def test_wildcards_and_lookup_subjects(db: clove.Database) -> None:
    db.write_relationships(
        ["document:7#viewer@user:*", "document:7#banned@user:eve", "document:7#viewer@user:al"]
    )
    found = {s.subject_id: s for s in db.lookup_subjects("document:7", "view", "user")}
    assert set(found) == {"*", "al"}
    assert found["*"].excluded_subject_ids == ("eve",)
    assert db.check("document:7", "view", "user:anyone")
    assert not db.check("document:7", "view", "user:eve")


def test_check_bulk_and_expand(db: clove.Database) -> None:
    db.write_relationships(["document:8#viewer@user:a", "document:8#banned@user:b"])
    results = db.check_bulk([("document:8", "view", "user:a"), ("document:8", "view", "user:b")])
    assert [bool(r) for r in results] == [True, False]
    tree = db.expand("document:8", "view")
    assert tree.operation == "exclusion"
    assert tree.children[0].subjects == ("user:a",)


def test_unknown_names_and_schema_errors(db: clove.Database) -> None:
    with pytest.raises(clove.UnknownTypeError):
        db.check("document:1", "nosuch", "user:a")
    with pytest.raises(clove.UnknownTypeError):
        db.check("nosuch:1", "view", "user:a")
    with pytest.raises(clove.SchemaError) as error:
        db.write_schema("definition user {}\ndefinition doc {\n  relation viewer: usr\n}")
    assert error.value.line == 3


def test_schema_change_that_would_orphan_data_is_refused(db: clove.Database) -> None:
    db.write_relationships(["document:9#banned@user:x"])
    with pytest.raises(clove.SchemaError, match="document#banned"):
        db.write_schema("definition user {}\ndefinition document { relation viewer: user }")
    assert "banned" in db.read_schema()


def test_relationship_context_overrides_request_context_before_conversion(
    db: clove.Database,
) -> None:
    db.write_relationships(
        ['document:10#viewer@user:bob[on_network:{"allowed":"10.0.0.0/8","client_ip":"10.9.9.9"}]']
    )
    # The request's values lose to the stored ones, even a value that would not convert.
    for client_ip in ("192.168.1.1", "not-an-ip"):
        result = db.check("document:10", "view", "user:bob", context={"client_ip": client_ip})
        assert result.permissionship == clove.Permissionship.HAS


def test_snapshot_names_the_revision_a_read_would_see() -> None:
    db = clove.open()
    db.write_schema(SCHEMA)
    first = db.write_relationships(["document:d#viewer@user:a"])
    assert db.snapshot(consistency="full") == first
    assert db.snapshot(consistency=clove.Consistency.at_exact_snapshot(first)) == first
    db.write_relationships(["document:d#banned@user:a"])
    pinned = clove.Consistency.at_exact_snapshot(first)
    assert db.check("document:d", "view", "user:a", consistency=pinned)
    assert db.snapshot(consistency="full") != first
    with pytest.raises(clove.TokenError):
        db.snapshot(consistency=clove.Consistency.at_least_as_fresh("junk"))
