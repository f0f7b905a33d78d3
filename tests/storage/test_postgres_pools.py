"""PostgreSQL under queued writers: readers keep their connections, whatever writers wait for.

Writes queue on the ``head`` row's lock. Here a raw connection holds that lock, as a writer
stuck in a long transaction would, while many writers queue behind it in threads and in a
second process; every read must still succeed, and each process must have at most one
connection waiting on the lock (the others wait in the process, holding none).
"""

from __future__ import annotations

import multiprocessing
import queue
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

import clove
from clove.errors import WriteTimeoutError
from clove.relationships import Operation, RelationshipUpdate, parse_relationship
from clove.schema.ir import ELLIPSIS
from clove.storage.postgres import PostgresStore
from storage.postgres_server import drop_schemas, new_schema, require_postgres

pytestmark = pytest.mark.postgres

# Readers' pool of the store under test, and how many writers queue: far more than it holds.
READ_CONNECTIONS = 2
WRITERS = 12
# A generous bound, only so that a broken build fails instead of hanging.
PATIENCE = 30.0


def touch(text: str) -> list[RelationshipUpdate]:
    return [RelationshipUpdate(operation=Operation.TOUCH, relationship=parse_relationship(text))]


@pytest.fixture
def dsn() -> str:
    return require_postgres()


@pytest.fixture
def schema(dsn: str) -> Iterator[str]:
    name = new_schema()
    yield name
    drop_schemas([name])


def _named(dsn: str, application: str, **parameters: str) -> str:
    """``dsn`` whose connections carry ``application_name``, to tell them apart on the server."""
    query = "&".join(f"{k}={v}" for k, v in {"application_name": application, **parameters}.items())
    return f"{dsn}{'&' if '?' in dsn else '?'}{query}"


def _lock_waiters(dsn: str, application: str) -> int:
    """How many of ``application``'s connections are waiting for a lock right now."""
    with psycopg.connect(dsn, autocommit=True) as connection:
        row = connection.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE application_name = %s AND wait_event_type = 'Lock'",
            (application,),
        ).fetchone()
    return 0 if row is None else int(row[0])


def _wait_for_queue(dsn: str, application: str) -> None:
    """Until one of ``application``'s writers waits on the lock, and the others have settled.

    The pause after that is no assertion: it lets the remaining writers reach wherever they
    wait (the database, for a store whose writers take a connection before queueing).
    """
    deadline = time.monotonic() + PATIENCE
    while _lock_waiters(dsn, application) == 0:
        assert time.monotonic() < deadline, "no writer ever waited for the lock"
        time.sleep(0.02)
    time.sleep(0.3)


@contextmanager
def _writers_lock_held(dsn: str, schema: str) -> Iterator[None]:
    """Hold the writers' lock from outside, as a writer inside a long transaction would."""
    with psycopg.connect(dsn) as blocker:
        blocker.execute(f'SELECT revision FROM "{schema}".head FOR UPDATE')
        try:
            yield
        finally:
            blocker.rollback()


class _Writers:
    """``count`` threads, each making one write to ``store`` as soon as it starts."""

    def __init__(self, store: PostgresStore, count: int, prefix: str) -> None:
        self.revisions: list[int] = []
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._write, args=(store, f"doc:{prefix}{i}#viewer@user:u"))
            for i in range(count)
        ]
        for thread in self._threads:
            thread.start()

    def _write(self, store: PostgresStore, text: str) -> None:
        try:
            revision = store.write(touch(text))
        except BaseException as error:
            with self._lock:
                self.errors.append(error)
            return
        with self._lock:
            self.revisions.append(revision)

    def pending(self) -> int:
        return sum(thread.is_alive() for thread in self._threads)

    def join(self) -> None:
        for thread in self._threads:
            thread.join(PATIENCE)
            assert not thread.is_alive(), "a writer never finished"


def _read_in_threads(
    store: PostgresStore, threads: int, each: int, *, seeded_at: int = 1
) -> tuple[int, list[str]]:
    """Reads from ``threads`` threads, ``each`` per thread: how many succeeded, and the errors.

    The head is ``seeded_at``, the revision that wrote ``doc:seed#viewer@user:alice``.
    """
    succeeded = 0
    errors: list[str] = []
    lock = threading.Lock()

    def read() -> None:
        nonlocal succeeded
        for _ in range(each):
            try:
                head = store.head_revision()
                reader = store.reader(seeded_at)
                found = reader.find("doc", "seed", "viewer", "user", "alice", ELLIPSIS)
                subjects = reader.subjects("doc", "seed", "viewer")
            except Exception as error:
                with lock:
                    errors.append(f"{type(error).__name__}: {error}")
                return  # one failure says enough (and a starved read takes long to fail)
            assert head == seeded_at and found is not None and len(subjects) == 1
            with lock:
                succeeded += 1

    workers = [threading.Thread(target=read) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(PATIENCE)
    return succeeded, errors


def test_reads_keep_their_connections_while_writers_queue(dsn: str, schema: str) -> None:
    application = f"clove-{schema}"
    url = _named(dsn, application)
    options = {"max_connections": READ_CONNECTIONS, "connect_timeout": 1.0}
    with PostgresStore(url, schema=schema, **options) as store:  # type: ignore[arg-type]
        store.write(touch("doc:seed#viewer@user:alice"))
        with _writers_lock_held(dsn, schema):
            writers = _Writers(store, WRITERS, "w")
            _wait_for_queue(dsn, application)
            succeeded, errors = _read_in_threads(store, threads=4, each=25)
            waiting = _lock_waiters(dsn, application)
            pending = writers.pending()
        writers.join()
    assert errors == []
    assert succeeded == 100
    # Every read happened while every writer was still queued.
    assert pending == WRITERS
    # One writer's connection waits on the lock; the others wait in the process, holding none.
    assert waiting == 1
    assert writers.errors == []
    assert sorted(writers.revisions) == list(range(2, WRITERS + 2))


def test_writers_queued_past_their_bound_fail_cleanly(dsn: str, schema: str) -> None:
    with PostgresStore(dsn, schema=schema, lock_timeout=0.5) as store:
        store.write(touch("doc:seed#viewer@user:alice"))
        with _writers_lock_held(dsn, schema):
            # One waits on the database's lock, the others for their turn in this process.
            writers = _Writers(store, 3, "late")
            writers.join()
        assert writers.revisions == []
        assert len(writers.errors) == 3
        for error in writers.errors:
            assert isinstance(error, WriteTimeoutError)
            assert error.timeout == 0.5
            message = str(error)
            assert "timed out after 0.5s waiting for another writer" in message
            assert "nothing was written" in message
            assert "127.0.0.1" in message
        assert store.head_revision() == 1
        assert store.write(touch("doc:after#viewer@user:bob")) == 2


# --- several processes -------------------------------------------------------------------


@pytest.fixture
def spawn(monkeypatch: pytest.MonkeyPatch) -> multiprocessing.context.SpawnContext:
    """A spawn context whose children can import this module (see test_conformance.spawn)."""
    root = Path(__file__).resolve().parents[__name__.count(".")]
    monkeypatch.syspath_prepend(str(root))
    return multiprocessing.get_context("spawn")


def _queue_and_read(dsn: str, schema: str, application: str, results: queue.Queue[object]) -> None:
    """In a child process, as ``clove serve`` runs: queue writers, then check from threads.

    Puts (checks that succeeded, their errors, this process's connections waiting on the
    lock) once it has read, and then the revisions its writers got, once they are done.
    """
    db = clove.open(_named(dsn, application, schema=schema))
    try:
        threads = [
            threading.Thread(target=db.write_relationships, args=([f"doc:c{i}#viewer@user:u"],))
            for i in range(WRITERS)
        ]
        for thread in threads:
            thread.start()
        _wait_for_queue(dsn, application)
        succeeded = 0
        errors: list[str] = []
        lock = threading.Lock()

        def check() -> None:
            nonlocal succeeded
            for _ in range(25):
                try:
                    result = db.check("doc:seed", "viewer", "user:alice", consistency="full")
                except Exception as error:
                    with lock:
                        errors.append(f"{type(error).__name__}: {error}")
                    return
                assert result.permissionship == "has"
                with lock:
                    succeeded += 1

        checkers = [threading.Thread(target=check) for _ in range(4)]
        for checker in checkers:
            checker.start()
        for checker in checkers:
            checker.join(PATIENCE)
        results.put((succeeded, errors, _lock_waiters(dsn, application)))
        for thread in threads:
            thread.join(PATIENCE)
    finally:
        db.close()


def test_reads_in_each_process_keep_working_while_writers_queue_in_both(
    dsn: str, schema: str, spawn: multiprocessing.context.SpawnContext
) -> None:
    with clove.open(_named(dsn, "setup", schema=schema)) as db:
        db.write_schema("definition user {}\ndefinition doc { relation viewer: user }")
        db.write_relationships(["doc:seed#viewer@user:alice"])
    mine, theirs = f"clove-{schema}-parent", f"clove-{schema}-child"
    options = {"max_connections": READ_CONNECTIONS, "connect_timeout": 1.0}
    with PostgresStore(_named(dsn, mine), schema=schema, **options) as store:  # type: ignore[arg-type]
        results: multiprocessing.Queue[object] = spawn.Queue()
        with _writers_lock_held(dsn, schema):
            writers = _Writers(store, WRITERS, "p")
            child = spawn.Process(target=_queue_and_read, args=(dsn, schema, theirs, results))
            child.start()
            _wait_for_queue(dsn, mine)
            succeeded, errors = _read_in_threads(store, threads=4, each=25, seeded_at=2)
            child_succeeded, child_errors, child_waiting = results.get(timeout=PATIENCE)  # type: ignore[misc]
            waiting = _lock_waiters(dsn, mine)
        writers.join()
        child.join(PATIENCE)
        assert child.exitcode == 0
        head = store.head_revision()
    assert (succeeded, errors) == (100, [])
    assert (child_succeeded, child_errors) == (100, [])
    assert (waiting, child_waiting) == (1, 1)
    assert writers.errors == []
    # Everyone's writes landed once the lock was free: two setup revisions, then these.
    assert head == 2 + 2 * WRITERS


# --- the writers' turns ------------------------------------------------------------------


def test_turns_go_first_come_first_served_and_time_out() -> None:
    from clove.storage.postgres import _Turns  # private: the store's own queue of writers

    turns = _Turns()
    assert turns.take(0)
    assert not turns.take(0.01)  # busy: the wait runs out
    order: list[int] = []
    threads = []
    for number in range(3):
        thread = threading.Thread(
            target=lambda n=number: (turns.take(PATIENCE), order.append(n), turns.give_back())
        )
        thread.start()
        threads.append(thread)
        # The next one starts only once this one is queued.
        deadline = time.monotonic() + PATIENCE
        while len(turns._waiting) <= number:
            assert time.monotonic() < deadline
            time.sleep(0.001)
    turns.give_back()
    for thread in threads:
        thread.join(PATIENCE)
    assert order == [0, 1, 2]
    assert turns.take(0)  # free again
    turns.give_back()


def test_a_store_that_only_reads_opens_no_writers_connection(dsn: str, schema: str) -> None:
    """As a replica's store, on a standby that refuses writes: readers' connections only."""
    with PostgresStore(dsn, schema=schema) as store:
        for _ in range(5):
            store.reader(store.head_revision()).subjects("doc", "d", "viewer")
        assert store._write_pool.get_stats().get("pool_size", 0) == 0
        store.write(touch("doc:d#viewer@user:u"))
        assert store._write_pool.get_stats().get("pool_size", 0) == 1
