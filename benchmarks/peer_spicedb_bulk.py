"""The SpiceDB side of bench_postgres.py: run with the peer's Python ($PEER_PY).

Imports the dataset with ImportBulkRelationships, then times checks and lookups; prints one
JSON line. Usage: $PEER_PY benchmarks/peer_spicedb_bulk.py SIZE QUESTIONS [--postgres URI]

With ``--postgres`` it first tries SpiceDB on that (empty) database. The embedded build
exposes no ``migrate`` entry point, so an unmigrated database fails to start; then it says
so on stderr and runs on SpiceDB's in-memory datastore, and ``engine`` names which one ran.
"""

from __future__ import annotations

import ctypes
import json
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import grpc
from authzed.api.v1 import (
    Consistency,
    PermissionsServiceStub,
)
from authzed.api.v1.permission_service_pb2 import ImportBulkRelationshipsRequest
from spicedb_embedded import EmbeddedSpiceDB, StartOptions, ffi

import dataset
from peer_spicedb import _relationship, measure_questions, write_in_batches

warnings.simplefilter("ignore")
_CHUNK = 5_000


def _start(uri: str | None) -> tuple[EmbeddedSpiceDB, str]:
    if uri is not None:
        options = StartOptions(datastore="postgres", datastore_uri=uri)
        try:
            return EmbeddedSpiceDB.start(dataset.SCHEMA, options=options), "spicedb-postgres"
        except Exception as error:  # the wrapper's errors are not typed more precisely
            first = str(error).splitlines()[0][:300]
            print(f"SpiceDB on PostgreSQL did not start ({first}); using memory", file=sys.stderr)
    return EmbeddedSpiceDB.start(dataset.SCHEMA), "spicedb-memory"


def _requests(relationships: list[str]) -> Iterator[ImportBulkRelationshipsRequest]:
    for i in range(0, len(relationships), _CHUNK):
        chunk = relationships[i : i + _CHUNK]
        yield ImportBulkRelationshipsRequest(relationships=[_relationship(t) for t in chunk])


def main() -> None:
    size = int(sys.argv[1])
    questions = int(sys.argv[2])
    uri = sys.argv[sys.argv.index("--postgres") + 1] if "--postgres" in sys.argv else None
    ffi._get_lib().spicedb_free.argtypes = [ctypes.c_void_p]
    data = dataset.build(size, questions=questions)
    db, engine = _start(uri)
    stub = PermissionsServiceStub(db.channel())
    started = time.perf_counter()
    try:
        stub.ImportBulkRelationships(_requests(data.relationships))
        method = "ImportBulkRelationships"
    except grpc.RpcError as error:
        # The embedded build serves only some methods over its channel; then the import
        # goes through WriteRelationships (TOUCH), 1,000 per call, its largest batch.
        print(f"ImportBulkRelationships unavailable ({error.code()})", file=sys.stderr)
        started = time.perf_counter()
        write_in_batches(db, data.relationships)
        method = "WriteRelationships"
    import_seconds = time.perf_counter() - started
    consistency = Consistency(minimize_latency=True)
    results: dict[str, object] = {
        "engine": engine,
        "relationships": len(data.relationships),
        "import_per_s": len(data.relationships) / import_seconds,
        "import_s": import_seconds,
        "import_method": method,
    }
    results |= measure_questions(db, data, consistency)
    db.close()
    print(json.dumps(results))


if __name__ == "__main__":
    main()
