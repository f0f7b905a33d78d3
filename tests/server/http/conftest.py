"""A real ``create_app`` server process per test session, on a free loopback port.

The server (``serve_app.py``, uvicorn) serves a SQLite file that the tests also open with
``clove.open``, so answers over HTTP can be compared with the engine's own.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import clove
from server.http.http_support import HttpClient

SERVE = Path(__file__).with_name("serve_app.py")


@dataclass
class Server:
    port: int
    db_url: str
    process: subprocess.Popen[str]

    def client(self, key: str | None = "alice-key") -> HttpClient:
        return HttpClient(self.port, key)


def start_server(db_url: str) -> Server:
    process = subprocess.Popen(
        [sys.executable, str(SERVE), db_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("listening "):
        process.kill()
        rest = process.stdout.read()
        raise RuntimeError(f"the test server did not start: {line}{rest}")
    server = Server(int(line.split()[1]), db_url, process)
    probe = server.client(None)
    deadline = time.monotonic() + 30
    while True:
        try:
            if probe.get("/healthz").status == 200:
                break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    probe.close()
    return server


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()
    if server.process.stdout is not None:
        server.process.stdout.close()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    path = tmp_path_factory.mktemp("http") / "clove.db"
    running = start_server(f"sqlite://{path}")
    yield running
    stop_server(running)


@pytest.fixture
def client(server: Server) -> Iterator[HttpClient]:
    connection = server.client()
    yield connection
    connection.close()


SCHEMA = """use expiration

definition user {}

definition group {
    relation member: user | group#member
}

caveat on_network(client_ip ipaddress, allowed string) {
    client_ip.in_cidr(allowed)
}

definition folder {
    relation viewer: user | group#member
    permission view = viewer
}

definition document {
    relation parent: folder
    relation owner: user
    relation editor: user | group#member
    relation viewer: user | user:* | group#member | user with on_network
    relation banned: user
    permission edit = owner + editor
    permission view = (viewer + edit + parent->view) - banned
    permission delete = owner
}

definition note {
    relation writer: user | user with expiration
    permission write = writer
}
"""


def dataset_relationships() -> list[str]:
    rels = [
        "group:eng#member@user:alice",
        "group:eng#member@user:bob",
        "group:staff#member@group:eng#member",
        "group:staff#member@user:carol",
        "folder:f1#viewer@group:staff#member",
        "document:public#viewer@user:*",
        "document:public#banned@user:mallory",
    ]
    for i in range(60):
        doc = f"document:doc{i:03d}"
        if i % 2 == 0:
            rels.append(f"{doc}#viewer@user:alice")
        if i % 3 == 0:
            rels.append(f"{doc}#viewer@group:eng#member")
        if i % 5 == 1:
            rels.append(f'{doc}#viewer@user:alice[on_network:{{"allowed":"10.0.0.0/8"}}]')
        if i % 7 == 0:
            rels.append(f"{doc}#editor@user:dave")
        if i < 5:
            rels.append(f"{doc}#owner@user:erin")
        if 40 <= i < 50:
            rels.append(f"{doc}#parent@folder:f1")
    rels.append("document:doc012#banned@user:alice")
    rels.extend(f"document:popular#viewer@user:u{i:03d}" for i in range(40))
    rels.append('document:popular#viewer@user:zed[on_network:{"allowed":"10.0.0.0/8"}]')
    return rels


@pytest.fixture(scope="session")
def dataset(server: Server) -> str:
    """Schema and relationships written through the API; the token of the last write."""
    writer = server.client()
    reply = writer.request("PUT", "/v1/schema", {"schema": SCHEMA})
    assert reply.status == 200, reply.body
    rels = dataset_relationships()
    token = ""
    for start in range(0, len(rels), 50):
        updates = [{"operation": "touch", "relationship": rel} for rel in rels[start : start + 50]]
        reply = writer.post("/v1/relationships/write", {"updates": updates})
        assert reply.status == 200, reply.body
        token = reply.json()["consistency_token"]
    writer.close()
    return str(token)


@pytest.fixture(scope="session")
def engine(server: Server, dataset: str) -> Iterator[clove.Database]:
    """The same store, opened in the test process."""
    database = clove.open(server.db_url)
    yield database
    database.close()
