"""A client that floods ``clove serve`` from many threads (run by the isolation tests).

Usage: ``python flood_client.py ADDRESS KEY SECONDS THREADS [check|lookup]``. ``check`` (the
default) asks a cheap check again and again; ``lookup`` asks for every subject of a document
reached through a tree of thousands of groups, a lookup that takes a worker a good fraction
of a CPU-second. Like any client that honours backpressure, a thread refused with
RESOURCE_EXHAUSTED waits briefly before trying again. It runs at a low CPU priority: it stands
for a client on another machine.
Prints one JSON line: how many requests were answered, refused and failed.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable

import grpc
from authzed.api.v1 import (
    CheckPermissionRequest,
    Client,
    LookupSubjectsRequest,
    ObjectReference,
    SubjectReference,
)
from grpcutil import insecure_bearer_token_credentials

BACKOFF_SECONDS = 0.05  # a short gRPC-style retry backoff


def _asker(client: Client, kind: str) -> Callable[[], None]:
    if kind == "lookup":
        lookup = LookupSubjectsRequest(
            resource=ObjectReference(object_type="document", object_id="wide"),
            permission="view",
            subject_object_type="user",
        )

        def ask_lookup() -> None:
            list(client.LookupSubjects(lookup, timeout=60))

        return ask_lookup
    check = CheckPermissionRequest(
        resource=ObjectReference(object_type="document", object_id="d1"),
        permission="view",
        subject=SubjectReference(object=ObjectReference(object_type="user", object_id="eve")),
    )

    def ask_check() -> None:
        client.CheckPermission(check, timeout=5)

    return ask_check


def main() -> None:
    # A real flooder runs on another machine; here its own client-side work must not take
    # the CPU that the server and the victim share, so it yields to them.
    os.nice(15)
    address, key, seconds, threads = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
    kind = sys.argv[5] if len(sys.argv) > 5 else "check"
    ask = _asker(Client(address, insecure_bearer_token_credentials(key)), kind)
    counts = {"answered": 0, "refused": 0, "failed": 0}
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def flood() -> None:
        while time.monotonic() < stop_at:
            try:
                ask()
                outcome = "answered"
            except grpc.RpcError as error:
                refused = error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # type: ignore[attr-defined]
                outcome = "refused" if refused else "failed"
            with lock:
                counts[outcome] += 1
            if outcome != "answered":
                time.sleep(BACKOFF_SECONDS)

    workers = [threading.Thread(target=flood) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    print(json.dumps(counts), flush=True)


if __name__ == "__main__":
    main()
