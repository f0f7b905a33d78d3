"""What only the PostgreSQL backend promises: a server shared by processes, connections that
die, schemas that isolate stores, migrations, and ``clove.open`` URLs.

The contract every backend keeps is in ``test_conformance.py``, which runs on PostgreSQL too.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

import clove
from clove.consistency import Consistency
from clove.errors import InvalidInputError, RelationshipExistsError, StorageError, TokenError
from clove.relationships import (
    Operation,
    RelationshipFilter,
    RelationshipUpdate,
    parse_relationship,
)
from clove.schema.ir import ELLIPSIS
from clove.storage.postgres import PostgresStore
from clove.storage.protocol import Reader, SchemaRecord
from storage.interrupted_writes import die_while_writing
from storage.postgres_server import (
    drop_schemas,
    new_schema,
    require_postgres,
    url_with_schema,
)

pytestmark = pytest.mark.postgres

EVERYTHING = RelationshipFilter()


def touch(*texts: str) -> list[RelationshipUpdate]:
    return [
        RelationshipUpdate(operation=Operation.TOUCH, relationship=parse_relationship(t))
        for t in texts
    ]


def delete(*texts: str) -> list[RelationshipUpdate]:
    return [
        RelationshipUpdate(operation=Operation.DELETE, relationship=parse_relationship(t))
        for t in texts
    ]


def everything(reader: Reader) -> list[str]:
    return [str(r) for r in reader.query(EVERYTHING)]


@pytest.fixture
def dsn() -> str:
    return require_postgres()


@pytest.fixture
def schema(dsn: str) -> Iterator[str]:
    """A fresh schema name, dropped (with whatever was made in it) after the test."""
    name = new_schema()
    yield name
    drop_schemas([name])


def _execute(dsn: str, statement: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(statement)


# --- one server, several stores ----------------------------------------------------------


def test_survives_close_and_reopen(dsn: str, schema: str) -> None:
    with PostgresStore(dsn, schema=schema) as store:
        store.write(touch('doc:d1#viewer@user:alice[cav:{"n":1}]'), schema_text="v1")
        store.write(touch("doc:d2#viewer@user:bob[expiration:2300-01-01T00:00:00Z]"))
        store.write(delete("doc:d1#viewer@user:alice"), schema_text="v2")
        store_id = store.store_id
    with PostgresStore(dsn, schema=schema) as reopened:
        assert reopened.store_id == store_id
        assert reopened.head_revision() == 3
        assert everything(reopened.reader(1)) == ['doc:d1#viewer@user:alice[cav:{"n":1}]']
        assert everything(reopened.reader(3)) == [
            "doc:d2#viewer@user:bob[expiration:2300-01-01T00:00:00Z]"
        ]
        assert reopened.reader(2).schema() == SchemaRecord(text="v1", revision=1)
        assert reopened.reader(3).schema() == SchemaRecord(text="v2", revision=3)
        assert reopened.write([]) == 4


def test_schemas_are_separate_stores(dsn: str, schema: str) -> None:
    other = new_schema()
    try:
        with PostgresStore(dsn, schema=schema) as a, PostgresStore(dsn, schema=other) as b:
            assert a.store_id != b.store_id
            a.write(touch("doc:d1#viewer@user:alice"))
            assert b.head_revision() == 0
            assert everything(b.reader(0)) == []
    finally:
        drop_schemas([other])


def test_sees_writes_from_another_store_on_the_same_schema(dsn: str, schema: str) -> None:
    with PostgresStore(dsn, schema=schema) as first, PostgresStore(dsn, schema=schema) as second:
        assert first.store_id == second.store_id
        reader = second.reader(0)
        first.write(touch("doc:d1#viewer@user:alice"))
        # No head_revision() first: a reader beyond what ``second`` has seen looks again.
        assert everything(second.reader(1)) == ["doc:d1#viewer@user:alice"]
        assert everything(reader) == []
        assert second.write(touch("doc:d2#viewer@user:bob")) == 2
        assert first.head_revision() == 2


def test_a_token_from_another_schema_is_refused(dsn: str, schema: str) -> None:
    other = new_schema()
    try:
        with clove.open(url_with_schema(schema)) as a, clove.open(url_with_schema(other)) as b:
            token = a.write_schema("definition user {}")
            b.write_schema("definition user {}")
            with pytest.raises(TokenError):
                b.read_schema(consistency=Consistency.at_exact_snapshot(token))
    finally:
        drop_schemas([other])


def test_readers_at_a_token_never_see_later_data(dsn: str, schema: str) -> None:
    text = """
        definition user {}
        definition doc {
            relation viewer: user
            permission view = viewer
        }
    """
    with clove.open(url_with_schema(schema)) as db, clove.open(url_with_schema(schema)) as other:
        db.write_schema(text)
        token = db.write_relationships(["doc:d1#viewer@user:alice", "doc:d2#viewer@user:bob"])
        at_token = Consistency.at_exact_snapshot(token)
        before = [str(r) for r in db.read_relationships(consistency=at_token)]
        assert db.check("doc:d1", "view", "user:alice", consistency=at_token)
        # Another handle (so another pool and cache) changes everything.
        other.write_relationships(["doc:d1#viewer@user:carol"])
        other.delete_relationships("doc:d1#viewer@user:alice")
        other.delete_relationships(RelationshipFilter(resource_id="d2"))
        assert not db.check("doc:d1", "view", "user:alice", consistency="full")
        assert db.check("doc:d1", "view", "user:carol", consistency="full")
        assert [str(r) for r in db.read_relationships(consistency=at_token)] == before
        assert db.check("doc:d1", "view", "user:alice", consistency=at_token)
        assert not db.check("doc:d1", "view", "user:carol", consistency=at_token)
        found = [r.resource_id for r in db.lookup_resources("doc", "view", "user:bob")]
        assert found == []
        found = [
            r.resource_id
            for r in db.lookup_resources("doc", "view", "user:bob", consistency=at_token)
        ]
        assert found == ["d2"]


# --- URLs, schema names, migrations ------------------------------------------------------


def test_the_schema_can_come_from_the_url(dsn: str, schema: str) -> None:
    with PostgresStore(url_with_schema(schema)) as store:
        assert store.schema == schema
        store.write(touch("doc:d1#viewer@user:alice"))
    with PostgresStore(dsn, schema=schema) as store:
        assert store.head_revision() == 1
    with pytest.raises(InvalidInputError):
        PostgresStore(url_with_schema(schema), schema="clove_other")


@pytest.mark.parametrize("name", ["Upper", "1digit", "semi;colon", 'quo"te', "x" * 64, ""])
def test_invalid_schema_names_are_refused(dsn: str, name: str) -> None:
    with pytest.raises(InvalidInputError):
        PostgresStore(dsn, schema=name)


def test_an_unreachable_server_raises_storage_error_without_the_password() -> None:
    with pytest.raises(StorageError) as raised:
        PostgresStore("postgresql://someone:s3cret@127.0.0.1:1/nowhere", connect_timeout=2)
    assert "s3cret" not in str(raised.value)
    assert "127.0.0.1:1" in str(raised.value)


def test_refuses_a_newer_storage_format(dsn: str, schema: str) -> None:
    PostgresStore(dsn, schema=schema).close()
    _execute(dsn, f'INSERT INTO "{schema}".clove_migrations (version) VALUES (999)')
    with pytest.raises(StorageError, match="newer"):
        PostgresStore(dsn, schema=schema)


def test_without_migrate_an_unprepared_schema_is_refused(dsn: str, schema: str) -> None:
    with pytest.raises(StorageError, match="migrate=True"):
        PostgresStore(dsn, schema=schema, migrate=False)
    with psycopg.connect(dsn) as connection:
        found = connection.execute(
            "SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)
        ).fetchone()
    assert found is None  # nothing was created
    PostgresStore(dsn, schema=schema).close()
    with PostgresStore(dsn, schema=schema, migrate=False) as store:
        assert store.write(touch("doc:d1#viewer@user:alice")) == 1


# --- connections and locks ---------------------------------------------------------------


def test_reads_survive_the_server_dropping_pooled_connections(dsn: str, schema: str) -> None:
    with PostgresStore(dsn, schema=schema, min_connections=1, max_connections=1) as store:
        store.write(touch("doc:d1#viewer@user:alice"))
        reader = store.reader(1)
        assert everything(reader) == ["doc:d1#viewer@user:alice"]
        # The server (or a proxy) drops the pool's one connection behind its back.
        with psycopg.connect(dsn, autocommit=True) as admin:
            killed = admin.execute(
                """
                SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                WHERE datname = current_database() AND pid <> pg_backend_pid()
                    AND query LIKE %s
                """,
                (f'%"{schema}"%',),
            ).fetchone()
        assert killed == (1,)
        assert everything(reader) == ["doc:d1#viewer@user:alice"]
        assert reader.find("doc", "d1", "viewer", "user", "alice", ELLIPSIS) is not None
        assert store.write(touch("doc:d2#viewer@user:bob")) == 2


def test_prepared_statements_serve_the_same_answers(dsn: str, schema: str) -> None:
    with PostgresStore(dsn, schema=schema, prepared_statements=True) as store:
        for i in range(8):  # past psycopg's threshold for preparing a statement
            revision = store.write(touch(f"doc:d1#viewer@user:u{i}"))
            reader = store.reader(revision)
            assert reader.find("doc", "d1", "viewer", "user", f"u{i}", ELLIPSIS) is not None
            assert len(reader.subjects("doc", "d1", "viewer")) == i + 1
            assert len(everything(reader)) == i + 1
        assert len(store.reader(3).subjects("doc", "d1", "viewer")) == 3


def test_a_write_waiting_too_long_for_another_writer_fails_cleanly(dsn: str, schema: str) -> None:
    with PostgresStore(dsn, schema=schema, lock_timeout=0.2) as store:
        store.write(touch("doc:d1#viewer@user:alice"))
        with psycopg.connect(dsn) as blocker:
            # Another writer, stuck inside its transaction, holding the head row.
            blocker.execute(f'SELECT revision FROM "{schema}".head FOR UPDATE')
            started = time.monotonic()
            with pytest.raises(StorageError, match="another writer"):
                store.write(touch("doc:d2#viewer@user:bob"))
            assert time.monotonic() - started < 5
            blocker.rollback()
        assert store.head_revision() == 1
        assert store.write(touch("doc:d2#viewer@user:bob")) == 2


def test_large_writes_in_several_statements_stay_one_revision(dsn: str, schema: str) -> None:
    with PostgresStore(dsn, schema=schema) as store:
        count = 25_000  # more than one chunk of updates
        creates = [
            RelationshipUpdate(
                operation=Operation.CREATE,
                relationship=parse_relationship(f"doc:d{i:05}#viewer@user:u{i % 10}"),
            )
            for i in range(count)
        ]
        # The last update re-creates a relationship the first chunk created.
        with pytest.raises(RelationshipExistsError):
            store.write([*creates, creates[0]])
        assert store.head_revision() == 0
        revision = store.write(creates)
        assert revision == 1
        reader = store.reader(1)
        assert sum(1 for _ in reader.query(EVERYTHING)) == count
        # Chunk one touches a and b, chunk two deletes a and touches b again: the versions
        # chunk one made never show, and b keeps its last caveat.
        fillers = [f"doc:f{i:05}#viewer@user:u" for i in range(9_998)]
        later = store.write(
            touch("doc:a#viewer@user:u[one]", "doc:b#viewer@user:u[one]", *fillers)
            + delete("doc:a#viewer@user:u")
            + touch("doc:b#viewer@user:u[two]")
        )
        reader = store.reader(later)
        assert reader.find("doc", "a", "viewer", "user", "u", ELLIPSIS) is None
        assert [str(r) for r in reader.subjects("doc", "b", "viewer")] == [
            "doc:b#viewer@user:u[two]"
        ]
        assert store.changed_sets(1, later) is not None


# --- several processes -------------------------------------------------------------------


@pytest.fixture
def spawn(monkeypatch: pytest.MonkeyPatch) -> multiprocessing.context.SpawnContext:
    """A spawn context whose children can import this module (see test_conformance.spawn)."""
    root = Path(__file__).resolve().parents[__name__.count(".")]
    monkeypatch.syspath_prepend(str(root))
    return multiprocessing.get_context("spawn")


def _write_many(dsn: str, schema: str, worker: int, count: int) -> list[int]:
    """Run in a child process: open the (maybe not yet created) store, write ``count`` times."""
    revisions = []
    with PostgresStore(dsn, schema=schema) as store:
        for i in range(count):
            text = f"doc:p{worker}-{i}#viewer@user:u"
            revision = store.write(touch(text))
            revisions.append(revision)
            # Read your write, at exactly its revision.
            found = store.reader(revision).find(
                "doc", f"p{worker}-{i}", "viewer", "user", "u", "..."
            )
            assert found is not None
    return revisions


def test_processes_writing_together_lose_nothing(
    dsn: str, schema: str, spawn: multiprocessing.context.SpawnContext
) -> None:
    # The children race to create the schema too: set-up is serialized by an advisory lock.
    processes, writes = 4, 40
    with spawn.Pool(processes) as pool:
        work = [(dsn, schema, n, writes) for n in range(processes)]
        per_process = pool.starmap_async(_write_many, work).get(timeout=300)
    total = processes * writes
    for revisions in per_process:
        assert revisions == sorted(set(revisions))
    assert sorted(r for revisions in per_process for r in revisions) == list(range(1, total + 1))
    with PostgresStore(dsn, schema=schema) as store:
        assert store.head_revision() == total
        assert len(everything(store.reader(total))) == total
        # Revision r holds exactly the writes numbered up to r.
        for revision in (1, total // 2, total):
            assert len(everything(store.reader(revision))) == revision


@pytest.mark.parametrize("how", ["exit", "sigkill"])
def test_a_writer_killed_mid_transaction_leaves_nothing_applied(
    dsn: str, schema: str, spawn: multiprocessing.context.SpawnContext, how: str
) -> None:
    if how == "sigkill" and not hasattr(signal, "SIGKILL"):
        pytest.skip("no SIGKILL on this platform")
    expected = ["doc:keep#viewer@user:alice", "doc:keep#viewer@user:bob"]
    with PostgresStore(dsn, schema=schema) as store:
        store.write(touch(*expected), schema_text="v1")
        inside = spawn.Event()
        open_store = functools.partial(PostgresStore, dsn, schema=schema)
        child = spawn.Process(target=die_while_writing, args=(open_store, how, inside))
        child.start()
        try:
            if how == "sigkill":
                assert inside.wait(timeout=120), "the child never got inside its write"
                # Mid-transaction: nothing of it shows to readers meanwhile.
                assert store.head_revision() == 1
                assert everything(store.reader(1)) == expected
                os.kill(child.pid or 0, signal.SIGKILL)
            child.join(timeout=120)
        finally:
            if child.is_alive():
                child.kill()
                child.join()
        assert child.exitcode == (3 if how == "exit" else -signal.SIGKILL)
        # The next write waits for the server to roll the dead one back, then takes its
        # revision; nothing of the dead write shows at any revision.
        assert store.write(touch("doc:after#viewer@user:carol")) == 2
        assert store.head_revision() == 2
        assert everything(store.reader(1)) == expected
        assert everything(store.reader(2)) == ["doc:after#viewer@user:carol", *expected]
        assert store.reader(2).schema() == SchemaRecord(text="v1", revision=1)
        assert store.changed_sets(1, 2) == {("doc", "after", "viewer")}
        assert store.delete_expired(datetime.now(UTC)) == 0
