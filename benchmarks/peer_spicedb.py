"""The SpiceDB side of bench_check.py: run with the peer's Python ($PEER_PY).

Builds the same dataset in an embedded SpiceDB and prints one JSON line of timings.
Usage: $PEER_PY benchmarks/peer_spicedb.py SIZE QUESTIONS [--postgres URI]
"""

from __future__ import annotations

import ctypes
import json
import resource
import statistics
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from authzed.api.v1 import (
    CheckPermissionRequest,
    Consistency,
    LookupResourcesRequest,
    ObjectReference,
    PermissionsServiceStub,
    Relationship,
    RelationshipUpdate,
    SubjectReference,
    WriteRelationshipsRequest,
)
from spicedb_embedded import EmbeddedSpiceDB, StartOptions, ffi

import dataset

warnings.simplefilter("ignore")


def _obj(text: str) -> ObjectReference:
    type_, _, id_ = text.partition(":")
    return ObjectReference(object_type=type_, object_id=id_)


def _subject(text: str) -> SubjectReference:
    obj, _, rel = text.partition("#")
    return SubjectReference(object=_obj(obj), optional_relation=rel)


def _relationship(text: str) -> Relationship:
    resource, _, subject = text.partition("@")
    obj, _, relation = resource.partition("#")
    return Relationship(resource=_obj(obj), relation=relation, subject=_subject(subject))


def _percentiles(samples: list[float]) -> dict[str, float]:
    samples.sort()
    return {
        "p50_us": samples[len(samples) // 2] * 1e6,
        "p99_us": samples[int(len(samples) * 0.99)] * 1e6,
        "mean_us": statistics.fmean(samples) * 1e6,
    }


def write_in_batches(db: EmbeddedSpiceDB, relationships: list[str]) -> None:
    """TOUCH ``relationships`` through WriteRelationships, 1,000 a call (SpiceDB's largest)."""
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


def measure_questions(
    db: EmbeddedSpiceDB, data: dataset.Dataset, consistency: Consistency
) -> dict[str, object]:
    """p50/p99 of the dataset's direct, deep and negative checks and of its lookups."""
    perms = db.permissions()
    results: dict[str, object] = {}
    for kind, asked in (
        ("direct", data.direct),
        ("deep", data.deep),
        ("negative", data.negative),
    ):
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
    stub = PermissionsServiceStub(db.channel())
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
    return results


def main() -> None:
    size = int(sys.argv[1])
    questions = int(sys.argv[2])
    options = None
    if "--postgres" in sys.argv:
        uri = sys.argv[sys.argv.index("--postgres") + 1]
        options = StartOptions(datastore="postgres", datastore_uri=uri)
    ffi._get_lib().spicedb_free.argtypes = [ctypes.c_void_p]
    data = dataset.build(size, questions=questions)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    db = EmbeddedSpiceDB.start(dataset.SCHEMA, options=options)
    started = time.perf_counter()
    write_in_batches(db, data.relationships)
    load_seconds = time.perf_counter() - started
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    consistency = Consistency(minimize_latency=True)
    results: dict[str, object] = {
        "engine": "spicedb-embedded",
        "relationships": len(data.relationships),
        "load_per_s": len(data.relationships) / load_seconds,
        "rss_bytes_per_relationship": (rss_after - rss_before) * 1024 / len(data.relationships),
    }
    results |= measure_questions(db, data, consistency)
    db.close()
    print(json.dumps(results))


if __name__ == "__main__":
    main()
