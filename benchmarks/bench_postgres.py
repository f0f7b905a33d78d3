"""Clove on PostgreSQL at scale: bulk import rate, then check and lookup latency.

    .venv/bin/python benchmarks/bench_postgres.py                 # 1M relationships
    .venv/bin/python benchmarks/bench_postgres.py --size 200000 --peer

Loads ``dataset.py``'s relationships into a fresh schema with ``import_relationships`` (COPY;
the figure includes parsing and schema checks of every line), then times checks (direct,
deep, negative) and ``lookup_resources`` with "minimize latency" consistency, as
``bench_check.py`` does. ``--peer`` runs ``peer_spicedb_bulk.py`` under ``$PEER_PY`` on the
same dataset in the same run: SpiceDB on the same PostgreSQL server (a database of its own)
when it can migrate one, else SpiceDB's in-memory datastore, and says which. Prints
figures; asserts nothing about time. The schema and database are dropped afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent))

import clove
import dataset

DEFAULT_DSN = os.environ.get("CLOVE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def _percentiles(samples: list[float]) -> dict[str, float]:
    samples.sort()
    return {
        "p50_us": samples[len(samples) // 2] * 1e6,
        "p99_us": samples[int(len(samples) * 0.99)] * 1e6,
        "mean_us": statistics.fmean(samples) * 1e6,
    }


def run_clove(data: dataset.Dataset, dsn: str) -> dict[str, object]:
    schema = f"clove_bench_{uuid.uuid4().hex[:12]}"
    separator = "&" if "?" in dsn else "?"
    try:
        with clove.open(f"{dsn}{separator}schema={schema}") as db:
            db.write_schema(dataset.SCHEMA)
            started = time.perf_counter()
            db.import_relationships(data.relationships)
            import_seconds = time.perf_counter() - started
            started = time.perf_counter()
            exported = sum(1 for _ in db.export_relationships(consistency="full"))
            export_seconds = time.perf_counter() - started
            results: dict[str, object] = {
                "engine": "clove-postgres",
                "relationships": len(data.relationships),
                "import_per_s": len(data.relationships) / import_seconds,
                "import_s": import_seconds,
                "export_per_s": exported / export_seconds,
            }
            for kind, asked in (
                ("direct", data.direct),
                ("deep", data.deep),
                ("negative", data.negative),
            ):
                samples = []
                for obj, permission, subject in asked:
                    t0 = time.perf_counter()
                    result = db.check(obj, permission, subject)
                    samples.append(time.perf_counter() - t0)
                    if bool(result) != (kind != "negative"):
                        raise SystemExit(f"wrong answer for {obj} {permission} {subject}")
                results[kind] = _percentiles(samples)
            samples = []
            counts = []
            for subject in data.lookup_subjects:
                t0 = time.perf_counter()
                found = db.lookup_resources("document", "view", subject)
                samples.append(time.perf_counter() - t0)
                counts.append(len(found))
            results["lookup"] = _percentiles(samples) | {"mean_results": statistics.fmean(counts)}
            return results
    finally:
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
            )


def run_peer(size: int, questions: int, dsn: str) -> dict[str, object] | None:
    peer_python = os.environ.get("PEER_PY")
    if not peer_python:
        print("(no SpiceDB peer: set PEER_PY, see benchmarks/README.md)", file=sys.stderr)
        return None
    database = f"spicedb_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    uri = (
        f"postgres://{info.get('user', 'postgres')}@{info.get('host', '127.0.0.1')}:"
        f"{info.get('port', 5432)}/{database}?sslmode=disable"
    )
    script = Path(__file__).resolve().parent / "peer_spicedb_bulk.py"
    try:
        done = subprocess.run(
            [peer_python, str(script), str(size), str(questions), "--postgres", uri],
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
            )
    if done.returncode != 0:
        print(f"peer failed:\n{done.stderr[-2000:]}", file=sys.stderr)
        return None
    for line in done.stderr.splitlines():
        print(f"peer: {line}", file=sys.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _row(name: str, results: dict[str, object]) -> str:
    cells = [name.ljust(26)]
    for kind in ("direct", "deep", "negative", "lookup"):
        figures = results[kind]
        assert isinstance(figures, dict)
        cells.append(f"{figures['p50_us']:>9.1f} {figures['p99_us']:>9.1f}")
    return " | ".join(cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--questions", type=int, default=1000, help="checks of each kind")
    parser.add_argument("--dsn", default=DEFAULT_DSN, help="the PostgreSQL server to use")
    parser.add_argument("--peer", action="store_true", help="also run the SpiceDB peer")
    args = parser.parse_args()
    data = dataset.build(args.size, questions=args.questions)
    rows = [("clove-postgres", run_clove(data, args.dsn))]
    if args.peer:
        peer = run_peer(args.size, args.questions, args.dsn)
        if peer is not None:
            rows.append((str(peer["engine"]), peer))
    print(f"\n{len(data.relationships)} relationships (latencies in µs)")
    header = " | ".join(
        ["engine".ljust(26)]
        + [f"{k + ' p50':>9} {'p99':>9}" for k in ("direct", "deep", "negative", "lookup")]
    )
    print(header)
    for name, results in rows:
        print(_row(name, results))
    for name, results in rows:
        lookup = results["lookup"]
        assert isinstance(lookup, dict)
        extra = (
            f", export {results['export_per_s']:,.0f} rel/s" if "export_per_s" in results else ""
        )
        method = f" via {results['import_method']}" if "import_method" in results else ""
        print(
            f"{name}: import {results['import_per_s']:,.0f} rel/s{method}"
            f" ({results['import_s']:.1f}s){extra},"
            f" lookup returns {lookup['mean_results']:.1f} on average"
        )


if __name__ == "__main__":
    main()
