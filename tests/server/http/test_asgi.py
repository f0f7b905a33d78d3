"""The ASGI contract itself, driven in process: lifespan, websockets, disconnects, threads."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Literal

import pytest

import clove
from clove.server.http import HttpSettings, create_app
from server.http.http_support import CountingMetrics, KeyGate

BODY = json.dumps(
    {
        "subject": {"type": "user", "id": "a"},
        "action": {"name": "view"},
        "resource": {"type": "document", "id": "d"},
    }
).encode()


def app(blocking: Literal["inline", "threads"] = "inline") -> Any:
    database = clove.open()
    database.write_schema("definition user {}\ndefinition document { relation view: user }")
    database.write_relationships(["document:d#view@user:a"])
    gate = KeyGate({"a": "key"})
    settings = HttpSettings(blocking=blocking)
    return create_app(database, gate=gate, metrics=CountingMetrics(), settings=settings)


def call(application: Any, messages: list[dict[str, Any]], **scope: Any) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    pending = list(messages)

    async def receive() -> dict[str, Any]:
        return pending.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    full = {
        "type": "http",
        "method": "POST",
        "path": "/access/v1/evaluation",
        "headers": [(b"authorization", b"Bearer key")],
        **scope,
    }
    asyncio.run(application(full, receive, send))
    return sent


@pytest.mark.parametrize("blocking", ["inline", "threads"])
def test_an_evaluation_in_both_execution_modes(blocking: Literal["inline", "threads"]) -> None:
    sent = call(app(blocking), [{"type": "http.request", "body": BODY}])
    assert sent[0]["status"] == 200
    assert json.loads(sent[1]["body"])["decision"] is True


def test_a_body_in_several_chunks() -> None:
    chunks = [BODY[:10], BODY[10:30], BODY[30:]]
    messages = [
        {"type": "http.request", "body": chunk, "more_body": index < 2}
        for index, chunk in enumerate(chunks)
    ]
    sent = call(app(), messages)
    assert json.loads(sent[1]["body"])["decision"] is True


def test_a_client_that_leaves_mid_body_gets_an_error_not_a_crash() -> None:
    messages = [{"type": "http.request", "body": BODY[:10], "more_body": True}]
    messages.append({"type": "http.disconnect"})
    sent = call(app(), messages)
    assert sent[0]["status"] == 400


def test_lifespan_and_websockets() -> None:
    application = app()
    sent: list[dict[str, Any]] = []
    pending = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]

    async def receive() -> dict[str, Any]:
        return pending.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(application({"type": "lifespan"}, receive, send))
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    sent.clear()
    asyncio.run(application({"type": "websocket", "path": "/"}, receive, send))
    assert sent == [{"type": "websocket.close", "code": 1008}]


def test_settings_are_checked() -> None:
    with pytest.raises(clove.InvalidInputError, match="max_batch must be at least 1"):
        HttpSettings(max_batch=0)
    with pytest.raises(clove.InvalidInputError, match="default_page_size cannot exceed"):
        HttpSettings(default_page_size=10, max_page_size=5)
