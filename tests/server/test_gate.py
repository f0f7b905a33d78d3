"""Bearer keys, per-client token buckets and concurrency slots, and the in-flight lock table."""

from __future__ import annotations

import threading
import time
from typing import cast

import grpc
import pytest

from clove.errors import ResourceExhaustedError, UnauthenticatedError
from clove.server.dedup import InflightRequests
from clove.server.gate import ClientKey, KeyGate
from clove.server.grpc.calls import require_time
from clove.server.limits import Limits
from clove.server.metrics import PrometheusMetrics

KEYS = {
    "alice": ClientKey(key="alice-key-0123456789"),
    "bob": ClientKey(key="bob-key-0123456789"),
}


def test_keys_name_clients() -> None:
    gate = KeyGate(KEYS, Limits())
    assert gate.authenticate("Bearer alice-key-0123456789") == "alice"
    assert gate.authenticate("bearer bob-key-0123456789") == "bob"
    for bad, message in [
        (None, "missing bearer token"),
        ("", "missing bearer token"),
        ("Basic alice-key-0123456789", "malformed authorization"),
        ("Bearer", "malformed authorization"),
        ("Bearer alice-key-012345678", "invalid bearer token"),
        ("Bearer alice-key-01234567890", "invalid bearer token"),
    ]:
        with pytest.raises(UnauthenticatedError, match=message):
            gate.authenticate(bad)


def test_rate_limit_is_per_client() -> None:
    gate = KeyGate(KEYS, Limits(rate=0.001, burst=3))
    for _ in range(3):
        with gate.admit("alice"):
            pass
    with pytest.raises(ResourceExhaustedError, match="rate limit"), gate.admit("alice"):
        pass
    with gate.admit("bob"):
        pass


def test_rate_limit_refills() -> None:
    gate = KeyGate(KEYS, Limits(rate=200, burst=1))
    with gate.admit("alice"):
        pass
    time.sleep(0.02)
    with gate.admit("alice"):
        pass


def test_concurrency_limit_is_per_client() -> None:
    gate = KeyGate(KEYS, Limits(concurrency=2))
    with gate.admit("alice"), gate.admit("alice"):
        with pytest.raises(ResourceExhaustedError, match="in flight"), gate.admit("alice"):
            pass
        with gate.admit("bob"):
            pass
    with gate.admit("alice"):
        pass


def test_identical_requests_in_flight_are_computed_once() -> None:
    inflight: InflightRequests[int] = InflightRequests()
    started = threading.Event()
    release = threading.Event()
    calls = []

    def slow() -> int:
        calls.append(1)
        started.set()
        release.wait(5)
        return 42

    results: list[tuple[int, bool]] = []
    leader = threading.Thread(target=lambda: results.append(inflight.run("k", slow)))
    leader.start()
    assert started.wait(5)
    followers = [
        threading.Thread(target=lambda: results.append(inflight.run("k", slow))) for _ in range(3)
    ]
    for follower in followers:
        follower.start()
    time.sleep(0.05)
    release.set()
    for thread in [leader, *followers]:
        thread.join(5)
    assert len(calls) == 1
    assert sorted(results) == [(42, False), (42, True), (42, True), (42, True)]
    # Once finished, the key is free again: a later request computes afresh.
    assert inflight.run("k", lambda: 7) == (7, False)


class _NoDeadline:
    """A gRPC call context without a deadline: gRPC reports its infinite one, ~9.2e18 s."""

    def time_remaining(self) -> float:
        return 9.223372036854776e18


def test_a_follower_of_a_call_without_a_deadline_waits_without_one() -> None:
    timeout = require_time(cast("grpc.ServicerContext", _NoDeadline()))
    assert timeout is None
    inflight: InflightRequests[int] = InflightRequests()
    started, release = threading.Event(), threading.Event()

    def slow() -> int:
        started.set()
        release.wait(5)
        return 42

    leader = threading.Thread(target=lambda: inflight.run("k", slow, timeout=timeout))
    leader.start()
    assert started.wait(5)
    follower: list[tuple[int, bool]] = []
    waiting = threading.Thread(
        target=lambda: follower.append(inflight.run("k", slow, timeout=timeout))
    )
    waiting.start()
    time.sleep(0.05)
    release.set()
    for thread in (leader, waiting):
        thread.join(5)
    assert follower == [(42, True)]


def test_a_failure_reaches_every_waiter() -> None:
    inflight: InflightRequests[int] = InflightRequests()

    def broken() -> int:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        inflight.run("k", broken)
    assert inflight.run("k", lambda: 1) == (1, False)


def test_metrics_render_prometheus_text() -> None:
    metrics = PrometheusMetrics()
    metrics.observe(
        surface="grpc", method="CheckPermission", client="alice", code="OK", seconds=0.001
    )
    metrics.throttled(client="bob")
    metrics.deduplicated(client="alice")
    body, content_type = metrics.render()
    text = body.decode()
    assert content_type.startswith("text/plain")
    assert (
        'clove_requests_total{client="alice",code="OK",method="CheckPermission",surface="grpc"} 1.0'
        in text
    )
    assert 'clove_throttled_requests_total{client="bob"} 1.0' in text
    assert 'clove_deduplicated_checks_total{client="alice"} 1.0' in text
