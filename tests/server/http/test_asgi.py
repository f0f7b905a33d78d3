"""The ASGI contract itself, driven in process: lifespan, websockets, disconnects, threads."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

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


def database() -> clove.Database:
    opened = clove.open()
    opened.write_schema("definition user {}\ndefinition document { relation view: user }")
    opened.write_relationships(["document:d#view@user:a"])
    return opened


def app(**options: Any) -> Any:
    gate = options.pop("gate", None) or KeyGate({"a": "key"})
    metrics = options.pop("metrics", None) or CountingMetrics()
    store = options.pop("database", None) or database()
    return create_app(store, gate=gate, metrics=metrics, settings=HttpSettings(**options))


def call(application: Any, messages: list[dict[str, Any]], **scope: Any) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    pending = list(messages)

    async def receive() -> dict[str, Any]:
        if not pending:  # as ASGI servers do: wait until the client leaves
            await asyncio.Event().wait()
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


def test_an_evaluation_runs_on_a_pool_thread_not_the_event_loop() -> None:
    store = database()
    threads: list[str] = []
    check = store.check

    def recording_check(*arguments: Any, **options: Any) -> Any:
        threads.append(threading.current_thread().name)
        return check(*arguments, **options)

    store.check = recording_check  # type: ignore[method-assign]
    sent = call(app(database=store, threads=2), [{"type": "http.request", "body": BODY}])
    assert sent[0]["status"] == 200
    assert json.loads(sent[1]["body"])["decision"] is True
    assert len(threads) == 1
    assert threads[0].startswith("clove-http")


def test_a_client_that_leaves_is_not_waited_for_but_keeps_its_slot_until_the_work_ends() -> None:
    store = database()
    started, release = threading.Event(), threading.Event()
    check = store.check

    def slow_check(*arguments: Any, **options: Any) -> Any:
        started.set()
        release.wait(30)
        return check(*arguments, **options)

    store.check = slow_check  # type: ignore[method-assign]
    gate, metrics = KeyGate({"a": "key"}, concurrency=1), CountingMetrics()
    application = app(database=store, gate=gate, metrics=metrics)
    sent: list[dict[str, Any]] = []
    messages = [{"type": "http.request", "body": BODY}]

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        # The client leaves while its check is provably running on a pool thread.
        await asyncio.get_running_loop().run_in_executor(None, started.wait, 30)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/access/v1/evaluation",
        "headers": [(b"authorization", b"Bearer key")],
    }
    try:
        asyncio.run(application(scope, receive, send))
        assert sent == []  # nothing answered to a client that is gone
        assert not release.is_set()  # and the app returned while the check still ran
        assert metrics.requests == {("http", "POST /access/v1/evaluation", "a", "499"): 1}
        # The abandoned check still holds the client's one concurrency slot.
        busy = call(application, [{"type": "http.request", "body": BODY}])
        assert busy[0]["status"] == 429
    finally:
        release.set()
    store.check = check  # type: ignore[method-assign]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the slot comes back when the check's thread ends
        answer = call(application, [{"type": "http.request", "body": BODY}])
        if answer[0]["status"] == 200:
            break
        time.sleep(0.01)
    assert answer[0]["status"] == 200
    application.close()


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
