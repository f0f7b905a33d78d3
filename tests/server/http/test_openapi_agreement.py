"""The OpenAPI document and the server agree on the shapes schemathesis cannot judge alone.

Each case sends the server an input and asks the served document about the same input: both
must accept it, or both refuse it (the server with a 400 naming the field). The fuzz test
(``test_openapi_fuzz.py``) samples the document; these pin the edges it rarely draws.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from schemathesis.core.jsonschema.patterns import enforced_pattern

from server.http.conftest import Server
from server.http.http_support import HttpClient

pytestmark = pytest.mark.usefixtures("dataset")

# serve_app.py's HttpSettings.
MAX_BATCH = 50
MAX_PAGE_SIZE = 200


@pytest.fixture(scope="module")
def document(server: Server) -> Any:
    anonymous = server.client(None)
    reply = anonymous.get("/openapi.json")
    anonymous.close()
    return reply.json()


def _patterns(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["pattern"]] if isinstance(node.get("pattern"), str) else []
        return found + [p for value in node.values() for p in _patterns(value)]
    if isinstance(node, list):
        return [p for value in node for p in _patterns(value)]
    return []


def _text_pattern(document: Any) -> str:
    """The pattern of relationship text (the string form of an update's relationship)."""
    relationship = document["components"]["schemas"]["Update"]["properties"]["relationship"]
    (text,) = [choice for choice in relationship["anyOf"] if choice.get("type") == "string"]
    pattern: str = text["pattern"]
    return pattern


def _expiration_pattern(document: Any) -> str:
    expiration = document["components"]["schemas"]["RelationshipBody"]["properties"]["expiration"]
    (text,) = [choice for choice in expiration["anyOf"] if choice.get("type") == "string"]
    pattern: str = text["pattern"]
    return pattern


def test_every_pattern_is_one_the_fuzzer_enforces(document: Any) -> None:
    """A pattern JSON Schema validators cannot compile is dropped: then anything is documented."""
    patterns = set(_patterns(document))
    assert len(patterns) >= 10
    assert [p for p in patterns if enforced_pattern(p) != p] == []


def test_page_limit_is_an_integer_up_to_the_servers_maximum(document: Any) -> None:
    limit = document["components"]["schemas"]["PageRequest"]["properties"]["limit"]
    assert limit["anyOf"] == [
        {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
        {"type": "null"},
    ]


@pytest.mark.parametrize(
    ("component", "member"),
    [
        ("WriteRelationshipsRequest", "updates"),
        ("BulkCheckRequest", "items"),
        ("EvaluationsRequest", "evaluations"),
    ],
)
def test_batches_are_bounded_as_the_server_bounds_them(
    document: Any, component: str, member: str
) -> None:
    batch = document["components"]["schemas"][component]["properties"][member]
    arrays = [choice for choice in batch.get("anyOf", [batch]) if choice.get("type") == "array"]
    assert [array["maxItems"] for array in arrays] == [MAX_BATCH]


def test_a_whole_number_float_is_a_page_limit(client: HttpClient) -> None:
    """JSON Schema's integer admits 5.0, so the server takes it as 5."""
    body = {"resource_type": "document", "permission": "view", "subject": "user:alice"}
    whole = client.post("/v1/lookup/resources", {**body, "page": {"limit": 5.0}})
    assert whole.status == 200, whole.body
    assert whole.json()["page"]["count"] == 5
    search = {"subject": {"type": "user", "id": "alice"}, "action": {"name": "view"}}
    found = client.post(
        "/access/v1/search/resource",
        {**search, "resource": {"type": "document"}, "page": {"limit": 2.0}},
    )
    assert found.status == 200, found.body
    assert len(found.json()["results"]) == 2
    fraction = client.post("/v1/lookup/resources", {**body, "page": {"limit": 5.5}})
    assert fraction.status == 400
    assert fraction.json()["message"] == (
        "invalid request: page: limit must be a whole number, not 5.5"
    )


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ('document:doc900#viewer@user:ann[on_network:{"allowed":"10.0.0.0/8"}]', True),
        (
            'document:doc900#viewer@user:ann[on_network:{ "allowed" : "10/8", "n": [1, 2.5e3] }]',
            True,
        ),
        ('document:doc900#viewer@user:ann[on_network:{"allowed":"\\u00e9\\n"}]', True),
        ("document:doc900#viewer@user:ann[on_network]", True),
        ("document:doc900#viewer@user:ann[on_network:{allowed}]", False),
        ('document:doc900#viewer@user:ann[on_network:{"allowed":"10/8",}]', False),
        ('document:doc900#viewer@user:ann[on_network:{"allowed":"\\ud800"}]', False),
        ("document:doc900#viewer@user:ann[on_network:[1]]", False),
        ("document:doc900#viewer@user:ann[on_network:{}", False),
    ],
)
def test_caveat_context_in_relationship_text(
    client: HttpClient, document: Any, text: str, valid: bool
) -> None:
    """The brackets hold a JSON object (nested two deep at most) or nothing, in both."""
    assert (re.fullmatch(_text_pattern(document), text) is not None) is valid
    reply = client.post(
        "/v1/relationships/write", {"updates": [{"operation": "touch", "relationship": text}]}
    )
    if valid:
        assert reply.status == 200, reply.body
        client.post(
            "/v1/relationships/write",
            {"updates": [{"operation": "delete", "relationship": text.partition("[")[0]}]},
        )
    else:
        assert reply.status == 400
        assert reply.json()["message"].startswith(f"invalid updates[0].relationship {text!r}: ")


@pytest.mark.parametrize(
    ("at", "valid"),
    [
        ("2999-01-31T00:00:00Z", True),
        ("2996-02-29T23:59:59.5+01:00", True),
        ("2400-02-29T00:00:00z", True),
        ("2999-04-30t00:00:00-05:30", True),
        ("2997-02-29T00:00:00Z", False),
        ("2900-02-29T00:00:00Z", False),
        ("2999-04-31T00:00:00Z", False),
        ("2999-01-01T00:00:00", False),  # no zone
        ("2999-01-01 00:00:00Z", False),
    ],
)
def test_expirations_are_real_times_with_a_zone(
    client: HttpClient, document: Any, at: str, valid: bool
) -> None:
    assert (re.fullmatch(_expiration_pattern(document), at) is not None) is valid
    relationship = {"resource": "note:x", "relation": "writer", "subject": "user:x"}
    reply = client.post(
        "/v1/relationships/write",
        {"updates": [{"operation": "touch", "relationship": {**relationship, "expiration": at}}]},
    )
    if valid:
        assert reply.status == 200, reply.body
    else:
        assert reply.status == 400
        assert reply.json()["message"].startswith(
            f"invalid updates[0].relationship.expiration {at!r}: expected an RFC 3339 time"
        )


def test_consistency_headers_are_documented_where_they_choose_the_snapshot(
    document: Any,
) -> None:
    """Elsewhere (writes, probes) the server ignores them, so documenting them is a promise
    that a malformed one would be refused."""
    with_headers = {
        f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if any(p["name"] == "Clove-Consistency" for p in operation["parameters"])
    }
    assert with_headers == {
        "POST /access/v1/evaluation",
        "POST /access/v1/evaluations",
        "POST /access/v1/search/subject",
        "POST /access/v1/search/resource",
        "POST /access/v1/search/action",
        "GET /v1/schema",
        "POST /v1/relationships/read",
        "POST /v1/check",
        "POST /v1/check/bulk",
        "POST /v1/lookup/resources",
        "POST /v1/lookup/subjects",
        "POST /v1/expand",
    }
