"""Client mistakes over real HTTP: each gets a clear JSON error and the server keeps serving."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from typing import Any

import pytest

from server.http.conftest import Server
from server.http.http_support import HttpClient

pytestmark = pytest.mark.usefixtures("dataset")

QUESTION = {
    "subject": {"type": "user", "id": "alice"},
    "action": {"name": "view"},
    "resource": {"type": "document", "id": "doc000"},
}


def still_serving(server: Server) -> None:
    probe = server.client()
    assert probe.post("/access/v1/evaluation", QUESTION).json()["decision"] is True
    probe.close()


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        (None, "missing bearer key (Authorization: Bearer <key>)"),
        ("Basic YWxpY2U6a2V5", "missing bearer key (Authorization: Bearer <key>)"),
        ("Bearer wrong-key", "unknown bearer key"),
        ("Bearer alice-key-but-longer", "unknown bearer key"),
    ],
)
def test_requests_without_a_valid_key_are_refused(
    server: Server, authorization: str | None, message: str
) -> None:
    anonymous = server.client(None)
    headers = {} if authorization is None else {"Authorization": authorization}
    for method, path, body in [
        ("POST", "/access/v1/evaluation", QUESTION),
        (
            "POST",
            "/v1/check",
            {"resource": "document:doc000", "permission": "view", "subject": "user:alice"},
        ),
        ("GET", "/v1/schema", None),
        ("GET", "/metrics", None),
    ]:
        reply = anonymous.request(method, path, body, headers=headers)
        assert reply.status == 401, path
        assert reply.json() == {"code": "unauthenticated", "message": message}
        assert reply.headers["www-authenticate"].startswith("Bearer")
    anonymous.close()
    still_serving(server)


def test_public_endpoints_need_no_key(server: Server) -> None:
    anonymous = server.client(None)
    assert anonymous.get("/healthz").json() == {"status": "ok"}
    assert anonymous.get("/readyz").json() == {"status": "ready"}
    assert anonymous.get("/openapi.json").status == 200
    assert anonymous.get("/.well-known/authzen-configuration").status == 200
    anonymous.close()


def test_a_flooding_client_gets_429_and_others_are_served(server: Server) -> None:
    flood = server.client("flood-key")
    batch = {**QUESTION, "evaluations": [{}] * 6}
    refused = flood.post("/access/v1/evaluations", batch)  # costs 6 of its 5 tokens
    assert refused.status == 429
    assert refused.json()["code"] == "resource_exhausted"
    assert refused.headers["retry-after"] == "60"
    answers = [flood.post("/access/v1/evaluation", QUESTION).status for _ in range(7)]
    assert answers == [200] * 5 + [429] * 2
    still_serving(server)
    flood.close()
    reader = server.client()
    metrics = reader.get("/metrics")
    reader.close()
    assert metrics.status == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    assert 'clove_throttled_total{client="flood"} 3' in metrics.body.decode()


def test_metrics_count_requests_by_client_route_and_code(server: Server) -> None:
    client = server.client("bob-key")
    client.post("/access/v1/evaluation", QUESTION)
    client.post("/access/v1/evaluation", {"nope": 1})
    text = client.get("/metrics").body.decode()
    client.close()
    ok = 'method="POST /access/v1/evaluation",client="bob",code="200"'
    bad = 'method="POST /access/v1/evaluation",client="bob",code="400"'
    assert f'clove_requests_total{{surface="http",{ok}}} 1' in text
    assert f'clove_requests_total{{surface="http",{bad}}} 1' in text


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "the request body must be a JSON object"),
        (b"{", "the request body is not valid JSON: Input data was truncated"),
        (
            b"\xff\xfe",
            "the request body is not valid JSON: JSON is malformed: invalid character (byte 0)",
        ),
        (b"[]", "invalid request: Expected `object`, got `array`"),
        (b"{}", "subject is required"),
        (
            b'{"subject": {"type": 7}, "action": {"name": "view"}, '
            b'"resource": {"type": "document"}}',
            "invalid request: subject.type: Expected `str`, got `int`",
        ),
        (
            b'{"subject": {"type": "user", "id": "alice"}, "action": {}, '
            b'"resource": {"type": "d"}}',
            "action.name is required",
        ),
        (
            b'{"subject": {"type": "user", "id": "alice"}, "action": {"name": "view"}, '
            b'"resource": {"type": "document", "id": "doc000"}, "context": []}',
            "invalid request: context: Expected `object | null`, got `array`",
        ),
        (
            b'{"subject": {"type": "user"}, "action": {"name": "view"}, '
            b'"resource": {"type": "document", "id": "doc000"}}',
            "subject.id is required",
        ),
        (
            b'{"subject": {"type": "user", "id": "al ice"}, "action": {"name": "view"}, '
            b'"resource": {"type": "document", "id": "doc000"}}',
            "invalid subject.id 'al ice': expected an object id "
            "(1 to 1024 letters, digits or /_|-=+) or `*`",
        ),
    ],
)
def test_malformed_bodies_are_400_naming_the_field(
    client: HttpClient, server: Server, body: bytes, message: str
) -> None:
    reply = client.request("POST", "/access/v1/evaluation", raw=body)
    assert reply.status == 400
    assert reply.json() == {"code": "invalid_argument", "message": message}
    still_serving(server)


def test_deeply_nested_json_is_refused_or_answered_never_crashes(
    client: HttpClient, server: Server
) -> None:
    nested = b'{"subject": {"type": "user", "id": "alice"}, "action": {"name": "view"}, '
    nested += b'"resource": {"type": "document", "id": "doc000"}, "context": {"x": '
    nested += b"[" * 20000 + b"]" * 20000 + b"}}"
    reply = client.request("POST", "/access/v1/evaluation", raw=nested)
    assert reply.status == 400
    assert reply.json() == {
        "code": "invalid_argument",
        "message": "the request body nests too deeply",
    }
    still_serving(server)


@pytest.mark.parametrize(
    ("action", "resource", "status", "message"),
    [
        ("fly", "document", 404, "relation/permission `fly` not found under definition `document`"),
        ("view", "spaceship", 404, "object definition `spaceship` not found"),
    ],
)
def test_unknown_types_and_permissions_are_404(
    client: HttpClient, action: str, resource: str, status: int, message: str
) -> None:
    body = {**QUESTION, "action": {"name": action}, "resource": {"type": resource, "id": "x"}}
    reply = client.post("/access/v1/evaluation", body)
    assert reply.status == status
    assert reply.json() == {"code": "not_found", "message": message}
    search = client.post(
        "/access/v1/search/action",
        {"subject": QUESTION["subject"], "resource": {"type": "spaceship", "id": "x"}},
    )
    assert search.status == 404


def test_oversized_bodies_are_413(client: HttpClient, server: Server) -> None:
    big = {**QUESTION, "context": {"padding": "x" * (70 * 1024)}}
    reply = client.post("/access/v1/evaluation", big)
    assert reply.status == 413
    assert reply.json() == {
        "code": "payload_too_large",
        "message": "the request body is over 65536 bytes",
    }
    still_serving(server)


def test_oversized_chunked_bodies_are_413(server: Server) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)

    def chunks() -> Iterator[bytes]:
        yield b'{"subject": {"type": "user", "id": "alice"}, "context": {"p": "'
        for _ in range(100):
            yield b"x" * 1024
        yield b'"}}'

    headers = {"Authorization": "Bearer alice-key", "Transfer-Encoding": "chunked"}
    connection.request(
        "POST", "/access/v1/evaluation", body=chunks(), headers=headers, encode_chunked=True
    )
    reply = connection.getresponse()
    assert reply.status == 413
    reply.read()
    connection.close()
    still_serving(server)


def test_unknown_paths_and_methods(client: HttpClient) -> None:
    missing = client.get("/access/v2/evaluation")
    assert missing.status == 404
    assert missing.json() == {
        "code": "not_found",
        "message": "no endpoint at /access/v2/evaluation",
    }
    wrong = client.get("/access/v1/evaluation")
    assert wrong.status == 405
    assert wrong.headers["allow"] == "POST"
    schema = client.request("DELETE", "/v1/schema")
    assert schema.status == 405
    assert schema.headers["allow"] == "GET, PUT"


def test_bad_consistency_headers(client: HttpClient) -> None:
    reply = client.post(
        "/access/v1/evaluation", QUESTION, headers={"Clove-Consistency": "eventual"}
    )
    assert reply.status == 400
    assert reply.json()["message"].startswith("unknown consistency 'eventual'")
    token = client.post(
        "/access/v1/evaluation", QUESTION, headers={"Clove-Consistency-Token": "CLV1zzzz"}
    )
    assert token.status == 400
    assert token.json()["message"] == "malformed consistency token 'CLV1zzzz'"
    future: dict[str, Any] = {
        **QUESTION,
        "context": {"consistency_token": "CLV1OTk5OTk5OnNvbWV3aGVyZQ"},
    }
    other_store = client.post("/access/v1/evaluation", future)
    assert other_store.status == 400
    assert other_store.json()["message"] == "consistency token was issued by another datastore"
