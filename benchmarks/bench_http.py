"""In-process cost of the HTTP surface: an AuthZEN evaluation through the ASGI app.

    .venv/bin/python benchmarks/bench_http.py [--requests 20000] [--backend memory|sqlite]

Calls the ASGI app directly (no sockets), so the figures are what Clove adds per request:
header scan, authentication, admission, msgspec decode, the check, encode, metrics. The
engine's own ``Database.check`` on the same question is printed beside it, and the app is
measured with engine calls inline on the event loop and handed to threads.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import clove
from clove.server.http import HttpSettings, create_app

SCHEMA = """
definition user {}
definition group { relation member: user | group#member }
definition document {
    relation viewer: user | group#member
    relation banned: user
    permission view = viewer - banned
}
"""

BODY = (
    b'{"subject": {"type": "user", "id": "u7"}, "action": {"name": "view"},'
    b' "resource": {"type": "document", "id": "d42"}}'
)


class OpenGate:
    def authenticate(self, authorization: str | None) -> str:
        return "bench"

    @contextmanager
    def admit(self, client: str, *, cost: int = 1) -> Iterator[None]:
        yield


class NullMetrics:
    def observe(self, *, surface: str, method: str, client: str, code: str, seconds: float) -> None:
        pass

    def throttled(self, *, client: str) -> None:
        pass

    def render(self) -> tuple[bytes, str]:
        return b"", "text/plain"


def _database(backend: str, folder: str) -> clove.Database:
    url = "memory" if backend == "memory" else f"sqlite://{folder}/bench.db"
    database = clove.open(url)
    database.write_schema(SCHEMA)
    rels = [f"group:g{i % 10}#member@user:u{i}" for i in range(100)]
    rels += [f"document:d{i}#viewer@group:g{i % 10}#member" for i in range(1000)]
    database.write_relationships(rels)
    return database


def _percentiles(samples: list[float]) -> str:
    samples.sort()
    p50 = samples[len(samples) // 2] * 1e6
    p99 = samples[int(len(samples) * 0.99)] * 1e6
    rate = len(samples) / sum(samples)
    return f"{rate:>10,.0f} req/s   p50 {p50:7.1f} µs   p99 {p99:7.1f} µs"


async def _drive(app: Any, requests: int) -> list[float]:
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/access/v1/evaluation",
        "scheme": "http",
        "headers": [
            (b"host", b"localhost"),
            (b"authorization", b"Bearer k"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(BODY)).encode()),
        ],
    }
    message = {"type": "http.request", "body": BODY, "more_body": False}
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        return message

    async def send(event: dict[str, Any]) -> None:
        if event["type"] == "http.response.start":
            status.append(event["status"])

    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        await app(scope, receive, send)
        samples.append(time.perf_counter() - started)
    if set(status) != {200}:
        raise SystemExit(f"unexpected statuses {set(status)}")
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--backend", choices=("memory", "sqlite"), default="memory")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        database = _database(options.backend, folder)
        direct = []
        for _ in range(options.requests):
            started = time.perf_counter()
            database.check("document:d42", "view", "user:u7")
            direct.append(time.perf_counter() - started)
        python = sys.version.split()[0]
        print(f"backend {options.backend}, {options.requests} requests, Python {python}")
        print(f"  Database.check            {_percentiles(direct)}")
        for blocking in ("inline", "threads"):
            settings = HttpSettings(blocking=blocking)
            app = create_app(database, gate=OpenGate(), metrics=NullMetrics(), settings=settings)
            asyncio.run(_drive(app, min(2000, options.requests)))  # warm up
            samples = asyncio.run(_drive(app, options.requests))
            print(f"  evaluation ({blocking:<7})    {_percentiles(samples)}")
        print(f"  (mean direct check {statistics.fmean(direct) * 1e6:.1f} µs)")
        database.close()


if __name__ == "__main__":
    main()
