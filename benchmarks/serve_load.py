"""Concurrent check load from Python threads, shared by ``bench_serve.py`` and its peer side.

No Clove import: the SpiceDB peer's interpreter runs the very same load generator.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any


def run_load(
    call: Callable[[Any], object], requests: Sequence[Any], *, threads: int, seconds: float
) -> dict[str, float]:
    """``threads`` clients send ``requests`` round-robin for ``seconds``: checks/s, p50, p99."""
    latencies: list[list[float]] = [[] for _ in range(threads)]
    errors = [0] * threads
    start = threading.Barrier(threads + 1)
    stop_at = [0.0]

    def client(number: int) -> None:
        mine = latencies[number]
        position = number * 7919
        start.wait()
        while time.perf_counter() < stop_at[0]:
            request = requests[position % len(requests)]
            position += 1
            began = time.perf_counter()
            try:
                call(request)
            except Exception:
                errors[number] += 1
                continue
            mine.append(time.perf_counter() - began)

    workers = [threading.Thread(target=client, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    stop_at[0] = time.perf_counter() + seconds
    began = time.perf_counter()
    start.wait()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - began
    samples = sorted(sample for mine in latencies for sample in mine)
    if not samples:
        return {"checks_per_s": 0.0, "errors": float(sum(errors))}
    return {
        "checks_per_s": len(samples) / elapsed,
        "p50_us": samples[len(samples) // 2] * 1e6,
        "p99_us": samples[min(len(samples) - 1, int(len(samples) * 0.99))] * 1e6,
        "mean_us": statistics.fmean(samples) * 1e6,
        "errors": float(sum(errors)),
    }
