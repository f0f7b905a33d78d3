"""AuthZEN 1.0 over real HTTP: evaluations, the three batch semantics, paged searches."""

from __future__ import annotations

from typing import Any

import pytest

import clove
from server.http.http_support import HttpClient

pytestmark = pytest.mark.usefixtures("dataset")


def user(name: str, **properties: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "user", "id": name}
    if properties:
        body["properties"] = properties
    return body


def doc(name: str) -> dict[str, Any]:
    return {"type": "document", "id": name}


def evaluate(client: HttpClient, subject: Any, action: str, resource: Any, **extra: Any) -> Any:
    body = {"subject": subject, "action": {"name": action}, "resource": resource, **extra}
    reply = client.post("/access/v1/evaluation", body)
    assert reply.status == 200, reply.body
    return reply.json()


def test_evaluation_permits_and_denies(client: HttpClient) -> None:
    assert evaluate(client, user("alice"), "view", doc("doc000"))["decision"] is True
    assert evaluate(client, user("alice"), "view", doc("doc003"))["decision"] is True  # via group
    assert evaluate(client, user("carol"), "view", doc("doc041"))["decision"] is True  # via folder
    assert evaluate(client, user("alice"), "view", doc("doc012"))["decision"] is False  # banned
    assert evaluate(client, user("bob"), "edit", doc("doc000"))["decision"] is False
    assert evaluate(client, user("anyone"), "view", doc("public"))["decision"] is True
    assert evaluate(client, user("mallory"), "view", doc("public"))["decision"] is False


def test_evaluation_returns_the_snapshot_token(client: HttpClient, dataset: str) -> None:
    reply = client.post(
        "/access/v1/evaluation",
        {"subject": user("alice"), "action": {"name": "view"}, "resource": doc("doc000")},
        headers={"X-Request-ID": "req-42"},
    )
    token = reply.json()["context"]["consistency_token"]
    assert reply.headers["clove-consistency-token"] == token
    assert reply.headers["x-request-id"] == "req-42"
    assert token.startswith("CLV1")


def test_conditional_is_a_deny_naming_the_missing_context(client: HttpClient) -> None:
    answer = evaluate(client, user("alice"), "view", doc("doc001"))
    assert answer["decision"] is False
    assert answer["context"]["reason"] == "conditional"
    assert answer["context"]["missing_context"] == ["client_ip"]


@pytest.mark.parametrize(
    ("where", "ip", "decision"),
    [
        ("context", "10.1.2.3", True),
        ("context", "192.168.0.1", False),
        ("subject", "10.1.2.3", True),
        ("resource", "10.9.9.9", True),
        ("action", "11.0.0.1", False),
    ],
)
def test_properties_and_context_feed_caveats(
    client: HttpClient, where: str, ip: str, decision: bool
) -> None:
    subject, resource = user("alice"), doc("doc001")
    action: dict[str, Any] = {"name": "view"}
    body: dict[str, Any] = {}
    value = {"client_ip": ip}
    if where == "context":
        body["context"] = value
    elif where == "subject":
        subject["properties"] = value
    elif where == "resource":
        resource["properties"] = value
    else:
        action["properties"] = value
    body.update(subject=subject, action=action, resource=resource)
    reply = client.post("/access/v1/evaluation", body)
    assert reply.status == 200, reply.body
    assert reply.json()["decision"] is decision
    assert "missing_context" not in reply.json().get("context", {})


def test_conflicting_context_keys_are_refused(client: HttpClient) -> None:
    reply = client.post(
        "/access/v1/evaluation",
        {
            "subject": user("alice", client_ip="10.0.0.1"),
            "action": {"name": "view"},
            "resource": doc("doc001"),
            "context": {"client_ip": "11.0.0.1"},
        },
    )
    assert reply.status == 400
    assert "client_ip" in reply.json()["message"]
    assert "subject.properties" in reply.json()["message"]


def test_read_after_write_with_the_returned_token(client: HttpClient) -> None:
    written = client.post(
        "/v1/relationships/write",
        {"updates": [{"operation": "touch", "relationship": "document:fresh#viewer@user:newbie"}]},
    ).json()["consistency_token"]
    body = {
        "subject": user("newbie"),
        "action": {"name": "view"},
        "resource": doc("fresh"),
        "context": {"consistency_token": written},
    }
    answer = client.post("/access/v1/evaluation", body).json()
    assert answer["decision"] is True
    header = client.post(
        "/access/v1/evaluation",
        {"subject": user("newbie"), "action": {"name": "view"}, "resource": doc("fresh")},
        headers={"Clove-Consistency-Token": written},
    )
    assert header.json()["decision"] is True
    client.post(
        "/v1/relationships/delete",
        {"filter": {"resource_type": "document", "resource_id": "fresh"}},
    )


def test_exact_snapshot_reads_the_past(client: HttpClient) -> None:
    before = client.post(
        "/v1/relationships/write",
        {"updates": [{"operation": "touch", "relationship": "note:n1#writer@user:ann"}]},
    ).json()["consistency_token"]
    client.post(
        "/v1/relationships/delete", {"filter": {"resource_type": "note", "resource_id": "n1"}}
    )
    question = {
        "subject": user("ann"),
        "action": {"name": "write"},
        "resource": {"type": "note", "id": "n1"},
    }
    now = client.post("/access/v1/evaluation", question, headers={"Clove-Consistency": "full"})
    assert now.json()["decision"] is False
    past = client.post(
        "/access/v1/evaluation",
        question,
        headers={"Clove-Consistency": "at_exact_snapshot", "Clove-Consistency-Token": before},
    )
    assert past.json()["decision"] is True
    assert past.json()["context"]["consistency_token"] == before


# --- evaluations ----------------------------------------------------------------------------

BATCH = [
    {"resource": doc("doc000")},  # permit
    {"resource": doc("doc001")},  # conditional: deny
    {"resource": doc("doc002")},  # permit
    {"resource": doc("doc005")},  # deny
    {"resource": doc("doc006")},  # permit
]


def evaluations(client: HttpClient, semantic: str | None, items: list[Any]) -> list[Any]:
    body: dict[str, Any] = {
        "subject": user("alice"),
        "action": {"name": "view"},
        "evaluations": items,
    }
    if semantic is not None:
        body["options"] = {"evaluations_semantic": semantic}
    reply = client.post("/access/v1/evaluations", body)
    assert reply.status == 200, reply.body
    assert reply.json()["context"]["consistency_token"] == reply.headers["clove-consistency-token"]
    return [item["decision"] for item in reply.json()["evaluations"]]


def test_evaluations_execute_all(client: HttpClient) -> None:
    assert evaluations(client, None, BATCH) == [True, False, True, False, True]
    assert evaluations(client, "execute_all", BATCH) == [True, False, True, False, True]


def test_evaluations_deny_on_first_deny(client: HttpClient) -> None:
    assert evaluations(client, "deny_on_first_deny", BATCH) == [True, False]
    assert evaluations(client, "deny_on_first_deny", [BATCH[0], BATCH[2]]) == [True, True]


def test_evaluations_permit_on_first_permit(client: HttpClient) -> None:
    assert evaluations(client, "permit_on_first_permit", BATCH) == [True]
    assert evaluations(client, "permit_on_first_permit", BATCH[1:]) == [False, True]
    assert evaluations(client, "permit_on_first_permit", [BATCH[1], BATCH[3]]) == [False, False]


def test_evaluations_items_override_defaults(client: HttpClient) -> None:
    items = [
        {},  # all defaults: alice views doc000
        {"subject": user("dave"), "action": {"name": "edit"}},  # dave edits doc000
        {"action": {"name": "delete"}},  # alice may not delete doc000
        {"resource": doc("doc001"), "context": {"client_ip": "10.0.0.9"}},
    ]
    body = {
        "subject": user("alice"),
        "action": {"name": "view"},
        "resource": doc("doc000"),
        "context": {"client_ip": "192.168.1.1"},
        "evaluations": items,
    }
    reply = client.post("/access/v1/evaluations", body)
    assert [item["decision"] for item in reply.json()["evaluations"]] == [True, True, False, True]


def test_evaluations_without_items_is_a_single_evaluation(client: HttpClient) -> None:
    body = {"subject": user("alice"), "action": {"name": "view"}, "resource": doc("doc000")}
    assert client.post("/access/v1/evaluations", body).json()["decision"] is True


def test_an_item_error_denies_that_item_only(client: HttpClient) -> None:
    items = [
        {"resource": doc("doc000")},
        {"resource": {"type": "nope", "id": "x"}},
        {"resource": doc("doc002")},
    ]
    body = {"subject": user("alice"), "action": {"name": "view"}, "evaluations": items}
    answers = client.post("/access/v1/evaluations", body).json()["evaluations"]
    assert [answer["decision"] for answer in answers] == [True, False, True]
    assert answers[1]["context"]["error"] == {
        "status": 404,
        "code": "not_found",
        "message": "object definition `nope` not found",
    }
    missing = [{"resource": doc("doc000"), "action": {"name": "nope"}}, {"resource": doc("doc000")}]
    answers = client.post("/access/v1/evaluations", {**body, "evaluations": missing}).json()
    assert [answer["decision"] for answer in answers["evaluations"]] == [False, True]
    assert answers["evaluations"][0]["context"]["error"]["status"] in (400, 404)


def test_a_malformed_item_refuses_the_batch_naming_it(client: HttpClient) -> None:
    """A malformed id is the request's shape, as SpiceDB validates a whole CheckBulk request;
    only what evaluation finds (unknown names, caveat errors) denies one item."""
    items = [{"resource": doc("doc000")}, {"resource": {"type": "document", "id": "no spaces"}}]
    body = {"subject": user("alice"), "action": {"name": "view"}, "evaluations": items}
    reply = client.post("/access/v1/evaluations", body)
    assert reply.status == 400
    assert reply.json()["message"] == (
        "invalid evaluations[1].resource.id 'no spaces': expected an object id "
        "(1 to 1024 letters, digits or /_|-=+)"
    )


def test_evaluations_missing_defaults_name_the_item(client: HttpClient) -> None:
    body = {
        "subject": user("alice"),
        "evaluations": [
            {"action": {"name": "view"}, "resource": doc("doc000")},
            {"resource": doc("doc000")},
        ],
    }
    reply = client.post("/access/v1/evaluations", body)
    assert reply.status == 400
    assert reply.json()["message"] == "evaluations[1].action is required (no default given)"


def test_evaluations_batch_limit(client: HttpClient) -> None:
    body = {
        "subject": user("alice"),
        "action": {"name": "view"},
        "evaluations": [{"resource": doc("doc000")}] * 51,
    }
    reply = client.post("/access/v1/evaluations", body)
    assert reply.status == 400
    assert "at most 50 evaluations" in reply.json()["message"]


# --- searches -------------------------------------------------------------------------------


def all_pages(
    client: HttpClient, path: str, body: dict[str, Any], limit: int
) -> tuple[list[Any], int]:
    """Every result of a search, page by page; also how many pages it took."""
    results: list[Any] = []
    pages = 0
    token = None
    while True:
        page: dict[str, Any] = {"limit": limit}
        if token:
            page["token"] = token
        reply = client.post(path, {**body, "page": page})
        assert reply.status == 200, reply.body
        answer = reply.json()
        pages += 1
        assert len(answer["results"]) <= limit
        assert answer["page"]["count"] == len(answer["results"])
        results.extend(answer["results"])
        token = answer["page"]["next_token"]
        if not token:
            return results, pages
        assert pages < 100


@pytest.mark.parametrize("limit", [1, 7, 200])
@pytest.mark.parametrize("who", ["alice", "carol", "dave", "erin", "mallory"])
def test_resource_search_pages_match_the_engine(
    client: HttpClient, engine: clove.Database, who: str, limit: int
) -> None:
    body = {"subject": user(who), "action": {"name": "view"}, "resource": {"type": "document"}}
    results, pages = all_pages(client, "/access/v1/search/resource", body, limit)
    expected = [
        r.resource_id
        for r in engine.lookup_resources("document", "view", f"user:{who}", consistency="full")
        if r.permissionship == "has"
    ]
    assert [r["id"] for r in results] == expected
    assert all(r["type"] == "document" for r in results)
    if limit == 1 and len(expected) > 1:
        assert pages >= len(expected)


@pytest.mark.parametrize("limit", [1, 6, 200])
@pytest.mark.parametrize("resource", ["popular", "doc000", "doc045", "public"])
def test_subject_search_pages_match_the_engine(
    client: HttpClient, engine: clove.Database, resource: str, limit: int
) -> None:
    body = {"subject": {"type": "user"}, "action": {"name": "view"}, "resource": doc(resource)}
    results, _ = all_pages(client, "/access/v1/search/subject", body, limit)
    expected = [
        s
        for s in engine.lookup_subjects(f"document:{resource}", "view", "user", consistency="full")
        if s.permissionship == "has"
    ]
    assert [r["id"] for r in results] == [s.subject_id for s in expected]
    for got, want in zip(results, expected, strict=True):
        excluded = got.get("properties", {}).get("excluded_ids", [])
        assert excluded == list(want.excluded_subject_ids)


def test_subject_search_with_context_includes_caveated_subjects(client: HttpClient) -> None:
    body = {
        "subject": {"type": "user"},
        "action": {"name": "view"},
        "resource": doc("popular"),
        "context": {"client_ip": "10.0.0.1"},
    }
    results, _ = all_pages(client, "/access/v1/search/subject", body, 50)
    assert "zed" in [r["id"] for r in results]


@pytest.mark.parametrize("limit", [1, 2, 200])
@pytest.mark.parametrize(
    ("who", "resource"), [("erin", "doc000"), ("alice", "doc000"), ("bob", "doc005")]
)
def test_action_search_pages_match_the_engine(
    client: HttpClient, engine: clove.Database, who: str, resource: str, limit: int
) -> None:
    body = {"subject": user(who), "resource": doc(resource)}
    results, _ = all_pages(client, "/access/v1/search/action", body, limit)
    expected = [
        name
        for name in ("delete", "edit", "view")
        if engine.check(f"document:{resource}", name, f"user:{who}", consistency="full")
    ]
    assert [r["name"] for r in results] == expected


def test_pages_stay_on_their_snapshot(client: HttpClient) -> None:
    """A write between two pages does not change the listing the token pages through."""
    body = {"subject": user("alice"), "action": {"name": "view"}, "resource": {"type": "document"}}
    first = client.post("/access/v1/search/resource", {**body, "page": {"limit": 2}}).json()
    client.post(
        "/v1/relationships/write",
        {"updates": [{"operation": "touch", "relationship": "document:aaa#viewer@user:alice"}]},
    )
    token = first["page"]["next_token"]
    second = client.post(
        "/access/v1/search/resource", {**body, "page": {"limit": 2, "token": token}}
    ).json()
    assert second["context"]["consistency_token"] == first["context"]["consistency_token"]
    assert "aaa" not in [r["id"] for r in first["results"] + second["results"]]
    client.post(
        "/v1/relationships/delete", {"filter": {"resource_type": "document", "resource_id": "aaa"}}
    )


def test_a_page_token_for_another_query_is_refused(client: HttpClient) -> None:
    body = {"subject": user("alice"), "action": {"name": "view"}, "resource": {"type": "document"}}
    token = client.post("/access/v1/search/resource", {**body, "page": {"limit": 1}}).json()[
        "page"
    ]["next_token"]
    other = {**body, "subject": user("bob"), "page": {"token": token}}
    reply = client.post("/access/v1/search/resource", other)
    assert reply.status == 400
    assert "different query" in reply.json()["message"]
    garbage = client.post("/access/v1/search/resource", {**body, "page": {"token": "not-a-token"}})
    assert garbage.status == 400


def test_page_limit_bounds(client: HttpClient) -> None:
    body = {"subject": user("alice"), "action": {"name": "view"}, "resource": {"type": "document"}}
    too_big = client.post("/access/v1/search/resource", {**body, "page": {"limit": 201}})
    assert too_big.status == 400
    assert too_big.json()["message"] == "page.limit must be at most 200"
    zero = client.post("/access/v1/search/resource", {**body, "page": {"limit": 0}})
    assert zero.status == 400
    assert "page.limit" in zero.json()["message"]


def test_search_requires_the_ids_it_does_not_search_for(client: HttpClient) -> None:
    reply = client.post(
        "/access/v1/search/subject",
        {"subject": {"type": "user"}, "action": {"name": "view"}, "resource": {"type": "document"}},
    )
    assert reply.status == 400
    assert reply.json()["message"] == "resource.id is required"


def test_well_known_configuration(server: Any) -> None:
    anonymous = server.client(None)
    reply = anonymous.get("/.well-known/authzen-configuration")
    anonymous.close()
    assert reply.status == 200
    metadata = reply.json()
    base = f"http://127.0.0.1:{server.port}"
    assert metadata == {
        "policy_decision_point": base,
        "access_evaluation_endpoint": base + "/access/v1/evaluation",
        "access_evaluations_endpoint": base + "/access/v1/evaluations",
        "search_subject_endpoint": base + "/access/v1/search/subject",
        "search_resource_endpoint": base + "/access/v1/search/resource",
        "search_action_endpoint": base + "/access/v1/search/action",
    }
