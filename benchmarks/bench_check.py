"""In-process check and lookup latency for Clove, side by side with a real SpiceDB.

    make bench                                   # Clove only, 20k relationships
    .venv/bin/python benchmarks/bench_check.py --sizes 20000,200000 --peer
    .venv/bin/python benchmarks/bench_check.py --backend sqlite

``--peer`` runs ``peer_spicedb.py`` under the SpiceDB peer's Python ($PEER_PY, set by
``eval "$(../shared/tools/spicedb-peer-setup /tmp/spicedb-peer)"``) on the same dataset.
Figures are per call, from Python, with "minimize latency" consistency on both sides.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import clove
import dataset


def _percentiles(samples: list[float]) -> dict[str, float]:
    samples.sort()
    return {
        "p50_us": samples[len(samples) // 2] * 1e6,
        "p99_us": samples[int(len(samples) * 0.99)] * 1e6,
        "mean_us": statistics.fmean(samples) * 1e6,
    }


def run_clove(size: int, backend: str, questions: int) -> dict[str, object]:
    data = dataset.build(size, questions=questions)
    tmp = tempfile.mkdtemp(prefix="clove-bench-")
    url = "memory" if backend == "memory" else f"sqlite://{tmp}/bench.db"
    gc.collect()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    db = clove.open(url)
    db.write_schema(dataset.SCHEMA)
    started = time.perf_counter()
    for i in range(0, len(data.relationships), 10_000):
        db.write_relationships(data.relationships[i : i + 10_000])
    load_seconds = time.perf_counter() - started
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    results: dict[str, object] = {
        "engine": f"clove-{backend}",
        "relationships": len(data.relationships),
        "load_per_s": len(data.relationships) / load_seconds,
        # Peak RSS growth while loading, as for the peer (KiB from getrusage).
        "rss_bytes_per_relationship": (rss_after - rss_before) * 1024 / len(data.relationships),
    }
    for kind, asked in (
        ("direct", data.direct),
        ("deep", data.deep),
        ("negative", data.negative),
    ):
        expected = kind != "negative"
        samples = []
        for obj, permission, subject in asked:
            t0 = time.perf_counter()
            result = db.check(obj, permission, subject)
            samples.append(time.perf_counter() - t0)
            if bool(result) != expected and kind == "direct":
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
    db.close()
    return results


def run_peer(size: int, questions: int) -> dict[str, object] | None:
    peer_python = os.environ.get("PEER_PY")
    if not peer_python:
        print("(no SpiceDB peer: set PEER_PY, see the module docstring)", file=sys.stderr)
        return None
    script = Path(__file__).resolve().parent / "peer_spicedb.py"
    done = subprocess.run(
        [peer_python, str(script), str(size), str(questions)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        print(f"peer failed:\n{done.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def _row(name: str, results: dict[str, object]) -> str:
    cells = [name.ljust(18)]
    for kind in ("direct", "deep", "negative", "lookup"):
        figures = results[kind]
        assert isinstance(figures, dict)
        cells.append(f"{figures['p50_us']:>9.1f} {figures['p99_us']:>9.1f}")
    return " | ".join(cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="20000")
    parser.add_argument("--backend", choices=["memory", "sqlite"], default="memory")
    parser.add_argument("--peer", action="store_true", help="also run the SpiceDB peer")
    parser.add_argument("--questions", type=int, default=1000, help="checks of each kind")
    args = parser.parse_args()
    header = " | ".join(
        ["engine".ljust(18)]
        + [f"{k + ' p50':>9} {'p99':>9}" for k in ("direct", "deep", "negative", "lookup")]
    )
    for size in (int(s) for s in args.sizes.split(",")):
        rows = [("clove-" + args.backend, run_clove(size, args.backend, args.questions))]
        if args.peer:
            peer = run_peer(size, args.questions)
            if peer is not None:
                rows.append(("spicedb-embedded", peer))
        print(f"\n{rows[0][1]['relationships']} relationships (latencies in µs)")
        print(header)
        for name, results in rows:
            print(_row(name, results))
        for name, results in rows:
            per_rel = results["rss_bytes_per_relationship"]
            lookup = results["lookup"]
            assert isinstance(lookup, dict)
            print(
                f"{name}: load {results['load_per_s']:.0f} rel/s, "
                f"memory {per_rel:.0f} B/relationship (RSS growth), "
                f"lookup returns {lookup['mean_results']:.1f} on average"
            )


if __name__ == "__main__":
    main()
