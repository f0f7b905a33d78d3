"""Every read sees exactly one revision: writers toggle between denying states, readers race.

See ``toggling`` for the workload. Each test counts the questions asked and the false
allows seen; the bounded runs here must see none, and a control run against a reader that
deliberately mixes two revisions must see some, so the race is known to be able to catch one.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path

import pytest

import clove
from clove import Database
from clove.relationships import Relationship, RelationshipFilter
from clove.storage.memory import MemoryStore
from clove.storage.protocol import Reader, RelationshipKey, SchemaRecord, Store
from concurrency.toggling import (
    Tally,
    load,
    race_threads,
    reader_process,
    writer_process,
)
from storage.postgres_server import store_url

QUESTIONS_PER_THREAD = 1_500
READERS = 4


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A store several handles and processes open: a SQLite file or a PostgreSQL schema."""
    with store_url(request.param, tmp_path, "race.db") as url:
        yield url


def _assert_none(tally: Tally, writes: int) -> None:
    assert writes > 10, "the writer barely ran: the race tested nothing"
    assert tally.false_allows == 0, (
        f"{tally.false_allows} false allows in {tally.questions} questions: {tally.examples}"
    )


def test_threads_on_one_handle_share_its_cache_and_see_one_revision(shared_url: str) -> None:
    readers = clove.open(shared_url)
    writer = clove.open(shared_url)
    try:
        load(writer)
        tally, writes = race_threads(
            readers, writer, readers=READERS, questions=QUESTIONS_PER_THREAD, seed=1
        )
    finally:
        readers.close()
        writer.close()
    _assert_none(tally, writes)


def test_threads_on_the_memory_store_see_one_revision() -> None:
    db = clove.open("memory")
    try:
        load(db)
        tally, writes = race_threads(
            db, db, readers=READERS, questions=QUESTIONS_PER_THREAD, seed=2
        )
    finally:
        db.close()
    _assert_none(tally, writes)


def test_processes_on_one_store_see_one_revision(shared_url: str) -> None:
    setup = clove.open(shared_url)
    try:
        load(setup)
    finally:
        setup.close()
    spawn = multiprocessing.get_context("spawn")
    stop = spawn.Event()
    writes = spawn.Value("q", 0)
    writer = spawn.Process(target=writer_process, args=(shared_url, 3, stop, writes))
    writer.start()
    try:
        with spawn.Pool(2) as pool:
            answers = pool.starmap(
                reader_process, [(shared_url, QUESTIONS_PER_THREAD, seed, 2) for seed in (4, 5)]
            )
    finally:
        stop.set()
        writer.join(60)
    assert writer.exitcode == 0
    tally = Tally()
    for questions, false_allows, examples in answers:
        tally.add(Tally(questions, false_allows, examples))
    _assert_none(tally, writes.value)


class _TwoRevisionReader:
    """A broken reader for the control run: ``banned`` comes from the head, the rest from R."""

    def __init__(self, pinned: Reader, head: Reader) -> None:
        self._pinned = pinned
        self._head = head

    def _for(self, relation: str) -> Reader:
        return self._head if relation == "banned" else self._pinned

    @property
    def revision(self) -> int:
        return self._pinned.revision

    @property
    def now(self) -> datetime:
        return self._pinned.now

    def subjects(
        self, resource_type: str, resource_id: str, relation: str
    ) -> Sequence[Relationship]:
        return self._for(relation).subjects(resource_type, resource_id, relation)

    def find(self, *key: str) -> Relationship | None:
        return self._for(key[2]).find(*key)

    def subject_sets(
        self, resource_type: str, resource_id: str, relation: str
    ) -> Sequence[Relationship]:
        return self._for(relation).subject_sets(resource_type, resource_id, relation)

    def resources(self, *args: str | None) -> Sequence[Relationship]:
        return self._pinned.resources(*args)  # type: ignore[arg-type]

    def query(
        self,
        filter: RelationshipFilter,
        *,
        after: RelationshipKey | None = None,
        limit: int | None = None,
    ) -> Iterator[Relationship]:
        return self._pinned.query(filter, after=after, limit=limit)

    def schema(self) -> SchemaRecord | None:
        return self._pinned.schema()


class _TwoRevisionStore(MemoryStore):
    def reader(self, revision: int, *, now: datetime | None = None) -> Reader:
        pinned = super().reader(revision, now=now)
        return _TwoRevisionReader(pinned, super().reader(self.head_revision(), now=now))  # type: ignore[return-value]


def test_the_race_catches_a_read_that_mixes_two_revisions() -> None:
    store: Store = _TwoRevisionStore()
    db = Database(store)
    try:
        load(db)
        tally, writes = race_threads(
            db, db, readers=READERS, questions=QUESTIONS_PER_THREAD, seed=6
        )
    finally:
        db.close()
    assert writes > 10
    assert tally.false_allows > 0, f"the control run saw no false allow in {tally.questions}"


def test_through_the_server_with_two_workers(shared_url: str) -> None:
    from concurrency import toggling_grpc
    from server.serve_process import running_server

    with running_server(shared_url, workers=2) as server:
        tally, writes = toggling_grpc.race(server.client, readers=READERS, questions=400, seed=7)
    _assert_none(tally, writes)
