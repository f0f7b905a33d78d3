"""Cost of the HTTP surface: an AuthZEN evaluation through the ASGI app.

    .venv/bin/python benchmarks/bench_http.py [--requests 20000] [--backend memory|sqlite]
    .venv/bin/python benchmarks/bench_http.py --http --clients 4

By default it calls the ASGI app directly (no sockets), so the figures are what Clove adds
per request: header scan, authentication, admission, msgspec decode, the check, encode,
metrics, and the hop of the check to the app's thread pool (handlers never run on the event
loop). The engine's own ``Database.check`` on the same question is printed beside it.

``--http`` serves the app with uvicorn (one process) on a loopback port and sends the same
request from ``--clients`` threads over keep-alive connections: the end-to-end figure.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
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


def _serve(backend: str) -> None:
    """The child process of ``--http``: serve the app, print the port."""
    import uvicorn

    with tempfile.TemporaryDirectory() as folder:
        database = _database(backend, folder)
        app = create_app(database, gate=OpenGate(), metrics=NullMetrics())
        # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say TCP, and
        # without it a response written in two parts waits ~40 ms for a delayed ACK.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.bind(("127.0.0.1", 0))
        sock.listen(1024)
        print(sock.getsockname()[1], flush=True)
        config = uvicorn.Config(app, log_level="warning", access_log=False)
        uvicorn.Server(config).run(sockets=[sock])


def _over_http(backend: str, requests: int, clients: int) -> None:
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--backend", backend],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    port = int(child.stdout.readline())
    per_client = requests // clients
    samples: list[list[float]] = [[] for _ in range(clients)]
    headers = {"Authorization": "Bearer k", "Content-Type": "application/json"}

    def run(mine: list[float], count: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port)
        for _ in range(count):
            started = time.perf_counter()
            connection.request("POST", "/access/v1/evaluation", body=BODY, headers=headers)
            reply = connection.getresponse()
            reply.read()
            if reply.status != 200:
                raise SystemExit(f"unexpected status {reply.status}")
            mine.append(time.perf_counter() - started)
        connection.close()

    try:
        run([], 500)  # warm up
        threads = [
            threading.Thread(target=run, args=(samples[i], per_client)) for i in range(clients)
        ]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
    finally:
        child.terminate()
        child.wait()
    latencies = sorted(sample for mine in samples for sample in mine)
    p50 = latencies[len(latencies) // 2] * 1e6
    p99 = latencies[int(len(latencies) * 0.99)] * 1e6
    print(f"backend {backend}, uvicorn (1 process), {clients} clients, {len(latencies)} requests")
    rate = len(latencies) / elapsed
    print(f"  evaluation over HTTP   {rate:>10,.0f} req/s   p50 {p50:7.1f} µs   p99 {p99:7.1f} µs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--backend", choices=("memory", "sqlite"), default="memory")
    parser.add_argument("--http", action="store_true", help="serve with uvicorn, measure over TCP")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.serve:
        _serve(options.backend)
        return
    if options.http:
        _over_http(options.backend, options.requests, options.clients)
        return
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
        app = create_app(database, gate=OpenGate(), metrics=NullMetrics(), settings=HttpSettings())
        asyncio.run(_drive(app, min(2000, options.requests)))  # warm up
        samples = asyncio.run(_drive(app, options.requests))
        print(f"  evaluation (ASGI)         {_percentiles(samples)}")
        app.close()
        print(f"  (mean direct check {statistics.fmean(direct) * 1e6:.1f} µs)")
        database.close()


if __name__ == "__main__":
    main()
