"""Prometheus metrics for ``clove serve``, summed over every worker process.

With several workers each process writes its samples to files in a shared directory
(``PROMETHEUS_MULTIPROC_DIR``, which ``clove serve`` sets before it starts the workers), and
whichever worker answers ``/metrics`` renders the sum; a single process renders its own.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"

# Latency buckets from 100 µs to 10 s: checks are sub-millisecond, lookups may take seconds.
_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0,
)  # fmt: skip


class PrometheusMetrics:
    """The ``Metrics`` of ``clove serve``, plus the counters only the server knows about."""

    def __init__(self) -> None:
        self._registry = CollectorRegistry(auto_describe=True)
        self._requests = Counter(
            "clove_requests",
            "Finished requests by surface, method, client and status code.",
            ("surface", "method", "client", "code"),
            registry=self._registry,
        )
        self._latency = Histogram(
            "clove_request_duration_seconds",
            "Request latency by surface and method.",
            ("surface", "method"),
            buckets=_BUCKETS,
            registry=self._registry,
        )
        self._throttled = Counter(
            "clove_throttled_requests",
            "Requests refused by a client's rate or concurrency limit.",
            ("client",),
            registry=self._registry,
        )
        self._deduplicated = Counter(
            "clove_deduplicated_checks",
            "Checks answered by an identical check already in flight (same client, revision).",
            ("client",),
            registry=self._registry,
        )

    def observe(self, *, surface: str, method: str, client: str, code: str, seconds: float) -> None:
        self._requests.labels(surface, method, client, code).inc()
        self._latency.labels(surface, method).observe(seconds)

    def throttled(self, *, client: str) -> None:
        self._throttled.labels(client).inc()

    def deduplicated(self, *, client: str) -> None:
        self._deduplicated.labels(client).inc()

    def render(self) -> tuple[bytes, str]:
        if os.environ.get(MULTIPROCESS_DIR_VARIABLE):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self._registry), CONTENT_TYPE_LATEST
