"""A call past its deadline stops its work: the server's CPU goes quiet, not on for seconds.

The work is measured in CPU time the server process spends (not wall time, which a busy
machine stretches): checks and lookups that each need a third of a CPU-second are sent with a
20 ms deadline; once they have failed, the server must have spent a small part of that.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import grpc
import pytest
from authzed.api.v1 import (
    CheckPermissionRequest,
    Consistency,
    LookupSubjectsRequest,
    ObjectReference,
    SubjectReference,
)

import clove
from server.serve_process import running_server

SCHEMA = """
definition user {}
definition group { relation member: user | group#member }
definition document {
    relation viewer: user | group#member
    permission view = viewer
}
"""
CALLS = 4


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.fixture(scope="module")
def wide_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('deadlines') / 'wide.db'}"
    db = clove.open(url)
    db.write_schema(SCHEMA)
    # A tree of small groups (100 x 300, each holding one more): many steps, small reads.
    texts = [f"document:wide#viewer@group:a{i}#member" for i in range(100)]
    for i in range(100):
        texts += [f"group:a{i}#member@group:b{i}x{j}#member" for j in range(300)]
        texts += [f"group:b{i}x{j}#member@group:c{i}x{j}#member" for j in range(300)]
    db.write_relationships(texts)
    db.close()
    return url


def test_calls_past_their_deadline_stop_their_work(wide_db: str) -> None:
    with running_server(wide_db) as server:
        client = server.client()
        full = Consistency(fully_consistent=True)
        for warm in ("x", "y"):  # the second, with the read cache filled, is the scale
            started = _cpu_seconds(server.process.pid)
            client.CheckPermission(
                CheckPermissionRequest(
                    consistency=full,
                    resource=ObjectReference(object_type="document", object_id="wide"),
                    permission="view",
                    subject=SubjectReference(
                        object=ObjectReference(object_type="user", object_id=warm)
                    ),
                )
            )
            one_call = _cpu_seconds(server.process.pid) - started
        # One call at a time, each given time to run: a runaway one would use all of it.
        pause = 1.5 * one_call
        before = _cpu_seconds(server.process.pid)
        for n in range(CALLS):
            subject = SubjectReference(
                object=ObjectReference(object_type="user", object_id=f"u{n}")
            )
            request = CheckPermissionRequest(
                consistency=full,
                resource=ObjectReference(object_type="document", object_id="wide"),
                permission="view",
                subject=subject,
            )
            with pytest.raises(grpc.RpcError) as raised:
                client.CheckPermission(request, timeout=0.02)
            assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED  # type: ignore[attr-defined]
            time.sleep(pause)
            lookup = LookupSubjectsRequest(
                consistency=full,
                resource=ObjectReference(object_type="document", object_id="wide"),
                permission="view",
                subject_object_type="user",
            )
            with pytest.raises(grpc.RpcError) as raised:
                list(client.LookupSubjects(lookup, timeout=0.02))
            assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED  # type: ignore[attr-defined]
            time.sleep(pause)
        spent = _cpu_seconds(server.process.pid) - before
        # Each call needs about ``one_call`` of CPU to finish: 2 * CALLS of them, stopped early.
        assert one_call > 0.1
        assert spent < 0.3 * 2 * CALLS * one_call, (spent, one_call)
        assert server.alive()
