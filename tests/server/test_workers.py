"""``--workers 2`` on SQLite and PostgreSQL: a write through any worker is visible, per token,
through every other; and SIGTERM lets requests in flight finish."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from authzed.api.v1 import (
    CheckPermissionRequest,
    CheckPermissionResponse,
    Consistency,
    ObjectReference,
    ReadSchemaRequest,
    Relationship,
    RelationshipUpdate,
    SubjectReference,
    WriteRelationshipsRequest,
    WriteSchemaRequest,
)
from authzed.api.v1.permission_service_pb2 import ImportBulkRelationshipsRequest

from server.serve_process import (
    Server,
    free_port,
    running_server,
    serve_command,
    serve_environment,
)
from storage.postgres_server import (
    store_url,
)

SCHEMA = """
definition user {}
definition document {
    relation viewer: user
    permission view = viewer
}
"""
HAS = CheckPermissionResponse.PERMISSIONSHIP_HAS_PERMISSION


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with store_url(request.param, tmp_path, "serve.db") as url:
        yield url


def _relationship(document: str, user: str) -> Relationship:
    return Relationship(
        resource=ObjectReference(object_type="document", object_id=document),
        relation="viewer",
        subject=SubjectReference(object=ObjectReference(object_type="user", object_id=user)),
    )


def _serving_pids(server: Server) -> set[str]:
    return set(re.findall(r'"event": "serving", "pid": (\d+)', server.log()))


def test_a_write_through_one_worker_is_seen_through_every_other(database_url: str) -> None:
    with running_server(database_url, workers=2) as server:
        assert len(_serving_pids(server)) == 2
        server.client().WriteSchema(WriteSchemaRequest(schema=SCHEMA))
        for round_ in range(30):
            # A new client is a new connection, which the kernel hands to either worker.
            written = (
                server.client("alice")
                .WriteRelationships(
                    WriteRelationshipsRequest(
                        updates=[
                            RelationshipUpdate(
                                operation=RelationshipUpdate.OPERATION_TOUCH,
                                relationship=_relationship(f"d{round_}", "ann"),
                            )
                        ]
                    )
                )
                .written_at
            )
            for reader in ("alice", "bob", "alice", "bob"):
                answer = server.client(reader).CheckPermission(
                    CheckPermissionRequest(
                        consistency=Consistency(at_least_as_fresh=written),
                        resource=ObjectReference(object_type="document", object_id=f"d{round_}"),
                        permission="view",
                        subject=SubjectReference(
                            object=ObjectReference(object_type="user", object_id="ann")
                        ),
                    )
                )
                assert answer.permissionship == HAS, f"round {round_}: the write was not seen"


def test_sigterm_finishes_requests_in_flight(tmp_path: Path) -> None:
    with running_server(f"sqlite://{tmp_path}/drain.db", workers=1) as server:
        client = server.client()
        client.WriteSchema(WriteSchemaRequest(schema=SCHEMA))
        sent_first = threading.Event()

        def slow_import() -> Iterator[ImportBulkRelationshipsRequest]:
            for batch in range(3):
                yield ImportBulkRelationshipsRequest(
                    relationships=[_relationship(f"slow{batch}-{i}", "bea") for i in range(10)]
                )
                sent_first.set()
                time.sleep(0.7)

        result: list[int] = []
        caller = threading.Thread(
            target=lambda: result.append(client.ImportBulkRelationships(slow_import()).num_loaded)
        )
        caller.start()
        assert sent_first.wait(10)
        server.process.send_signal(signal.SIGTERM)
        caller.join(30)
        assert result == [30]
        assert server.process.wait(30) == 0
        assert '"event": "draining"' in server.log()


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie waiting to be reaped is not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return state not in ("Z", "X")


def _refused(address: str) -> bool:
    host, port = address.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def test_workers_stop_when_the_supervisor_is_killed(tmp_path: Path) -> None:
    with running_server(f"sqlite://{tmp_path}/orphans.db", workers=2) as server:
        workers = {int(pid) for pid in _serving_pids(server)}
        assert len(workers) == 2
        assert server.process.pid not in workers
        try:
            server.process.send_signal(signal.SIGKILL)
            server.process.wait(10)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and any(_running(pid) for pid in workers):
                time.sleep(0.1)
            assert not any(_running(pid) for pid in workers), server.log()
            # Nothing is left listening: the next server gets the ports to itself.
            assert _refused(server.address)
            assert _refused(server.http_address)
        finally:
            for pid in workers:
                if _running(pid):
                    os.kill(pid, signal.SIGKILL)


def test_a_worker_killed_outright_is_restarted_on_the_same_ports(tmp_path: Path) -> None:
    with running_server(f"sqlite://{tmp_path}/restart.db", workers=2) as server:
        first = _serving_pids(server)
        victim = int(sorted(first)[0])
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(_serving_pids(server)) < 3:
            time.sleep(0.1)
        assert len(_serving_pids(server)) == 3, server.log()
        assert "worker died; restarting it" in server.log()
        server.client().WriteSchema(WriteSchemaRequest(schema=SCHEMA))
        for _ in range(10):  # new connections reach both workers, the new one included
            server.client("bob").ReadSchema(ReadSchemaRequest())


def _second_server(db: str, grpc_address: str, http_address: str) -> tuple[int, str]:
    """Start another ``clove serve``; its exit status and output, or -1 if it kept running."""
    process = subprocess.Popen(
        serve_command(
            "--db", db, "--grpc-addr", grpc_address, "--http-addr", http_address, "--workers", "2"
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=serve_environment(),
        text=True,
    )
    try:
        output, _ = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
        return -1, output
    return process.returncode, output


@pytest.mark.parametrize("workers", [1, 2])
def test_a_second_server_refuses_the_ports_of_a_running_one(tmp_path: Path, workers: int) -> None:
    with running_server(f"sqlite://{tmp_path}/first.db", workers=workers) as server:
        other = f"sqlite://{tmp_path}/second.db"
        for grpc_address, http_address, flag in [
            (server.address, f"127.0.0.1:{free_port()}", "--grpc-addr"),
            (f"127.0.0.1:{free_port()}", server.http_address, "--http-addr"),
        ]:
            status, output = _second_server(other, grpc_address, http_address)
            assert status == 1, output
            assert output.startswith("error: cannot serve on "), output
            assert "another process already uses port" in output
            assert flag in output
            assert "Traceback" not in output
        assert server.alive()
        server.client().WriteSchema(WriteSchemaRequest(schema=SCHEMA))


def test_a_server_refuses_a_port_any_other_program_listens_on(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = f"127.0.0.1:{squatter.getsockname()[1]}"
        status, output = _second_server(
            f"sqlite://{tmp_path}/x.db", f"127.0.0.1:{free_port()}", taken
        )
    assert status == 1, output
    assert "another process already uses port" in output
    assert "Traceback" not in output
