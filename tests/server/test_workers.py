"""``--workers 2`` on SQLite and PostgreSQL: a write through any worker is visible, per token,
through every other; and SIGTERM lets requests in flight finish."""

from __future__ import annotations

import re
import signal
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
    Relationship,
    RelationshipUpdate,
    SubjectReference,
    WriteRelationshipsRequest,
    WriteSchemaRequest,
)
from authzed.api.v1.permission_service_pb2 import ImportBulkRelationshipsRequest

from server.serve_process import Server, running_server
from storage.postgres_server import drop_schemas, new_schema, require_postgres, url_with_schema

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
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path}/serve.db"
        return
    require_postgres()
    schema = new_schema()
    try:
        yield url_with_schema(schema)
    finally:
        drop_schemas([schema])


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
