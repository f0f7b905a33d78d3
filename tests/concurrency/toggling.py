"""A race that catches any read seeing two revisions: writers toggle between states that deny.

Every document ``dN`` is in one of two states, and writes switch between them atomically:

- *granted and banned*: user ``u`` is a viewer and is banned (through groups ``vN`` and
  ``bN``), and so is user ``w`` (directly);
- *neither*: ``u`` and ``w`` are in neither relation.

``view = viewer - banned`` denies in both. A read that takes ``viewer`` from one revision and
``banned`` from another may see "viewer, not banned" and allow: every allow is a false allow.
Readers ask checks, bulk checks and both lookups at every consistency (minimize latency, full,
at least as fresh as a token, at an exact snapshot), and count questions and false allows.

The same workload runs in threads over one handle (one shared read cache), in processes over
one store, and through ``clove serve``; the benchmark ``benchmarks/bench_one_revision.py``
runs it for millions of questions.
"""

from __future__ import annotations

import random
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event as EventType

import clove
from clove import Consistency, Database
from clove.database import ConsistencyArg
from clove.relationships import Operation, RelationshipUpdate, parse_relationship

SCHEMA = """
definition user {}
definition group {
    relation member: user | group#member
}
definition document {
    relation viewer: user | group#member
    relation banned: user | group#member
    permission view = viewer - banned
}
"""
DOCUMENTS = 6
USERS = ("u", "w")


def fixed(document: int) -> list[str]:
    """What never changes: the groups that grant and ban on ``dN``."""
    return [
        f"document:d{document}#viewer@group:v{document}#member",
        f"document:d{document}#banned@group:b{document}#member",
    ]


def toggled(document: int) -> list[str]:
    """What one write adds or removes together: both the grant and the ban of each user."""
    return [
        f"group:v{document}#member@user:u",
        f"group:b{document}#member@user:u",
        f"document:d{document}#viewer@user:w",
        f"document:d{document}#banned@user:w",
    ]


def load(db: Database) -> str:
    """The schema and the starting state (every document granted and banned)."""
    db.write_schema(SCHEMA)
    rels = [rel for document in range(DOCUMENTS) for rel in fixed(document) + toggled(document)]
    return db.write_relationships(rels)


def toggle(db: Database, document: int, present: bool) -> str:
    """Switch ``dN`` to *granted and banned* (``present``) or to *neither*, in one write."""
    operation = Operation.TOUCH if present else Operation.DELETE
    return db.write_relationships(
        [
            RelationshipUpdate(operation=operation, relationship=parse_relationship(text))
            for text in toggled(document)
        ]
    )


@dataclass
class Tally:
    """Questions asked and false allows seen, with a few examples of the latter."""

    questions: int = 0
    false_allows: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        self.questions += other.questions
        self.false_allows += other.false_allows
        self.examples.extend(other.examples[: max(0, 5 - len(self.examples))])

    def wrong(self, what: str) -> None:
        self.false_allows += 1
        if len(self.examples) < 5:
            self.examples.append(what)


def consistencies(db: Database, rng: random.Random) -> Iterator[tuple[str, ConsistencyArg]]:
    """An endless mix of the four consistencies; tokens come from snapshots taken on the way."""
    tokens: list[str] = [db.snapshot(consistency="full")]
    while True:
        if rng.random() < 0.1:
            tokens = [*tokens[-7:], db.snapshot(consistency="full")]
        token = rng.choice(tokens)
        yield from (
            ("minimize_latency", None),
            ("full", "full"),
            ("at_least_as_fresh", Consistency.at_least_as_fresh(token)),
            ("at_exact_snapshot", Consistency.at_exact_snapshot(token)),
        )


def ask(db: Database, rng: random.Random, questions: int) -> Tally:
    """Ask ``questions`` questions; every answer other than "no" is a false allow."""
    tally = Tally()
    modes = consistencies(db, rng)
    items = [
        (f"document:d{document}", "view", f"user:{user}")
        for document in range(DOCUMENTS)
        for user in USERS
    ]
    while tally.questions < questions:
        mode, consistency = next(modes)
        kind = rng.random()
        document = rng.randrange(DOCUMENTS)
        user = rng.choice(USERS)
        where = f"d{document} {user} at {mode}"
        if kind < 0.7:
            result = db.check(
                f"document:d{document}", "view", f"user:{user}", consistency=consistency
            )
            tally.questions += 1
            if result.permissionship != "no":
                tally.wrong(f"check {where}: {result.permissionship}")
        elif kind < 0.85:
            results = db.check_bulk(items, consistency=consistency)
            tally.questions += len(results)
            for item, result in zip(items, results, strict=True):
                if result.permissionship != "no":
                    tally.wrong(f"check_bulk {item} at {mode}: {result.permissionship}")
        elif kind < 0.93:
            found = db.lookup_resources("document", "view", f"user:{user}", consistency=consistency)
            tally.questions += 1
            if found:
                tally.wrong(f"lookup_resources {user} at {mode}: {found}")
        else:
            subjects = db.lookup_subjects(
                f"document:d{document}", "view", "user", consistency=consistency
            )
            tally.questions += 1
            if subjects:
                tally.wrong(f"lookup_subjects {where}: {subjects}")
    return tally


def write_until(db: Database, stop: threading.Event | EventType, seed: int) -> int:
    """Toggle random documents until ``stop``; return how many writes were made."""
    rng = random.Random(seed)
    present = [True] * DOCUMENTS
    writes = 0
    while not stop.is_set():
        document = rng.randrange(DOCUMENTS)
        present[document] = not present[document]
        toggle(db, document, present[document])
        writes += 1
    return writes


@contextmanager
def fast_thread_switching() -> Iterator[None]:
    """Switch threads every 20 µs instead of 5 ms, so that races interleave far more often."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(2e-5)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def race(
    readers: int,
    read: Callable[[int], Tally],
    write: Callable[[threading.Event], int] | None = None,
) -> tuple[Tally, int]:
    """``read(n)`` on ``readers`` threads while ``write(stop)`` runs on one more, until the
    readers are done; (their tallies summed, the writes made). A thread's error is raised."""
    stop = threading.Event()
    writes: list[int] = []
    tallies: list[Tally] = []
    failures: list[BaseException] = []

    def reader(number: int) -> None:
        try:
            tallies.append(read(number))
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=reader, args=(n,)) for n in range(readers)]
    writer = None if write is None else threading.Thread(target=lambda: writes.append(write(stop)))
    if writer is not None:
        writer.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stop.set()
    if writer is not None:
        writer.join()
    if failures:
        raise failures[0]
    total = Tally()
    for tally in tallies:
        total.add(tally)
    return total, writes[0] if writes else 0


def race_threads(
    reader_db: Database,
    writer_db: Database,
    *,
    readers: int,
    questions: int,
    seed: int,
) -> tuple[Tally, int]:
    """Readers on one handle (one shared read cache) race one writer; (tally, writes)."""
    with fast_thread_switching():
        return race(
            readers,
            lambda n: ask(reader_db, random.Random(seed * 1000 + n), questions),
            lambda stop: write_until(writer_db, stop, seed),
        )


def reader_process(url: str, questions: int, seed: int, threads: int) -> tuple[int, int, list[str]]:
    """A process of readers on its own handle: (questions, false allows, examples)."""
    db = clove.open(url)
    try:
        with fast_thread_switching():
            total, _ = race(threads, lambda n: ask(db, random.Random(seed * 1000 + n), questions))
        return total.questions, total.false_allows, total.examples
    finally:
        db.close()


def writer_process(
    url: str, seed: int, stop: EventType, writes: Synchronized[int], gc_seconds: float = 0.0
) -> None:
    """Toggle documents through a handle of its own until ``stop`` is set.

    ``gc_seconds`` > 0 collects history older than ten times that, that often (long runs
    would otherwise read ever longer histories of the same few sets).
    """
    gc = {}
    if gc_seconds > 0:
        gc = {
            "gc_window": timedelta(seconds=10 * gc_seconds),
            "gc_interval": timedelta(seconds=gc_seconds),
        }
    db = clove.open(url, **gc)
    try:
        writes.value = write_until(db, stop, seed)
    finally:
        db.close()
