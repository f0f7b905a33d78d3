"""Per-client limits hold across all workers: one ledger in shared memory, not one per process."""

from __future__ import annotations

import json
import multiprocessing
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from authzed.api.v1 import (
    CheckPermissionRequest,
    ObjectReference,
    SubjectReference,
    WriteSchemaRequest,
)

from clove.errors import ResourceExhaustedError
from clove.server.ledger import ClientLedger, LedgerHandle
from server.serve_process import running_server

SCHEMA = """
definition user {}
definition document {
    relation viewer: user
    permission view = viewer
}
"""
BURST = 5
CALLS = 30


@pytest.fixture
def ledger() -> Iterator[ClientLedger]:
    shared = ClientLedger.create(["alice", "bob"], burst=3, workers=2)
    try:
        yield shared
    finally:
        shared.close()


def _take_in_other_process(handle: LedgerHandle, count: int) -> None:
    """Worker 1, in a spawned process: take ``count`` of alice's slots and keep them."""
    ledger = ClientLedger.attach(handle, worker=1)
    for _ in range(count):
        ledger.take("alice", cost=1, rate=0.0, burst=3.0, concurrency=2)


def test_slots_and_tokens_taken_in_another_process_count_here(ledger: ClientLedger) -> None:
    # Forked, so that the child needs not import this test module (the server spawns).
    context = multiprocessing.get_context("fork")
    other = context.Process(target=_take_in_other_process, args=(ledger.handle, 1))
    other.start()
    other.join(60)
    assert other.exitcode == 0
    here = ClientLedger.attach(ledger.handle, worker=0)
    try:
        here.take("alice", cost=1, rate=0.0, burst=3.0, concurrency=2)
        # Worker 1 holds one slot and this one the other: alice is at her concurrency.
        with pytest.raises(ResourceExhaustedError, match="2 requests in flight"):
            here.take("alice", cost=1, rate=0.0, burst=3.0, concurrency=2)
        here.release("alice")
        # Two of her three tokens are spent (one in each process); no refill at rate 0.
        here.take("alice", cost=1, rate=0.0, burst=3.0, concurrency=2)
        here.release("alice")
        with pytest.raises(ResourceExhaustedError, match="rate limit"):
            here.take("alice", cost=1, rate=0.0, burst=3.0, concurrency=2)
        # Bob's slot is his own.
        here.take("bob", cost=1, rate=0.0, burst=3.0, concurrency=2)
        here.release("bob")
    finally:
        here.close()


def test_a_dead_workers_slots_are_given_back_before_it_restarts(ledger: ClientLedger) -> None:
    worker = ClientLedger.attach(ledger.handle, worker=1)
    try:
        worker.take("alice", cost=0, rate=0.0, burst=3.0, concurrency=1)
        worker.open_stream("alice", limit=1)
        with pytest.raises(ResourceExhaustedError, match="in flight"):
            ledger.take("alice", cost=0, rate=0.0, burst=3.0, concurrency=1)
        with pytest.raises(ResourceExhaustedError, match="watches open"):
            ledger.open_stream("alice", limit=1)
        ledger.forget_worker(1)  # the supervisor, when worker 1 died holding them
        ledger.take("alice", cost=0, rate=0.0, burst=3.0, concurrency=1)
        ledger.open_stream("alice", limit=1)
    finally:
        worker.close()


def test_a_private_ledger_cannot_be_attached() -> None:
    private = ClientLedger.create(["alice"], burst=1, shared=False)
    with pytest.raises(ValueError, match="one process"):
        ClientLedger.attach(private.handle, worker=0)
    private.close()


def test_two_workers_together_grant_a_client_one_rate_limit(tmp_path: Path) -> None:
    extra = ("--rate-limit", "0.001", "--burst", str(BURST), "--log-level", "debug")
    with running_server(f"sqlite://{tmp_path}/limits.db", workers=2, extra=extra) as server:
        server.client("bob").WriteSchema(WriteSchemaRequest(schema=SCHEMA))
        codes: Counter[grpc.StatusCode] = Counter()
        for number in range(CALLS):
            # A new channel each time: the kernel spreads connections over both workers.
            client = server.client("alice")
            try:
                client.CheckPermission(
                    CheckPermissionRequest(
                        resource=ObjectReference(object_type="document", object_id=f"d{number}"),
                        permission="view",
                        subject=SubjectReference(
                            object=ObjectReference(object_type="user", object_id="ann")
                        ),
                    )
                )
                codes[grpc.StatusCode.OK] += 1
            except grpc.RpcError as error:
                codes[error.code()] += 1
        log = server.log()
    assert codes == {
        grpc.StatusCode.OK: BURST,
        grpc.StatusCode.RESOURCE_EXHAUSTED: CALLS - BURST,
    }
    served_by = {
        entry["pid"]
        for entry in map(json.loads, filter(None, log.splitlines()))
        if entry.get("event") == "request" and entry.get("client") == "alice"
    }
    assert len(served_by) == 2, "both workers must have answered alice"
