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
import statistics
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import grpc
from authzed.api.v1 import (
    CheckPermissionRequest,
    Consistency,
    LookupResourcesRequest,
    PermissionsServiceStub,
    RelationshipUpdate,
    WriteRelationshipsRequest,
)
from authzed.api.v1.permission_service_pb2 import ImportBulkRelationshipsRequest
from spicedb_embedded import EmbeddedSpiceDB, StartOptions, ffi

import dataset
from peer_spicedb import _obj, _percentiles, _relationship, _subject

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


def _write_in_batches(db: EmbeddedSpiceDB, relationships: list[str]) -> None:
    perms = db.permissions()
    for i in range(0, len(relationships), 1000):
        updates = [
            RelationshipUpdate(
                operation=RelationshipUpdate.Operation.OPERATION_TOUCH,
                relationship=_relationship(text),
            )
            for text in relationships[i : i + 1000]
        ]
        perms.WriteRelationships(WriteRelationshipsRequest(updates=updates))


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
        _write_in_batches(db, data.relationships)
        method = "WriteRelationships"
    import_seconds = time.perf_counter() - started
    consistency = Consistency(minimize_latency=True)
    perms = db.permissions()
    results: dict[str, object] = {
        "engine": engine,
        "relationships": len(data.relationships),
        "import_per_s": len(data.relationships) / import_seconds,
        "import_s": import_seconds,
        "import_method": method,
    }
    for kind, asked in (("direct", data.direct), ("deep", data.deep), ("negative", data.negative)):
        samples = []
        for resource_text, permission, subject in asked:
            request = CheckPermissionRequest(
                resource=_obj(resource_text),
                permission=permission,
                subject=_subject(subject),
                consistency=consistency,
            )
            t0 = time.perf_counter()
            perms.CheckPermission(request)
            samples.append(time.perf_counter() - t0)
        results[kind] = _percentiles(samples)
    samples = []
    counts = []
    for subject in data.lookup_subjects:
        t0 = time.perf_counter()
        found = list(
            stub.LookupResources(
                LookupResourcesRequest(
                    resource_object_type="document",
                    permission="view",
                    subject=_subject(subject),
                    consistency=consistency,
                )
            )
        )
        samples.append(time.perf_counter() - t0)
        counts.append(len(found))
    results["lookup"] = _percentiles(samples) | {"mean_results": statistics.fmean(counts)}
    db.close()
    print(json.dumps(results))


if __name__ == "__main__":
    main()
