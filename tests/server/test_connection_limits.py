"""Slowloris on a real ``clove serve``: connections that never finish a request are closed
after ``--read-timeout``, and one peer cannot hold more than ``--max-connections-per-peer``
HTTP connections, while requests from other peers are served all along."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import pytest
from authzed.api.v1 import WriteSchemaRequest

from server.serve_process import KEYS, Server, running_server

EVALUATION = json.dumps(
    {
        "subject": {"type": "user", "id": "ann"},
        "resource": {"type": "document", "id": "d1"},
        "action": {"name": "view"},
    }
).encode()
SCHEMA = """
definition user {}
definition document {
    relation viewer: user
    permission view = viewer
}
"""
# Far longer than the timeouts under test: only a server that never closes takes this long.
PATIENCE = 20.0


@contextmanager
def _serving(*extra: str) -> Iterator[Server]:
    with running_server(extra=extra) as server:
        server.client().WriteSchema(WriteSchemaRequest(schema=SCHEMA))
        yield server


def _connect(address: str, *, source: str = "127.0.0.1") -> socket.socket:
    host, port = address.rsplit(":", 1)
    connection = socket.create_connection(
        (host, int(port)), timeout=PATIENCE, source_address=(source, 0)
    )
    return connection


def _closed_by_server(connection: socket.socket) -> bool:
    """Whether the server closes ``connection`` (reading anything it sends first)."""
    connection.settimeout(PATIENCE)
    try:
        while connection.recv(4096):
            pass
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return True


def _request(address: str, *, source: str = "127.0.0.1") -> bytes:
    """One evaluation on a new connection; the raw answer's status line."""
    with _connect(address, source=source) as connection:
        connection.sendall(
            b"POST /access/v1/evaluation HTTP/1.1\r\nhost: clove\r\n"
            + f"authorization: Bearer {KEYS['alice']}\r\n".encode()
            + b"content-type: application/json\r\n"
            + f"content-length: {len(EVALUATION)}\r\n\r\n".encode()
            + EVALUATION
        )
        return connection.recv(4096).split(b"\r\n", 1)[0]


def _idle(
    stack: ExitStack, address: str, count: int, first_bytes: bytes = b""
) -> Iterator[socket.socket]:
    for _ in range(count):
        connection = stack.enter_context(_connect(address))
        if first_bytes:
            connection.sendall(first_bytes)
        yield connection


def test_connections_that_never_finish_a_request_are_closed() -> None:
    with _serving("--read-timeout", "1") as server, ExitStack() as stack:
        silent = list(_idle(stack, server.http_address, 5))
        half_headers = list(
            _idle(
                stack, server.http_address, 5, b"POST /access/v1/evaluation HTTP/1.1\r\nhost: x\r\n"
            )
        )
        half_body = list(
            _idle(
                stack,
                server.http_address,
                2,
                b"POST /access/v1/evaluation HTTP/1.1\r\nhost: x\r\n"
                + f"authorization: Bearer {KEYS['alice']}\r\n".encode()
                + f"content-length: {len(EVALUATION)}\r\n\r\n".encode()
                + EVALUATION[:10],
            )
        )
        grpc_silent = stack.enter_context(_connect(server.address))
        # Meanwhile a whole request is answered at once.
        assert _request(server.http_address) == b"HTTP/1.1 200 OK"
        for connection in [*silent, *half_headers, *half_body, grpc_silent]:
            assert _closed_by_server(connection)


def test_one_peer_over_its_connection_cap_is_refused_while_others_are_served() -> None:
    limits = ("--read-timeout", "60", "--max-connections-per-peer", "8")
    with _serving(*limits) as server, ExitStack() as stack:
        held = list(_idle(stack, server.http_address, 8))
        for connection in held:  # each is open: the server has closed none of them
            connection.setblocking(False)
            with pytest.raises(BlockingIOError):
                connection.recv(1)
            connection.setblocking(True)
        over = stack.enter_context(_connect(server.http_address))
        assert _closed_by_server(over)
        # Another peer (another loopback address) is served while 127.0.0.1 is at its cap.
        assert _request(server.http_address, source="127.0.0.2") == b"HTTP/1.1 200 OK"
        # And 127.0.0.1 gets a connection again once it lets one go.
        held[0].close()
        deadline = time.monotonic() + PATIENCE
        answer = b""
        while time.monotonic() < deadline:
            try:
                answer = _request(server.http_address)
            except ConnectionError:
                answer = b""
            if answer:
                break
            time.sleep(0.05)
        assert answer == b"HTTP/1.1 200 OK"
