"""The cost of admitting one request: the per-client limit check on every call's hot path.

Compares the ledger ``clove serve --workers N`` shares across processes (shared memory, a
process-shared lock per client) with the private one a single process keeps (thread locks),
and the same admission from several threads at once. Prints µs per admit (take + release).

    .venv/bin/python benchmarks/bench_admit.py --calls 200000
"""

from __future__ import annotations

import argparse
import threading
import time

from clove.server.gate import KeyGate
from clove.server.ledger import ClientLedger
from clove.server.limits import Limits

KEYS = {"alice": "alice-key-0123456789", "bob": "bob-key-0123456789"}
LIMITS = Limits(rate=1e12, burst=10**12, concurrency=10**6)


def _per_admit(gate: KeyGate, calls: int, threads: int) -> float:
    def run() -> None:
        for _ in range(calls // threads):
            with gate.admit("alice"):
                pass

    workers = [threading.Thread(target=run) for _ in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return (time.perf_counter() - started) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=200_000)
    args = parser.parse_args()
    shared = ClientLedger.create(list(KEYS), burst=LIMITS.burst, workers=8)
    gates = {
        "private (one process)": KeyGate(KEYS, LIMITS),
        "shared (all workers)": KeyGate(KEYS, LIMITS, ledger=shared),
    }
    print(f"{'ledger':<24}{'threads':>8}{'µs/admit':>10}")
    for name, gate in gates.items():
        for threads in (1, 4):
            print(f"{name:<24}{threads:>8}{_per_admit(gate, args.calls, threads):>10.2f}")
    shared.close()


if __name__ == "__main__":
    main()
