"""``clove serve`` under concurrent clients, side by side with the SpiceDB peer.

Starts a real ``clove serve`` (SQLite store, ``--workers`` processes), loads the benchmark
dataset through the official ``authzed`` client, then drives concurrent CheckPermission calls
(direct, deep and negative questions mixed) from client threads and prints checks/s with p50
and p99 latency. With ``--peer`` the same dataset and load run against an embedded SpiceDB
(``peer_serve.py`` under ``$PEER_PY``) in the same run.

    .venv/bin/python benchmarks/bench_serve.py --size 20000 --threads 1,8,32 --workers 2 --peer
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from authzed.api.v1 import (
    CheckPermissionRequest,
    Client,
    Consistency,
    ObjectReference,
    Relationship,
    RelationshipUpdate,
    SubjectReference,
    WriteRelationshipsRequest,
    WriteSchemaRequest,
)
from grpcutil import insecure_bearer_token_credentials

sys.path.insert(0, str(Path(__file__).resolve().parent))

import dataset
from serve_load import run_load

KEY = "bench-key-0123456789abcdef"


def _obj(text: str) -> ObjectReference:
    type_, _, id_ = text.partition(":")
    return ObjectReference(object_type=type_, object_id=id_)


def _subject(text: str) -> SubjectReference:
    obj, _, relation = text.partition("#")
    return SubjectReference(object=_obj(obj), optional_relation=relation)


def _relationship(text: str) -> Relationship:
    resource, _, subject = text.partition("@")
    obj, _, relation = resource.partition("#")
    return Relationship(resource=_obj(obj), relation=relation, subject=_subject(subject))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start_server(db: str, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    address = f"127.0.0.1:{_free_port()}"
    environment = dict(os.environ, CLOVE_KEYS=f"bench={KEY}")
    process = subprocess.Popen(
        [
            sys.executable, "-m", "clove.cli.main", "serve", "--db", db,
            "--grpc-addr", address, "--http-addr", "off", "--workers", str(workers),
            "--rate-limit", "1000000", "--burst", "1000000", "--concurrency", "1024",
            "--log-level", "warning",
        ],
        env=environment,
    )  # fmt: skip
    client = Client(address, insecure_bearer_token_credentials(KEY))
    deadline = time.monotonic() + 60
    while True:
        try:
            client.WriteSchema(WriteSchemaRequest(schema=dataset.SCHEMA), timeout=2)
            return process, address
        except Exception:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise
            time.sleep(0.2)


def _clove(args: argparse.Namespace, data: dataset.Dataset) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="clove-bench-serve-") as folder:
        process, address = _start_server(f"sqlite://{folder}/bench.db", args.workers)
        try:
            client = Client(address, insecure_bearer_token_credentials(KEY))
            started = time.perf_counter()
            for i in range(0, len(data.relationships), 1000):
                updates = [
                    RelationshipUpdate(
                        operation=RelationshipUpdate.OPERATION_TOUCH,
                        relationship=_relationship(text),
                    )
                    for text in data.relationships[i : i + 1000]
                ]
                client.WriteRelationships(WriteRelationshipsRequest(updates=updates))
            load_seconds = time.perf_counter() - started
            consistency = Consistency(minimize_latency=True)
            requests = [
                CheckPermissionRequest(
                    resource=_obj(resource),
                    permission=permission,
                    subject=_subject(subject),
                    consistency=consistency,
                )
                for resource, permission, subject in data.direct + data.deep + data.negative
            ]
            for request in requests[:200]:  # warm the caches of the workers
                client.CheckPermission(request)
            own = threading.local()

            def call(request: CheckPermissionRequest) -> None:
                # Each client thread holds its own channel, as separate services would.
                mine = getattr(own, "client", None)
                if mine is None:
                    mine = own.client = Client(address, insecure_bearer_token_credentials(KEY))
                mine.CheckPermission(request)

            results = {
                str(threads): run_load(call, requests, threads=threads, seconds=args.seconds)
                for threads in args.thread_counts
            }
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(60)
    return {
        "engine": f"clove serve (sqlite, {args.workers} workers)",
        "load_per_s": len(data.relationships) / load_seconds,
        "results": results,
    }


def _peer(args: argparse.Namespace) -> dict[str, object] | None:
    peer_python = os.environ.get("PEER_PY")
    if not peer_python:
        print("no $PEER_PY: run ../shared/tools/spicedb-peer-setup first (see README)")
        return None
    threads = ",".join(str(n) for n in args.thread_counts)
    output = subprocess.run(
        [
            peer_python,
            str(Path(__file__).with_name("peer_serve.py")),
            str(args.size),
            str(args.questions),
            str(args.seconds),
            threads,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, object] = json.loads(output.strip().splitlines()[-1])
    return result


def _print(report: dict[str, object]) -> None:
    print(f"\n{report['engine']}")
    if "load_per_s" in report:
        print(f"  load: {report['load_per_s']:,.0f} relationships/s")
    results = report["results"]
    assert isinstance(results, dict)
    print(f"  {'clients':>8} {'checks/s':>10} {'p50 µs':>9} {'p99 µs':>9} {'errors':>7}")
    for threads, figures in results.items():
        print(
            f"  {threads:>8} {figures['checks_per_s']:>10,.0f} {figures.get('p50_us', 0):>9,.0f}"
            f" {figures.get('p99_us', 0):>9,.0f} {figures['errors']:>7,.0f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=20_000, help="relationships in the dataset")
    parser.add_argument("--questions", type=int, default=300, help="checks of each kind")
    parser.add_argument("--seconds", type=float, default=5.0, help="load duration per step")
    parser.add_argument("--threads", default="1,8,32", help="concurrent clients per step")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--peer", action="store_true", help="also run the SpiceDB peer")
    args = parser.parse_args()
    args.thread_counts = [int(n) for n in args.threads.split(",")]
    data = dataset.build(args.size, questions=args.questions)
    print(
        f"{len(data.relationships):,} relationships; {args.questions} direct, deep and negative "
        f"checks each; {args.seconds:g} s per step; machine: {os.cpu_count()} cores"
    )
    _print(_clove(args, data))
    if args.peer:
        peer = _peer(args)
        if peer is not None:
            _print(peer)


if __name__ == "__main__":
    main()
