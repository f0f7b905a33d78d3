"""Millions of questions racing atomic writes: every read must see exactly one revision.

The workload of ``tests/concurrency/toggling.py`` (writers toggle documents between two
states that both deny; readers ask checks, bulk checks and both lookups at four
consistencies), run long: in threads over one handle (one shared read cache), in reader
processes over one store, on SQLite, PostgreSQL and memory. Prints questions, writes and
false allows per run; any false allow is a bug. Asserts nothing about time.

    .venv/bin/python benchmarks/bench_one_revision.py --questions 1000000
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import clove
from concurrency.toggling import Tally, load, race_threads, reader_process, writer_process

POSTGRES = "postgresql://127.0.0.1:5432/test"


# History older than this is collected every tenth of it: a long run toggles a few sets
# hundreds of thousands of times, and reads would otherwise slow with their history.
GC_WINDOW = timedelta(seconds=20)


def _threads(url: str, questions: int, readers: int) -> tuple[Tally, int]:
    writer_db = clove.open(url, gc_window=GC_WINDOW, gc_interval=GC_WINDOW / 10)
    reader_db = clove.open(url) if url != "memory" else writer_db
    try:
        load(writer_db)
        return race_threads(
            reader_db, writer_db, readers=readers, questions=questions // readers, seed=11
        )
    finally:
        if reader_db is not writer_db:
            reader_db.close()
        writer_db.close()


def _processes(url: str, questions: int, processes: int) -> tuple[Tally, int]:
    setup = clove.open(url)
    try:
        load(setup)
    finally:
        setup.close()
    spawn = multiprocessing.get_context("spawn")
    stop = spawn.Event()
    writes = spawn.Value("q", 0)
    gc_seconds = GC_WINDOW.total_seconds() / 10
    writer = spawn.Process(target=writer_process, args=(url, 3, stop, writes, gc_seconds))
    writer.start()
    try:
        per = questions // (processes * 2)
        with spawn.Pool(processes) as pool:
            answers = pool.starmap(
                reader_process, [(url, per, seed, 2) for seed in range(20, 20 + processes)]
            )
    finally:
        stop.set()
        writer.join(120)
    tally = Tally()
    for asked, false_allows, examples in answers:
        tally.add(Tally(asked, false_allows, examples))
    return tally, writes.value


def _postgres_url() -> str:
    import psycopg

    schema = f"bench_one_revision_{int(time.time())}"
    with psycopg.connect(POSTGRES, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    return f"{POSTGRES}?schema={schema}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=1_000_000, help="per run")
    parser.add_argument("--backends", default="sqlite,postgres,memory")
    parser.add_argument("--readers", type=int, default=4)
    args = parser.parse_args()
    total = Tally()
    for backend in args.backends.split(","):
        for mode in ("threads", "processes"):
            if backend == "memory" and mode == "processes":
                continue  # the memory store lives in one process
            folder = tempfile.mkdtemp(prefix="clove-one-revision-")
            url = {
                "sqlite": f"sqlite://{folder}/race.db",
                "memory": "memory",
            }.get(backend) or _postgres_url()
            started = time.perf_counter()
            if mode == "threads":
                tally, writes = _threads(url, args.questions, args.readers)
            else:
                tally, writes = _processes(url, args.questions, 2)
            seconds = time.perf_counter() - started
            total.add(tally)
            print(
                f"{backend:9} {mode:10} questions {tally.questions:>9,}  writes {writes:>7,}  "
                f"false allows {tally.false_allows}  ({seconds:.0f} s)",
                flush=True,
            )
            for example in tally.examples:
                print(f"    {example}")
    print(f"total: {total.questions:,} questions, {total.false_allows} false allows")


if __name__ == "__main__":
    main()
