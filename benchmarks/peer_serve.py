"""The SpiceDB side of bench_serve.py: run with the peer's Python ($PEER_PY).

Loads the benchmark dataset into an embedded SpiceDB and drives concurrent CheckPermission
calls through its gRPC channel with the same load generator; prints one JSON line.
Usage: $PEER_PY benchmarks/peer_serve.py SIZE QUESTIONS SECONDS THREADS[,THREADS...]
"""

from __future__ import annotations

import ctypes
import json
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from authzed.api.v1 import (
    CheckPermissionRequest,
    Consistency,
    RelationshipUpdate,
    WriteRelationshipsRequest,
)
from spicedb_embedded import EmbeddedSpiceDB, ffi

import dataset
from peer_spicedb import _obj, _relationship, _subject
from serve_load import run_load

warnings.simplefilter("ignore")


def main() -> None:
    size, questions, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    thread_counts = [int(n) for n in sys.argv[4].split(",")]
    ffi._get_lib().spicedb_free.argtypes = [ctypes.c_void_p]
    data = dataset.build(size, questions=questions)
    db = EmbeddedSpiceDB.start(dataset.SCHEMA)
    perms = db.permissions()
    for i in range(0, len(data.relationships), 1000):
        updates = [
            RelationshipUpdate(
                operation=RelationshipUpdate.Operation.OPERATION_TOUCH,
                relationship=_relationship(text),
            )
            for text in data.relationships[i : i + 1000]
        ]
        perms.WriteRelationships(WriteRelationshipsRequest(updates=updates))
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
    results = {
        str(threads): run_load(perms.CheckPermission, requests, threads=threads, seconds=seconds)
        for threads in thread_counts
    }
    db.close()
    print(json.dumps({"engine": "spicedb-embedded", "results": results}))


if __name__ == "__main__":
    main()
