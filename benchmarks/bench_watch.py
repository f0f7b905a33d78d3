"""Watch and garbage collection: catch-up throughput, commit-to-event latency, GC time.

    .venv/bin/python benchmarks/bench_watch.py [--backend memory,sqlite,postgres] [--revisions N]

Prints figures; asserts nothing about time. PostgreSQL is ``CLOVE_TEST_POSTGRES`` (default
``postgresql://postgres@127.0.0.1:5432/test``), in a scratch schema dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg

import clove

SCHEMA = """
definition user {}
definition doc { relation viewer: user }
"""
PER_WRITE = 5
DSN = os.environ.get("CLOVE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def bench(url: str, revisions: int) -> None:
    with clove.open(url) as db:
        start = db.write_schema(SCHEMA)
        for i in range(revisions):
            db.write_relationships([f"doc:{i}-{j}#viewer@user:u{i % 97}" for j in range(PER_WRITE)])
        began = time.perf_counter()
        with db.watch(after=start, timeout=0.2, poll_interval=0.01) as watch:
            events = sum(1 for _ in watch)
        seconds = time.perf_counter() - began - 0.2  # minus the idle timeout that ended it
        rate = events / seconds
        print(f"  catch-up: {events} events in {seconds:.2f}s = {rate:,.0f} events/s"
              f" ({rate * PER_WRITE:,.0f} updates/s)")  # fmt: skip

        latencies: list[float] = []
        with db.watch(poll_interval=0.005, timeout=5) as watch:
            written: dict[int, float] = {}

            def write() -> None:
                for i in range(100):
                    # Timed from before the write: the write's own time is in the figure.
                    began = time.perf_counter()
                    token = db.write_relationships([f"doc:live{i}#viewer@user:u"])
                    written[clove.consistency.decode_token(token, db.store.store_id)] = began
                    time.sleep(0.01)

            writer = threading.Thread(target=write)
            writer.start()
            for event in watch:
                arrived = time.perf_counter()
                while event.revision not in written:  # the writer has not recorded it yet
                    time.sleep(0.0001)
                latencies.append(arrived - written[event.revision])
                if len(latencies) == 100:
                    break
            writer.join()
        latencies.sort()
        p50 = statistics.median(latencies) * 1000
        p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
        print(f"  write-to-event (poll 5 ms): p50 {p50:.1f} ms, p99 {p99:.1f} ms")

        began = time.perf_counter()
        report = db.collect_garbage(now=datetime.now(UTC) + timedelta(days=2))
        seconds = time.perf_counter() - began
        print(f"  gc of all history: {report.revisions} revisions, {seconds * 1000:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", default="memory,sqlite,postgres")
    parser.add_argument("--revisions", type=int, default=2000)
    args = parser.parse_args()
    for backend in args.backend.split(","):
        print(f"{backend}: {args.revisions} writes of {PER_WRITE} relationships")
        if backend == "memory":
            bench("memory", args.revisions)
        elif backend == "sqlite":
            with tempfile.TemporaryDirectory() as directory:
                bench(f"sqlite://{directory}/bench.db", args.revisions)
        elif backend == "postgres":
            schema = f"clove_bench_{uuid.uuid4().hex[:12]}"
            try:
                bench(f"{DSN}?schema={schema}", args.revisions)
            finally:
                with psycopg.connect(DSN, autocommit=True) as connection:
                    connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        else:
            parser.error(f"unknown backend {backend!r}")


if __name__ == "__main__":
    main()
