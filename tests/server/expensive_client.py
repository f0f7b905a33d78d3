"""A client whose every request is expensive (run by the isolation test).

Usage: ``python expensive_client.py ADDRESS KEY SECONDS THREADS``. Each thread asks, again and
again, for every subject of a document reached through a tree of thousands of groups: a
lookup that takes a worker a good fraction of a CPU-second. A thread refused with
RESOURCE_EXHAUSTED backs off briefly, as gRPC clients do. It runs at a low CPU priority: it
stands for a client on another machine. Prints one JSON line of counts.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time

import grpc
from authzed.api.v1 import Client, LookupSubjectsRequest, ObjectReference
from grpcutil import insecure_bearer_token_credentials

BACKOFF_SECONDS = 0.05


def main() -> None:
    os.nice(15)
    address, key, seconds, threads = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
    client = Client(address, insecure_bearer_token_credentials(key))
    request = LookupSubjectsRequest(
        resource=ObjectReference(object_type="document", object_id="wide"),
        permission="view",
        subject_object_type="user",
    )
    counts = {"answered": 0, "refused": 0, "failed": 0}
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def ask() -> None:
        while time.monotonic() < stop_at:
            try:
                list(client.LookupSubjects(request, timeout=60))
                outcome = "answered"
            except grpc.RpcError as error:
                refused = error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # type: ignore[attr-defined]
                outcome = "refused" if refused else "failed"
            with lock:
                counts[outcome] += 1
            if outcome != "answered":
                time.sleep(BACKOFF_SECONDS)

    workers = [threading.Thread(target=ask) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    print(json.dumps(counts), flush=True)


if __name__ == "__main__":
    main()
