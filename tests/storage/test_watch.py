"""``Database.watch`` on every backend: order, filters, blocking, stopping, resuming, GC.

The resume tests are the contract that matters most: a consumer that reconnects (closing
its watch, or its whole database, and resuming from the last token it handled) sees every
change exactly once, also while other processes write.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import clove
from clove.database import Database
from clove.errors import InvalidInputError, RevisionUnavailableError, StorageError, TokenError
from clove.relationships import Operation, RelationshipFilter, RelationshipUpdate
from clove.relationships import parse_relationship as rel
from clove.storage.cache import CachedStore
from clove.storage.memory import MemoryStore
from clove.storage.postgres import PostgresStore
from clove.storage.protocol import Store
from clove.storage.sqlite import SqliteStore
from clove.watch import WatchEvent
from storage.conftest import StoreFactory
from storage.postgres_server import DSN

SCHEMA = """
use expiration
definition user {}
definition group { relation member: user }
definition doc {
    relation viewer: user | group#member
    relation owner: user | user with expiration
}
"""


@pytest.fixture
def db(store: Store) -> Iterator[Database]:
    database = Database(store)
    database.write_schema(SCHEMA)
    yield database
    database.close()


def lines(events: list[WatchEvent]) -> list[str]:
    """Each update as ``revision operation relationship``; schema writes as ``revision schema``."""
    found: list[str] = []
    for event in events:
        if event.schema_text is not None:
            found.append(f"{event.revision} schema")
        found.extend(f"{event.revision} {u.operation} {u.relationship}" for u in event.updates)
    return found


def drain(
    database: Database,
    after: str | None,
    *,
    filter: RelationshipFilter | str | None = None,
    schema_changes: bool = True,
) -> list[WatchEvent]:
    """Everything the watch has now: iterate until it has been idle briefly."""
    with database.watch(
        after=after, filter=filter, schema_changes=schema_changes, timeout=0.3, poll_interval=0.02
    ) as watch:
        return list(watch)


def test_events_come_one_per_write_in_revision_order(db: Database) -> None:
    start = db.write_relationships([])
    t1 = db.write_relationships(["doc:1#viewer@user:a", "doc:2#viewer@user:b"])
    t2 = db.write_relationships(["doc:1#viewer@user:a", "doc:1#owner@user:c"])
    t3 = db.delete_relationships("doc:2")
    t4 = db.write_schema(SCHEMA + "definition folder {}")
    events = drain(db, start)
    assert [e.token for e in events] == [t1, t2, t3, t4]
    assert [e.revision for e in events] == sorted({e.revision for e in events})
    r1 = events[0].revision
    assert lines(events) == [
        f"{r1} create doc:1#viewer@user:a",
        f"{r1} create doc:2#viewer@user:b",
        # Touching an existing relationship is one TOUCH.
        f"{r1 + 1} create doc:1#owner@user:c",
        f"{r1 + 1} touch doc:1#viewer@user:a",
        f"{r1 + 2} delete doc:2#viewer@user:b",
        f"{r1 + 3} schema",
    ]
    assert events[3].schema_text == SCHEMA + "definition folder {}"
    # Every token reads the snapshot of its write.
    snapshot = clove.Consistency.at_exact_snapshot(events[1].token)
    assert [str(r) for r in db.read_relationships("doc", consistency=snapshot)] == [
        "doc:1#owner@user:c",
        "doc:1#viewer@user:a",
        "doc:2#viewer@user:b",
    ]


def test_filters_and_schema_changes(db: Database) -> None:
    start = db.write_relationships([])
    db.write_relationships(["doc:1#viewer@user:a", "doc:1#owner@user:a"])
    db.write_relationships(["group:g#member@user:b"])
    db.write_relationships(["doc:2#viewer@group:g#member"])
    db.write_schema(SCHEMA + "definition folder {}")
    viewers = drain(db, start, filter="doc#viewer", schema_changes=False)
    assert [line.split(" ", 1)[1] for line in lines(viewers)] == [
        "create doc:1#viewer@user:a",
        "create doc:2#viewer@group:g#member",
    ]
    groups = drain(db, start, filter=RelationshipFilter(subject_type="group"))
    assert [line.split(" ", 1)[1] for line in lines(groups)] == [
        "create doc:2#viewer@group:g#member",
        "schema",
    ]
    only_schema = drain(db, start, filter=RelationshipFilter(resource_type="folder"))
    assert [e.updates for e in only_schema] == [()]


def test_a_watch_from_now_follows_new_commits_as_they_happen(db: Database) -> None:
    db.write_relationships(["doc:old#viewer@user:a"])
    received: list[WatchEvent] = []
    with db.watch(poll_interval=0.01, timeout=10) as watch:

        def write_later() -> None:
            for i in range(5):
                time.sleep(0.02)
                db.write_relationships([f"doc:{i}#viewer@user:a"])

        writer = threading.Thread(target=write_later)
        writer.start()
        for event in watch:
            received.append(event)
            if len(received) == 5:
                break
        writer.join()
    assert [line.split(" ", 1)[1] for line in lines(received)] == [
        f"create doc:{i}#viewer@user:a" for i in range(5)
    ]


def test_a_filtered_watch_advances_its_token_past_writes_it_skips(db: Database) -> None:
    start = db.write_relationships([])
    first = db.write_relationships(["doc:1#owner@user:a"])
    db.write_relationships(["doc:2#viewer@user:a"])
    db.write_relationships(["doc:3#viewer@user:a"])
    with db.watch(after=start, filter="doc#owner", timeout=0.2, poll_interval=0.02) as watch:
        assert watch.token == start
        assert [e.token for e in watch] == [first]
        resume = watch.token
    later = db.write_relationships(["doc:4#owner@user:a"])
    assert resume == clove.consistency.encode_token(db.store.store_id, watch.revision)
    assert watch.revision == clove.consistency.decode_token(later, db.store.store_id) - 1
    assert [e.token for e in drain(db, resume, filter="doc#owner")] == [later]


def test_writes_that_change_nothing_make_no_event(db: Database) -> None:
    start = db.write_relationships([])
    db.delete_relationships("doc:nothing")
    token = db.write_relationships(["doc:1#viewer@user:a"])
    assert [e.token for e in drain(db, start)] == [token]


def test_expiration_makes_no_event(db: Database) -> None:
    start = db.write_relationships([])
    soon = (datetime.now(UTC) + timedelta(milliseconds=200)).isoformat()
    token = db.write_relationships([f"doc:1#owner@user:a[expiration:{soon}]"])
    assert db.check("doc:1", "owner", "user:a")
    time.sleep(0.3)
    assert [e.token for e in drain(db, start)] == [token]


def test_close_from_another_thread_ends_a_waiting_watch(db: Database) -> None:
    watch = db.watch(poll_interval=5)
    threading.Timer(0.1, watch.close).start()
    started = time.monotonic()
    assert list(watch) == []
    assert time.monotonic() - started < 4


def test_a_stop_event_ends_the_watch(db: Database) -> None:
    stop = threading.Event()
    threading.Timer(0.1, stop.set).start()
    assert list(db.watch(stop=stop, poll_interval=0.02)) == []


def test_closing_the_database_ends_its_watches(store: Store) -> None:
    database = Database(store)
    database.write_schema(SCHEMA)
    watch = database.watch(poll_interval=0.02)
    done: list[list[WatchEvent]] = []
    reader = threading.Thread(target=lambda: done.append(list(watch)))
    reader.start()
    time.sleep(0.1)
    database.close()
    reader.join(timeout=5)
    assert done == [[]]


def test_bad_tokens_and_options_are_refused(db: Database) -> None:
    with pytest.raises(TokenError):
        db.watch(after="not a token")
    with pytest.raises(TokenError, match="another datastore"):
        db.watch(after=clove.open().write_schema(SCHEMA))
    future = clove.consistency.encode_token(db.store.store_id, 10_000)
    with pytest.raises(RevisionUnavailableError):
        db.watch(after=future)
    with pytest.raises(InvalidInputError, match="poll_interval"):
        db.watch(poll_interval=0)


# --- garbage collection and watching ------------------------------------------------------


def test_a_token_older_than_the_window_is_refused_clearly(db: Database) -> None:
    old = db.write_relationships(["doc:1#viewer@user:a"])
    db.write_relationships(["doc:2#viewer@user:a"])
    waiting = db.watch(after=old)
    time.sleep(0.02)
    mark = datetime.now(UTC)
    time.sleep(0.02)
    kept = db.write_relationships(["doc:3#viewer@user:a"])
    db.collect_garbage(now=mark + timedelta(hours=24))
    message = r"older than the garbage-collection window \(24h\)"
    with pytest.raises(RevisionUnavailableError, match=message):
        db.watch(after=old)
    with pytest.raises(RevisionUnavailableError, match=message):
        db.check("doc:1", "viewer", "user:a", consistency=clove.Consistency.at_exact_snapshot(old))
    # A watch already open when its position was collected fails too, never skips.
    with pytest.raises(RevisionUnavailableError, match=message):
        next(waiting)
    # Tokens inside the window keep working, for reads and watches.
    at_kept = clove.Consistency.at_exact_snapshot(kept)
    assert db.check("doc:3", "viewer", "user:a", consistency=at_kept)
    later = db.write_relationships(["doc:4#viewer@user:a"])
    assert [e.token for e in drain(db, kept)] == [later]


def test_a_tiny_window_with_an_injected_clock(tmp_path: Path) -> None:
    with clove.open(f"sqlite://{tmp_path}/tiny.db", gc_window=timedelta(milliseconds=1)) as db:
        schema_token = db.write_schema(SCHEMA)
        first = db.write_relationships(["doc:1#viewer@user:a"])
        time.sleep(0.01)
        mark = datetime.now(UTC)
        time.sleep(0.01)
        second = db.write_relationships(["doc:2#viewer@user:a"])
        report = db.collect_garbage(now=mark + timedelta(milliseconds=1))
        revision = clove.consistency.decode_token(second, db.store.store_id)
        assert report.oldest_revision == revision - 1
        assert lines(drain(db, first)) == [f"{revision} create doc:2#viewer@user:a"]
        with pytest.raises(RevisionUnavailableError, match=r"window \(0.001s\)"):
            db.watch(after=schema_token)


def test_background_collection(tmp_path: Path) -> None:
    with clove.open(
        f"sqlite://{tmp_path}/bg.db", gc_window=timedelta(0), gc_interval=timedelta(milliseconds=20)
    ) as db:
        db.write_schema(SCHEMA)
        token = db.write_relationships(["doc:1#owner@user:a[expiration:2001-01-01T00:00:00Z]"])
        head = clove.consistency.decode_token(token, db.store.store_id)
        deadline = time.monotonic() + 10
        store = db.store
        assert isinstance(store, CachedStore)
        while store.oldest_revision() < head and time.monotonic() < deadline:
            time.sleep(0.02)
        assert store.oldest_revision() == head
    with pytest.raises(InvalidInputError, match="gc_interval"):
        clove.open(gc_interval=timedelta(0))


def test_without_a_change_log_watch_is_refused() -> None:
    class Bare:
        """A store with only the core protocol."""

        def __init__(self) -> None:
            self._inner = MemoryStore()

        def __getattr__(self, name: str) -> object:
            if name in ("changes", "oldest_revision", "collect_garbage", "gc_window"):
                raise AttributeError(name)
            return getattr(self._inner, name)

    database = Database(Bare())  # type: ignore[arg-type]
    with pytest.raises(StorageError, match="keeps no change log"):
        database.watch()
    with pytest.raises(StorageError, match="does not collect garbage"):
        database.collect_garbage()


# --- resuming across reconnects -----------------------------------------------------------


def _reopen(store: Store) -> Store | None:
    """A new handle on the same data (None for memory, which a second handle cannot see)."""
    inner = store.inner if isinstance(store, CachedStore) else store
    if isinstance(inner, SqliteStore):
        opened: Store = SqliteStore(inner.path)
    elif isinstance(inner, PostgresStore):
        opened = PostgresStore(DSN, schema=inner.schema)
    else:
        return None
    if isinstance(store, CachedStore):
        assert isinstance(opened, SqliteStore | PostgresStore)
        return CachedStore(opened, opened)
    return opened


def _consume_with_reconnects(
    store: Store, start: str, expected: int, *, every: int
) -> list[WatchEvent]:
    """Watch until ``expected`` updates came, reconnecting after every ``every`` events."""
    received: list[WatchEvent] = []
    token = start
    deadline = time.monotonic() + 120
    while sum(len(e.updates) for e in received) < expected:
        assert time.monotonic() < deadline, f"only {len(received)} events arrived"
        handle = _reopen(store)
        database = Database(store if handle is None else handle)
        watch = database.watch(after=token, poll_interval=0.01, timeout=30)
        for count, event in enumerate(watch, start=1):
            received.append(event)
            token = event.token
            if count == every or sum(len(e.updates) for e in received) >= expected:
                break
        watch.close()
        if handle is not None:
            database.close()  # the whole connection goes, not just the watch
    return received


def _assert_exactly_once(received: list[WatchEvent], written: list[str]) -> None:
    revisions = [e.revision for e in received]
    assert revisions == sorted(set(revisions)), "events out of order or repeated"
    seen = [str(u.relationship) for e in received for u in e.updates]
    assert sorted(seen) == sorted(written)
    assert len(seen) == len(set(seen))


def test_reconnecting_mid_stream_receives_every_change_once(store: Store) -> None:
    database = Database(store)
    database.write_schema(SCHEMA)
    start = database.write_relationships([])
    written: list[str] = []

    def write_all() -> None:
        for i in range(40):
            batch = [f"doc:{i}#viewer@user:a"] + ([f"doc:{i}#owner@user:b"] if i % 3 else [])
            database.write_relationships(batch)
            written.extend(batch)
            time.sleep(0.002)

    writer = threading.Thread(target=write_all)
    writer.start()
    try:
        received = _consume_with_reconnects(store, start, 40 + 26, every=7)
    finally:
        writer.join()
    _assert_exactly_once(received, written)
    assert all(len(e.updates) == (1 if i % 3 == 0 else 2) for i, e in enumerate(received))


@pytest.fixture
def spawn(monkeypatch: pytest.MonkeyPatch) -> multiprocessing.context.SpawnContext:
    """A spawn context whose children can import this module (see test_conformance.spawn)."""
    root = Path(__file__).resolve().parents[__name__.count(".")]
    monkeypatch.syspath_prepend(str(root))
    return multiprocessing.get_context("spawn")


def _write_from_process(where: str, worker: int, count: int) -> list[str]:
    """Run in a child process: ``count`` writes of one or two relationships each."""
    store: Store = (
        PostgresStore(DSN, schema=where) if where.startswith("clove_test_") else SqliteStore(where)
    )
    written: list[str] = []
    try:
        for i in range(count):
            batch = [f"doc:w{worker}-{i}#viewer@user:a"]
            if i % 2:
                batch.append(f"doc:w{worker}-{i}#owner@user:b")
            updates = [
                RelationshipUpdate(operation=Operation.TOUCH, relationship=rel(text))
                for text in batch
            ]
            store.write(updates)
            written.extend(batch)
    finally:
        store.close()
    return written


@pytest.mark.parametrize(
    "backend",
    ["sqlite", "sqlite-cached", pytest.param("postgres-cached", marks=pytest.mark.postgres)],
    indirect=True,
)
def test_reconnecting_while_other_processes_write_receives_every_change_once(
    make_store: StoreFactory, spawn: multiprocessing.context.SpawnContext
) -> None:
    store = make_store()
    database = Database(store)
    database.write_schema(SCHEMA)
    start = database.write_relationships([])
    inner = store.inner if isinstance(store, CachedStore) else store
    where = inner.schema if isinstance(inner, PostgresStore) else str(getattr(inner, "path", ""))
    processes, writes = 2, 30
    with spawn.Pool(processes) as pool:
        work = pool.starmap_async(
            _write_from_process, [(where, n, writes) for n in range(processes)]
        )
        received = _consume_with_reconnects(
            store, start, processes * (writes + writes // 2), every=9
        )
        written = [text for batch in work.get(timeout=300) for text in batch]
    _assert_exactly_once(received, written)


def test_a_bulk_import_is_one_event_of_creates(db: Database) -> None:
    start = db.write_relationships([])
    token = db.import_relationships(f"doc:{n}#viewer@user:u{n}" for n in range(50))
    events = drain(db, start)
    assert [event.token for event in events] == [token]
    assert {str(update.operation) for update in events[0].updates} == {"create"}
    assert len(events[0].updates) == 50
