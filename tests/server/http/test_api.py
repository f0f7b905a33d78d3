"""Clove's JSON API (``/v1``) over real HTTP: schema, relationships, checks, lookups."""

from __future__ import annotations

from typing import Any

import pytest

import clove
from server.http.conftest import SCHEMA
from server.http.http_support import HttpClient

pytestmark = pytest.mark.usefixtures("dataset")


def write(client: HttpClient, *updates: tuple[str, Any], **extra: Any) -> Any:
    body = {"updates": [{"operation": op, "relationship": rel} for op, rel in updates], **extra}
    return client.post("/v1/relationships/write", body)


def notes(client: HttpClient, **filter_: Any) -> list[Any]:
    reply = client.post(
        "/v1/relationships/read",
        {"filter": {"resource_type": "note", **filter_}, "consistency": {"mode": "full"}},
    )
    assert reply.status == 200, reply.body
    return reply.json()["relationships"]


@pytest.fixture
def clean_notes(client: HttpClient) -> Any:
    client.post("/v1/relationships/delete", {"filter": {"resource_type": "note"}})
    yield
    client.post("/v1/relationships/delete", {"filter": {"resource_type": "note"}})


def test_schema_reads_back(client: HttpClient) -> None:
    reply = client.get("/v1/schema")
    assert reply.status == 200
    assert reply.json()["schema"] == SCHEMA
    assert reply.json()["consistency_token"] == reply.headers["clove-consistency-token"]


def test_schema_write_is_idempotent_and_errors_name_line_and_column(client: HttpClient) -> None:
    again = client.request("PUT", "/v1/schema", {"schema": SCHEMA})
    assert again.status == 200
    assert again.json()["consistency_token"].startswith("CLV1")
    broken = client.request(
        "PUT", "/v1/schema", {"schema": "definition user {\n  relation x: nope\n}"}
    )
    assert broken.status == 400
    error = broken.json()
    assert error["code"] == "invalid_schema"
    assert (error["line"], error["column"]) != (None, None)
    assert error["message"].startswith(f"{error['line']}:{error['column']}: ")


def test_schema_write_that_would_orphan_data_is_refused(client: HttpClient) -> None:
    reply = client.request("PUT", "/v1/schema", {"schema": "definition user {}"})
    assert reply.status == 400
    assert "delete them first" in reply.json()["message"]


def test_write_text_and_object_forms(client: HttpClient, clean_notes: None) -> None:
    reply = write(
        client,
        ("create", "note:a#writer@user:ann"),
        ("touch", {"resource": "note:b", "relation": "writer", "subject": "user:ben"}),
        (
            "touch",
            {
                "resource": "note:c",
                "relation": "writer",
                "subject": "user:cat",
                "expiration": "2999-01-01T00:00:00Z",
            },
        ),
    )
    assert reply.status == 200, reply.body
    assert notes(client) == [
        {"resource": "note:a", "relation": "writer", "subject": "user:ann"},
        {"resource": "note:b", "relation": "writer", "subject": "user:ben"},
        {
            "resource": "note:c",
            "relation": "writer",
            "subject": "user:cat",
            "expiration": "2999-01-01T00:00:00Z",
        },
    ]


def test_create_of_an_existing_relationship_conflicts(
    client: HttpClient, clean_notes: None
) -> None:
    assert write(client, ("create", "note:a#writer@user:ann")).status == 200
    again = write(client, ("create", "note:a#writer@user:ann"))
    assert again.status == 409
    assert again.json()["code"] == "already_exists"


def test_preconditions(client: HttpClient, clean_notes: None) -> None:
    guard = {"kind": "must_match", "filter": {"resource_type": "note", "resource_id": "a"}}
    failed = write(client, ("touch", "note:b#writer@user:ben"), preconditions=[guard])
    assert failed.status == 409
    assert failed.json()["code"] == "precondition_failed"
    assert notes(client) == []
    write(client, ("touch", "note:a#writer@user:ann"))
    assert write(client, ("touch", "note:b#writer@user:ben"), preconditions=[guard]).status == 200
    forbid = {"kind": "must_not_match", "filter": {"resource_type": "note", "subject_id": "ann"}}
    deleted = client.post(
        "/v1/relationships/delete",
        {"filter": {"resource_type": "note", "resource_id": "b"}, "preconditions": [forbid]},
    )
    assert deleted.status == 409
    assert len(notes(client)) == 2


def test_delete_by_filter(client: HttpClient, clean_notes: None) -> None:
    write(client, *[("touch", f"note:n{i}#writer@user:u{i % 3}") for i in range(9)])
    reply = client.post(
        "/v1/relationships/delete", {"filter": {"resource_type": "note", "subject_id": "u1"}}
    )
    assert reply.status == 200
    assert [r["subject"] for r in notes(client)].count("user:u1") == 0
    assert len(notes(client)) == 6
    write(client, ("delete", "note:n0#writer@user:u0"))
    assert len(notes(client)) == 5


def test_write_validation_errors(client: HttpClient) -> None:
    wrong_type = write(client, ("touch", "note:a#writer@group:eng"))
    assert wrong_type.status == 400
    assert wrong_type.json()["code"] == "failed_precondition"
    unknown = write(client, ("touch", "nope:a#writer@user:x"))
    assert unknown.status == 404
    syntax = write(
        client, ("touch", {"resource": "note", "relation": "writer", "subject": "user:x"})
    )
    assert syntax.status == 400
    assert syntax.json()["message"] == (
        "invalid updates[0].relationship.resource 'note': expected `type:id` "
        "(the id 1 to 1024 letters, digits or /_|-=+)"
    )
    bad_op = client.post(
        "/v1/relationships/write",
        {"updates": [{"operation": "upsert", "relationship": "note:a#writer@user:x"}]},
    )
    assert bad_op.status == 400
    assert "updates[0].operation" in bad_op.json()["message"]


@pytest.mark.parametrize("limit", [1, 13, 200])
def test_read_pages_match_the_engine(
    client: HttpClient, engine: clove.Database, limit: int
) -> None:
    found: list[Any] = []
    token = ""
    while True:
        page: dict[str, Any] = {"limit": limit}
        if token:
            page["token"] = token
        reply = client.post(
            "/v1/relationships/read", {"filter": {"resource_type": "document"}, "page": page}
        )
        assert reply.status == 200, reply.body
        found.extend(reply.json()["relationships"])
        token = reply.json()["page"]["next_token"]
        if not token:
            break
    expected = list(engine.read_relationships("document", consistency="full"))
    assert [f"{r['resource']}#{r['relation']}@{r['subject']}" for r in found] == [
        f"{r.resource}#{r.relation}@{r.subject}" for r in expected
    ]
    caveated = [r for r in found if "caveat" in r]
    assert caveated
    assert caveated[0]["caveat"] == {"name": "on_network", "context": {"allowed": "10.0.0.0/8"}}


def test_check(client: HttpClient) -> None:
    body = {"resource": "document:doc001", "permission": "view", "subject": "user:alice"}
    reply = client.post("/v1/check", body)
    assert reply.json()["permissionship"] == "conditional"
    assert reply.json()["missing_context"] == ["client_ip"]
    with_context = client.post("/v1/check", {**body, "context": {"client_ip": "10.0.0.1"}})
    assert with_context.json()["permissionship"] == "has"
    subject_set = client.post(
        "/v1/check",
        {"resource": "document:doc003", "permission": "view", "subject": "group:eng#member"},
    )
    assert subject_set.json()["permissionship"] == "has"
    unknown = client.post("/v1/check", {**body, "permission": "fly"})
    assert unknown.status == 404
    assert unknown.json()["message"] == (
        "relation/permission `fly` not found under definition `document`"
    )


def test_check_bulk_matches_the_engine(client: HttpClient, engine: clove.Database) -> None:
    items = [
        {"resource": f"document:doc{i:03d}", "permission": perm, "subject": f"user:{who}"}
        for i in range(0, 30, 3)
        for perm in ("view", "edit")
        for who in ("alice", "dave")
    ]
    reply = client.post("/v1/check/bulk", {"items": items[:50]})
    assert reply.status == 200, reply.body
    expected = engine.check_bulk(
        [(item["resource"], item["permission"], item["subject"]) for item in items[:50]],
        consistency="full",
    )
    assert [r["permissionship"] for r in reply.json()["results"]] == [
        str(r.permissionship) for r in expected
    ]


@pytest.mark.parametrize("limit", [1, 9, 200])
def test_lookup_resources_pages_include_conditional(
    client: HttpClient, engine: clove.Database, limit: int
) -> None:
    found: list[Any] = []
    token = ""
    while True:
        page: dict[str, Any] = {"limit": limit}
        if token:
            page["token"] = token
        body = {"resource_type": "document", "permission": "view", "subject": "user:alice"}
        answer = client.post("/v1/lookup/resources", {**body, "page": page}).json()
        found.extend(answer["resources"])
        token = answer["page"]["next_token"]
        if not token:
            break
    expected = engine.lookup_resources("document", "view", "user:alice", consistency="full")
    assert [(r["id"], r["permissionship"]) for r in found] == [
        (r.resource_id, str(r.permissionship)) for r in expected
    ]
    assert any(r["permissionship"] == "conditional" for r in found)


@pytest.mark.parametrize("limit", [1, 11, 200])
def test_lookup_subjects_pages(client: HttpClient, engine: clove.Database, limit: int) -> None:
    found: list[Any] = []
    token = ""
    while True:
        page: dict[str, Any] = {"limit": limit}
        if token:
            page["token"] = token
        body = {"resource": "document:popular", "permission": "view", "subject_type": "user"}
        answer = client.post("/v1/lookup/subjects", {**body, "page": page}).json()
        found.extend(answer["subjects"])
        token = answer["page"]["next_token"]
        if not token:
            break
    expected = engine.lookup_subjects("document:popular", "view", "user", consistency="full")
    assert [(s["id"], s["permissionship"]) for s in found] == [
        (s.subject_id, str(s.permissionship)) for s in expected
    ]


def test_lookup_subjects_of_a_subject_relation(client: HttpClient) -> None:
    body = {
        "resource": "document:doc003",
        "permission": "view",
        "subject_type": "group",
        "subject_relation": "member",
    }
    answer = client.post("/v1/lookup/subjects", body).json()
    assert [s["id"] for s in answer["subjects"]] == ["eng"]


def test_consistency_in_the_body(client: HttpClient) -> None:
    token = write(client, ("touch", "note:z#writer@user:zoe")).json()["consistency_token"]
    body = {"resource": "note:z", "permission": "write", "subject": "user:zoe"}
    fresh = client.post(
        "/v1/check", {**body, "consistency": {"mode": "at_least_as_fresh", "token": token}}
    )
    assert fresh.json()["permissionship"] == "has"
    no_token = client.post("/v1/check", {**body, "consistency": {"mode": "at_exact_snapshot"}})
    assert no_token.status == 400
    assert no_token.json()["message"] == "consistency at_exact_snapshot needs a token"
    bad_token = client.post(
        "/v1/check", {**body, "consistency": {"mode": "at_least_as_fresh", "token": "junk"}}
    )
    assert bad_token.status == 400
    assert bad_token.json()["message"] == "malformed consistency token 'junk'"
    client.post("/v1/relationships/delete", {"filter": {"resource_type": "note"}})


def test_expand_matches_the_engine(client: HttpClient, engine: clove.Database) -> None:
    reply = client.post("/v1/expand", {"resource": "document:doc042", "permission": "view"})
    assert reply.status == 200, reply.body
    tree = reply.json()["tree"]

    def shape(node: Any) -> Any:
        return (
            node["object"],
            node["relation"],
            node["operation"],
            tuple(shape(child) for child in node.get("children", [])),
            tuple(node.get("subjects", [])),
        )

    def engine_shape(node: clove.ExpandNode) -> Any:
        children = tuple(engine_shape(child) for child in node.children)
        return (node.object, node.relation, node.operation, children, node.subjects)

    expected = engine.expand("document:doc042", "view", consistency="full")
    assert shape(tree) == engine_shape(expected)
    assert tree["operation"] == "exclusion"
    unknown = client.post("/v1/expand", {"resource": "document:doc042", "permission": "fly"})
    assert unknown.status == 404
