"""WatchService through the official client against ``clove serve --workers 2``.

Writes go through fresh channels (which the kernel spreads over both workers) while the watch
streams from one of them; the stream must carry every write, in order, with its token.
"""

from __future__ import annotations

import queue
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from authzed.api.v1 import (
    Client,
    ObjectReference,
    Relationship,
    RelationshipFilter,
    RelationshipUpdate,
    SubjectReference,
    WatchRequest,
    WatchResponse,
    WriteRelationshipsRequest,
    WriteSchemaRequest,
    ZedToken,
)
from authzed.api.v1.watch_service_pb2 import WatchKind

import clove
from server.serve_process import Server, running_server
from storage.postgres_server import (
    store_url,
)

SCHEMA = """
definition user {}
definition folder {
    relation viewer: user
}
definition document {
    relation viewer: user
    permission view = viewer
}
"""
CREATE = RelationshipUpdate.OPERATION_CREATE
TOUCH = RelationshipUpdate.OPERATION_TOUCH
DELETE = RelationshipUpdate.OPERATION_DELETE
GC_WINDOW = 1.0
WAIT = 30.0  # seconds a stream may take to deliver what was written; only ever a bound


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, str]]:
    """A two-worker server with the schema written, and its database URL."""
    folder = tmp_path_factory.mktemp("watch")
    # A short GC window, so that the test can garbage-collect a cursor's revision.
    gc_window = ("--gc-window", str(GC_WINDOW))
    with (
        store_url(request.param, folder, "serve.db") as url,
        running_server(url, workers=2, extra=gc_window) as server,
    ):
        with _client(server) as client:
            client.WriteSchema(WriteSchemaRequest(schema=SCHEMA))
        yield server, url


@contextmanager
def _client(server: Server, who: str = "alice") -> Iterator[Client]:
    """The official client on a channel of its own (it has no close; its channel is freed
    with it), scoped so each write or stream below reads as one connection."""
    yield server.client(who)


def _relationship(kind: str, object_id: str, user: str) -> Relationship:
    return Relationship(
        resource=ObjectReference(object_type=kind, object_id=object_id),
        relation="viewer",
        subject=SubjectReference(object=ObjectReference(object_type="user", object_id=user)),
    )


def _write(server: Server, *updates: tuple[Any, Relationship]) -> str:
    """Write through a new channel (so, often, another worker); the written_at token."""
    with _client(server, "bob") as client:
        answer = client.WriteRelationships(
            WriteRelationshipsRequest(
                updates=[
                    RelationshipUpdate(operation=operation, relationship=relationship)
                    for operation, relationship in updates
                ]
            )
        )
    return str(answer.written_at.token)


def _head(server: Server) -> str:
    """A token for the current head: a harmless TOUCH of a sentinel relationship."""
    return _write(server, (TOUCH, _relationship("folder", "sentinel", "nobody")))


class Stream:
    """A watch call read by a background thread into a queue, so tests can wait with a bound."""

    def __init__(self, client: Client, request: WatchRequest) -> None:
        self.call = client.Watch(request)
        self.responses: queue.Queue[WatchResponse | grpc.RpcError | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        try:
            for response in self.call:
                self.responses.put(response)
        except grpc.RpcError as error:
            self.responses.put(error)
        self.responses.put(None)

    def next(self) -> WatchResponse:
        item = self.responses.get(timeout=WAIT)
        if not isinstance(item, WatchResponse):
            raise AssertionError(f"the stream ended: {item!r}")
        return item

    def error(self) -> grpc.RpcError:
        while True:
            item = self.responses.get(timeout=WAIT)
            if isinstance(item, grpc.RpcError):
                return item
            if item is None:
                raise AssertionError("the stream ended without an error")

    def cancel(self) -> None:
        self.call.cancel()
        self._reader.join(WAIT)


def _from(token: str, **fields: Any) -> WatchRequest:
    return WatchRequest(optional_start_cursor=ZedToken(token=token), **fields)


def _keys(response: WatchResponse) -> list[tuple[int, str, str]]:
    return [
        (
            update.operation,
            f"{update.relationship.resource.object_type}:{update.relationship.resource.object_id}",
            update.relationship.subject.object.object_id,
        )
        for update in response.updates
    ]


def test_writes_through_any_worker_arrive_in_order_with_their_tokens(
    served: tuple[Server, str],
) -> None:
    server, _ = served
    start = _head(server)
    with _client(server) as client:
        stream = Stream(client, _from(start, optional_object_types=["document"]))
        try:
            written = []
            for number in range(8):
                written.append(
                    _write(server, (CREATE, _relationship("document", f"in-order-{number}", "u")))
                )
            written.append(_write(server, (DELETE, _relationship("document", "in-order-3", "u"))))
            received = [stream.next() for _ in written]
        finally:
            stream.cancel()
    assert [response.changes_through.token for response in received] == written
    assert [_keys(response) for response in received] == [
        *([(CREATE, f"document:in-order-{number}", "u")] for number in range(8)),
        [(DELETE, "document:in-order-3", "u")],
    ]


def test_a_client_that_resumes_from_changes_through_sees_every_change_exactly_once(
    served: tuple[Server, str],
) -> None:
    server, _ = served
    start = _head(server)
    total = 12
    written: list[str] = []
    keep_writing = threading.Event()

    def writer() -> None:
        for number in range(total):
            if number == 4:
                keep_writing.wait(WAIT)  # the rest is written while no stream is open
            written.append(
                _write(server, (CREATE, _relationship("document", f"resume-{number}", "u")))
            )

    seen: list[str] = []
    thread = threading.Thread(target=writer)
    with _client(server) as client:
        first = Stream(client, _from(start, optional_object_types=["document"]))
        thread.start()
        last = start
        try:
            for _ in range(3):
                response = first.next()
                seen += [key for _, key, _ in _keys(response)]
                last = response.changes_through.token
        finally:
            first.cancel()  # disconnect mid-stream, with a write not yet read
        keep_writing.set()
        thread.join(WAIT)
        second = Stream(client, _from(last, optional_object_types=["document"]))
        try:
            while len(seen) < total:
                seen += [key for _, key, _ in _keys(second.next())]
        finally:
            second.cancel()
    assert seen == [f"document:resume-{number}" for number in range(total)]
    assert len(written) == total


def test_filters_select_object_types_and_relationships(served: tuple[Server, str]) -> None:
    server, _ = served
    start = _head(server)
    _write(
        server,
        (CREATE, _relationship("folder", "f-1", "ann")),
        (CREATE, _relationship("document", "keep-1", "ann")),
        (CREATE, _relationship("document", "drop-1", "ann")),
    )
    _write(server, (CREATE, _relationship("document", "drop-2", "ann")))
    last = _write(server, (CREATE, _relationship("document", "keep-2", "bob")))
    with _client(server) as client:
        folders = Stream(client, _from(start, optional_object_types=["folder"]))
        by_prefix = Stream(
            client,
            _from(
                start,
                optional_relationship_filters=[
                    RelationshipFilter(resource_type="document", optional_resource_id_prefix="keep")
                ],
            ),
        )
        either = Stream(
            client,
            _from(
                start,
                optional_relationship_filters=[
                    RelationshipFilter(resource_type="folder", optional_resource_id="f-1"),
                    RelationshipFilter(resource_type="document", optional_resource_id="keep-2"),
                ],
            ),
        )
        try:
            assert _keys(folders.next()) == [(CREATE, "folder:f-1", "ann")]
            first, second = by_prefix.next(), by_prefix.next()
            assert _keys(first) + _keys(second) == [
                (CREATE, "document:keep-1", "ann"),
                (CREATE, "document:keep-2", "bob"),
            ]
            assert second.changes_through.token == last
            assert _keys(either.next()) == [(CREATE, "folder:f-1", "ann")]
            assert _keys(either.next()) == [(CREATE, "document:keep-2", "bob")]
        finally:
            for stream in (folders, by_prefix, either):
                stream.cancel()


def test_checkpoints_and_schema_updates_when_asked_for(served: tuple[Server, str]) -> None:
    server, _ = served
    start = _head(server)
    kinds = [
        WatchKind.WATCH_KIND_INCLUDE_SCHEMA_UPDATES,
        WatchKind.WATCH_KIND_INCLUDE_CHECKPOINTS,
    ]
    with _client(server) as client:
        stream = Stream(client, _from(start, optional_update_kinds=kinds))
        try:
            with _client(server, "bob") as writer:
                schema_token = writer.WriteSchema(WriteSchemaRequest(schema=SCHEMA)).written_at
            responses = [stream.next()]
            if responses[0].is_checkpoint:  # one may come first, for the quiet start
                responses.append(stream.next())
            # A write the watch does not select moves it on: a checkpoint says how far.
            unseen = _write(server, (CREATE, _relationship("document", "unseen", "u")))
            checkpoint = stream.next()
        finally:
            stream.cancel()
    schema_change = responses[-1]
    assert schema_change.schema_updated
    assert not schema_change.updates
    assert schema_change.changes_through.token == schema_token.token
    assert checkpoint.is_checkpoint
    assert checkpoint.changes_through.token == unseen
    assert not checkpoint.updates


def test_a_cursor_older_than_the_gc_window_is_out_of_range(served: tuple[Server, str]) -> None:
    server, url = served
    old = _head(server)
    _write(server, (CREATE, _relationship("document", "after-old", "u")))
    time.sleep(GC_WINDOW * 1.5)  # the server's window passes: it no longer assumes ``old`` kept
    with clove.open(url, gc_window=timedelta(0)) as database:
        database.collect_garbage()
    with _client(server) as client:
        stream = Stream(client, _from(old))
        error = stream.error()
    assert error.code() == grpc.StatusCode.OUT_OF_RANGE
    assert "invalid zedtoken" in str(error.details())


@pytest.mark.parametrize(
    ("request_fields", "code", "fragment"),
    [
        ({"optional_start_cursor": ZedToken(token="not-a-token")}, "INVALID_ARGUMENT", "token"),
        (
            {
                "optional_object_types": ["document"],
                "optional_relationship_filters": [RelationshipFilter(resource_type="folder")],
            },
            "INVALID_ARGUMENT",
            "not both",
        ),
        ({"optional_object_types": ["nosuchtype"]}, "FAILED_PRECONDITION", "nosuchtype"),
    ],
)
def test_bad_watch_requests_get_clear_errors(
    served: tuple[Server, str], request_fields: dict[str, Any], code: str, fragment: str
) -> None:
    server, _ = served
    with _client(server) as client:
        stream = Stream(client, WatchRequest(**request_fields))
        error = stream.error()
    assert error.code() == getattr(grpc.StatusCode, code)
    assert fragment in str(error.details())
    assert server.alive()


def test_shutdown_ends_open_watches_instead_of_waiting_for_them(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path}/shutdown.db"
    # A grace far longer than the wait below: only ending the watches lets the server stop.
    with running_server(url, workers=2, extra=("--grace", "120")) as server:
        client = server.client()
        start = client.WriteSchema(WriteSchemaRequest(schema=SCHEMA)).written_at.token
        streams = [Stream(client, _from(start)) for _ in range(4)]
        _write(server, (CREATE, _relationship("document", "before-stop", "u")))
        for stream in streams:
            assert _keys(stream.next()) == [(CREATE, "document:before-stop", "u")]
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(WAIT) == 0
        for stream in streams:
            error = stream.error()
            assert error.code() == grpc.StatusCode.UNAVAILABLE
            assert "changes_through" in str(error.details())
