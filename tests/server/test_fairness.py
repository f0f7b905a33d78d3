"""Clients are charged by the work their requests do: fair sharing in a worker, step quotas.

Fair sharing is checked with real threads and a fake clock: a heavy client's request pauses
at its checkpoints while a lighter client's request is in flight, and goes on when it ends
(or after ``MAX_PAUSE``); clients that only ask cheap questions never pause. Step quotas are
checked on the gate and through a real server: a client whose lookups use up its steps is
stopped and then refused, with RESOURCE_EXHAUSTED, while another client is served.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import grpc
import pytest
from authzed.api.v1 import (
    CheckPermissionRequest,
    LookupSubjectsRequest,
    ObjectReference,
    RelationshipUpdate,
    SubjectReference,
    WriteRelationshipsRequest,
    WriteSchemaRequest,
)
from authzed.api.v1 import Relationship as RelationshipMessage

from clove.engine.budget import CHECK_EVERY, Budget
from clove.errors import ResourceExhaustedError
from clove.server.fairness import HEAVY, MAX_PAUSE, FairShare
from clove.server.gate import ClientKey, KeyGate
from clove.server.limits import Limits
from server.serve_process import Server, running_server


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_heavy_client_pauses_while_a_light_one_is_in_flight() -> None:
    fair = FairShare()
    fair.enter("light")
    paused: list[float] = []
    heavy = threading.Thread(target=lambda: paused.append(fair.charge("heavy", int(HEAVY) + 1)))
    heavy.start()
    time.sleep(MAX_PAUSE / 4)
    fair.leave("light")  # the light request ends: the heavy one goes on at once
    heavy.join(5)
    assert len(paused) == 1 and 0 < paused[0] < 5


def test_a_pause_is_bounded_and_cheap_clients_never_pause() -> None:
    fair = FairShare()
    fair.enter("light")
    # Heavy, with the light request never ending: it waits MAX_PAUSE, then goes on.
    assert MAX_PAUSE * 0.9 <= fair.charge("heavy", int(HEAVY) + 1) < 1.0
    # Two clients of cheap requests: neither ever waits for the other.
    fair.enter("other")
    for _ in range(50):
        assert fair.charge("light", CHECK_EVERY) == 0.0
        assert fair.charge("other", CHECK_EVERY) == 0.0
    # Alone in flight, even a heavy client never pauses.
    fair.leave("light")
    fair.leave("other")
    assert fair.charge("heavy", 10 * int(HEAVY)) == 0.0


def test_recent_work_decays() -> None:
    clock = FakeClock()
    fair = FairShare(clock=clock)
    fair.charge("heavy", 80_000)
    clock.now += 2.0  # two half-lives
    assert fair.usage("heavy") == pytest.approx(20_000)


def _gate(rate: float, burst: float) -> KeyGate:
    keys = {
        "alice": ClientKey(key="alice-key-0123456789"),
        "bob": ClientKey(key="bob-key-0123456789"),
    }
    return KeyGate(keys, Limits(cost_rate=rate, cost_burst=burst))


def test_a_request_that_uses_up_its_clients_steps_is_stopped_then_the_client_refused() -> None:
    gate = _gate(rate=1.0, burst=1_000)
    with gate.admit("alice") as tab:
        budget = Budget(on_check=tab.charge)
        with pytest.raises(ResourceExhaustedError, match="quota of 1 evaluation steps/s"):
            for _ in range(2_000):
                budget.spend()
        assert 1_000 <= tab.spent <= 1_000 + CHECK_EVERY + 1
    with pytest.raises(ResourceExhaustedError, match="used up its quota"), gate.admit("alice"):
        pass
    with gate.admit("bob") as tab:  # another client has its own quota
        Budget(on_check=tab.charge).spend(500)


# --- through the server ------------------------------------------------------------------

SCHEMA = """
definition user {}
definition group { relation member: user | group#member }
definition document {
    relation viewer: user | group#member
    permission view = viewer
}
"""


def _touch(
    resource: str, relation: str, subject: str, subject_relation: str = ""
) -> RelationshipUpdate:
    rtype, _, rid = resource.partition(":")
    stype, _, sid = subject.partition(":")
    return RelationshipUpdate(
        operation=RelationshipUpdate.OPERATION_TOUCH,
        relationship=RelationshipMessage(
            resource=ObjectReference(object_type=rtype, object_id=rid),
            relation=relation,
            subject=SubjectReference(
                object=ObjectReference(object_type=stype, object_id=sid),
                optional_relation=subject_relation,
            ),
        ),
    )


@pytest.fixture(scope="module")
def quota_server() -> Iterator[Server]:
    extra = ("--cost-rate", "100", "--cost-burst", "6000", "--max-batch", "1000")
    with running_server("memory", extra=extra) as running:
        client = running.client()
        client.WriteSchema(WriteSchemaRequest(schema=SCHEMA))
        updates = [_touch("document:wide", "viewer", f"group:g{n}", "member") for n in range(900)]
        updates += [_touch(f"group:g{n}", "member", f"user:u{n}") for n in range(900)]
        updates.append(_touch("document:small", "viewer", "user:ann"))
        for start in range(0, len(updates), 1000):
            client.WriteRelationships(
                WriteRelationshipsRequest(updates=updates[start : start + 1000])
            )
        yield running


def test_a_client_past_its_step_quota_is_stopped_and_refused_while_others_are_served(
    quota_server: Server,
) -> None:
    alice, bob = quota_server.client("alice"), quota_server.client("bob")
    lookup = LookupSubjectsRequest(
        resource=ObjectReference(object_type="document", object_id="wide"),
        permission="view",
        subject_object_type="user",
    )
    codes = []
    for _ in range(4):  # each lookup takes ~4,500 steps (answers included); the bucket 6,000
        try:
            list(alice.LookupSubjects(lookup, timeout=30))
            codes.append("OK")
        except grpc.RpcError as error:
            codes.append(error.code().name)  # type: ignore[attr-defined]
    assert codes[0] == "OK"
    assert "RESOURCE_EXHAUSTED" in codes[1:]
    check = CheckPermissionRequest(
        resource=ObjectReference(object_type="document", object_id="small"),
        permission="view",
        subject=SubjectReference(object=ObjectReference(object_type="user", object_id="ann")),
    )
    with pytest.raises(grpc.RpcError) as refused:
        alice.CheckPermission(check, timeout=10)
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # type: ignore[attr-defined]
    assert "quota" in refused.value.details()  # type: ignore[attr-defined]
    # bob has his own bucket: served all along.
    assert bob.CheckPermission(check, timeout=10).permissionship == 2
    assert list(bob.LookupSubjects(lookup, timeout=30))


def test_heavy_requests_take_turns_in_one_lane() -> None:
    fair = FairShare()
    order: list[str] = []
    fair.enter("heavy")
    fair.charge("heavy", 4 * int(HEAVY))  # this thread holds the lane
    second_in = threading.Event()

    def second() -> None:
        fair.enter("heavy")
        fair.charge("heavy", CHECK_EVERY)  # waits for the lane
        order.append("second runs")
        second_in.set()
        fair.leave("heavy")  # and hands it back

    other = threading.Thread(target=second)
    other.start()
    time.sleep(0.01)
    assert not second_in.is_set()  # still waiting: the lane is taken
    order.append("first checkpoint")
    fair.charge("heavy", CHECK_EVERY)  # hands the lane on, waits for it back
    order.append("first runs again")
    other.join(5)
    fair.leave("heavy")
    assert order == ["first checkpoint", "second runs", "first runs again"]
