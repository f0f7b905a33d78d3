"""``clove serve`` runs the HTTP surface in every worker, with the same keys, limits and one
set of metrics summed over the workers."""

from __future__ import annotations

import json
import socket
import sqlite3
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from authzed.api.v1 import (
    CheckPermissionRequest,
    Consistency,
    ObjectReference,
    Relationship,
    RelationshipUpdate,
    SubjectReference,
    WriteRelationshipsRequest,
    WriteSchemaRequest,
)

from server.serve_process import KEYS, running_server

SCHEMA = """
definition user {}
definition document {
    relation viewer: user
    permission view = viewer
}
"""


def _http(url: str, key: str | None, body: object | None = None) -> tuple[int, bytes]:
    headers = {"content-type": "application/json"}
    if key is not None:
        headers["authorization"] = f"Bearer {key}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_http_surface_shares_keys_store_and_metrics(tmp_path: Path) -> None:
    with running_server(f"sqlite://{tmp_path}/http.db", workers=2) as server:
        client = server.client()
        client.WriteSchema(WriteSchemaRequest(schema=SCHEMA))
        written = client.WriteRelationships(
            WriteRelationshipsRequest(
                updates=[
                    RelationshipUpdate(
                        operation=RelationshipUpdate.OPERATION_TOUCH,
                        relationship=Relationship(
                            resource=ObjectReference(object_type="document", object_id="d1"),
                            relation="viewer",
                            subject=SubjectReference(
                                object=ObjectReference(object_type="user", object_id="ann")
                            ),
                        ),
                    )
                ]
            )
        ).written_at
        for _ in range(10):
            client.CheckPermission(
                CheckPermissionRequest(
                    consistency=Consistency(at_least_as_fresh=written),
                    resource=ObjectReference(object_type="document", object_id="d1"),
                    permission="view",
                    subject=SubjectReference(
                        object=ObjectReference(object_type="user", object_id="ann")
                    ),
                )
            )
        base = f"http://{server.http_address}"
        evaluation = {
            "subject": {"type": "user", "id": "ann"},
            "resource": {"type": "document", "id": "d1"},
            "action": {"name": "view"},
        }
        status, body = _http(f"{base}/access/v1/evaluation", KEYS["bob"], evaluation)
        assert status == 200, body
        assert json.loads(body)["decision"] is True
        status, _ = _http(f"{base}/access/v1/evaluation", None, evaluation)
        assert status == 401
        status, _ = _http(f"{base}/access/v1/evaluation", "not-a-key-0123456789", evaluation)
        assert status == 401
        status, metrics = _http(f"{base}/metrics", KEYS["alice"])
        assert status == 200
        text = metrics.decode()
        checks = [
            line
            for line in text.splitlines()
            if line.startswith("clove_requests_total{")
            and 'method="CheckPermission"' in line
            and 'client="alice"' in line
        ]
        assert checks, text[:2000]
        assert sum(float(line.rsplit(" ", 1)[1]) for line in checks) == 10
        assert "clove_request_duration_seconds_bucket" in text


def test_a_request_stuck_in_the_store_does_not_stall_other_clients(tmp_path: Path) -> None:
    """A write waiting for the SQLite lock occupies a pool thread, not the event loop."""
    path = tmp_path / "stuck.db"
    with running_server(f"sqlite://{path}", workers=1) as server:
        client = server.client()
        client.WriteSchema(WriteSchemaRequest(schema=SCHEMA))
        base = f"http://{server.http_address}"
        evaluation = {
            "subject": {"type": "user", "id": "ann"},
            "resource": {"type": "document", "id": "d1"},
            "action": {"name": "view"},
        }
        host, port = server.http_address.rsplit(":", 1)
        body = json.dumps(
            {"updates": [{"operation": "touch", "relationship": "document:d1#viewer@user:ann"}]}
        ).encode()
        # The test holds SQLite's write lock, so the server's write cannot finish until the
        # test lets it: it stays provably in progress while the other client is served.
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        with socket.create_connection((host, int(port)), timeout=30) as stuck:
            stuck.sendall(
                b"POST /v1/relationships/write HTTP/1.1\r\n"
                + f"host: {server.http_address}\r\n".encode()
                + f"authorization: Bearer {KEYS['alice']}\r\n".encode()
                + b"content-type: application/json\r\nexpect: 100-continue\r\n"
                + f"content-length: {len(body)}\r\n\r\n".encode()
            )
            # The server asks for the body only once the app reads it: the request is in.
            assert stuck.recv(100).startswith(b"HTTP/1.1 100 Continue")
            stuck.sendall(body)
            try:
                status, answer = _http(f"{base}/access/v1/evaluation", KEYS["bob"], evaluation)
                assert status == 200, answer
                assert json.loads(answer)["decision"] is False
                # ... and all that while the write was still waiting: nothing has come back.
                stuck.setblocking(False)
                with pytest.raises(BlockingIOError):
                    stuck.recv(100)
                stuck.setblocking(True)
            finally:
                holder.execute("ROLLBACK")
                holder.close()
            reply = stuck.recv(4096)
        assert reply.startswith(b"HTTP/1.1 200"), reply
        status, answer = _http(f"{base}/access/v1/evaluation", KEYS["bob"], evaluation)
        assert json.loads(answer)["decision"] is True
