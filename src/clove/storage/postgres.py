"""The PostgreSQL backend: MVCC through created/deleted revision columns, one writer at a time.

The layout follows the SQLite backend. Every stored row is one version of a relationship,
visible to a reader at revision ``r`` exactly when ``created_revision <= r < deleted_revision``;
a write retires versions (``deleted_revision = new revision``) and inserts replacements, so
a reader needs no open transaction: each lookup is one autocommit statement filtered by its
revision, on whichever pooled connection is free.

A write is one transaction that first bumps the one-row ``head`` counter. The row lock that
``UPDATE`` takes is held until commit, so writers in any number of processes queue there and
revision ``n + 1`` is allocated only after revision ``n`` has committed: revisions become
visible in order, with no gaps, which is what a change feed (Watch) will rely on. A write that
fails or whose client dies rolls back, counter included.

Readers never wait for writers, and neither do their connections: readers and writers draw
from separate pools, and the writers of one process take turns (first come, first served)
*before* taking a connection, so that however many writes queue, at most one connection per
process waits on the ``head`` lock and the readers' pool stays the readers'. A write that
waits longer than ``lock_timeout`` for its turn and the lock together raises
WriteTimeoutError, having written nothing.

Nothing depends on session state: no ``search_path`` (every name is schema-qualified), no
prepared statements (``prepare_threshold=None``), settings only ``SET LOCAL`` inside a
transaction. So the store works through PgBouncer in transaction mode.

All of a store's tables live in one PostgreSQL schema (``clove`` unless told otherwise), so
several independent stores can share a database. Text columns use the ``"C"`` collation:
byte order of UTF-8, which is code-point order, the order of Python's ``str`` and of
``Relationship.key``.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import re
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

import psycopg
import psycopg.errors
from psycopg import Connection
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool

from clove.errors import (
    CloveInternalError,
    InvalidInputError,
    PreconditionFailedError,
    RelationshipExistsError,
    StorageError,
    WriteTimeoutError,
)
from clove.relationships import (
    Operation,
    Precondition,
    PreconditionKind,
    Relationship,
    RelationshipFilter,
    RelationshipUpdate,
)
from clove.schema.ir import ELLIPSIS
from clove.storage._postgres_load import load_into_empty, table_is_empty
from clove.storage._rows import CHANGED_SETS_LIMIT as _CHANGED_LIMIT
from clove.storage._rows import LIVE as _LIVE
from clove.storage._rows import filter_conditions
from clove.storage._rows import fixed_key_prefix as _fixed_key_prefix
from clove.storage._rows import from_micros as _from_micros
from clove.storage._rows import micros as _micros
from clove.storage._rows import now_micros as _now_micros
from clove.storage._rows import relationship_from_row as _relationship
from clove.storage.bulk import ImportRow, describe_row
from clove.storage.history import (
    DEFAULT_GC_WINDOW,
    GarbageReport,
    RetentionGuard,
    RevisionChanges,
    changes_from_versions,
    require_retained,
)
from clove.storage.protocol import RelationshipKey, SchemaRecord, require_revision

__all__ = [
    "DEFAULT_SCHEMA",
    "PostgresReader",
    "PostgresStore",
    "describe_url",
    "migration_status",
]

DEFAULT_SCHEMA = "clove"


# How many rows ``query`` fetches per statement; no statement stays open between pages.
_PAGE_SIZE = 500
# How many updates a write sends per statement (as arrays, through ``unnest``).
_CHUNK_SIZE = 10_000
# How many old versions garbage collection deletes per transaction.
_GC_BATCH = 10_000
# The writers' pool: one connection for the writer whose turn it is, one for the maintenance
# that takes no turn (garbage collection's batches, statistics after an import).
_WRITE_CONNECTIONS = 2

_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")

_Row = tuple[Any, ...]
_Connection = Connection[_Row]

# Schema migrations, applied in order on open, each recorded in ``clove_migrations``.
# ``{s}`` is the store's quoted schema. Append new steps; never edit a released one.
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """
        CREATE TABLE {s}.metadata (key text COLLATE "C" PRIMARY KEY, value text NOT NULL)
        """,
        # The store id, carried in consistency tokens: a token from another database (or
        # another schema of this one) must never be taken for one of ours.
        """
        INSERT INTO {s}.metadata (key, value)
            VALUES ('store_id', 'postgres-' || replace(gen_random_uuid()::text, '-', ''))
        """,
        # The newest committed revision; writers queue on this row's lock.
        """
        CREATE TABLE {s}.head (
            only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
            revision bigint NOT NULL
        )
        """,
        "INSERT INTO {s}.head (revision) VALUES (0)",
        # One row per successful write (the change feed's list of revisions).
        """
        CREATE TABLE {s}.revisions (
            revision bigint PRIMARY KEY,
            committed_at timestamptz NOT NULL DEFAULT now()
        )
        """,
        # The primary key doubles as the forward index (resource_type, resource_id, relation)
        # used by ``subjects`` and ``find``, and gives ``query`` its key order.
        # ``expiration`` is epoch microseconds, judged by the reader's clock as in SQLite.
        """
        CREATE TABLE {s}.relationships (
            resource_type text COLLATE "C" NOT NULL,
            resource_id text COLLATE "C" NOT NULL,
            relation text COLLATE "C" NOT NULL,
            subject_type text COLLATE "C" NOT NULL,
            subject_id text COLLATE "C" NOT NULL,
            subject_relation text COLLATE "C" NOT NULL,
            caveat_name text COLLATE "C",
            caveat_context text,
            expiration bigint,
            created_revision bigint NOT NULL,
            deleted_revision bigint NOT NULL,
            PRIMARY KEY (resource_type, resource_id, relation,
                         subject_type, subject_id, subject_relation, created_revision)
        )
        """,
        # The reverse index, for ``resources`` and subject filters. It holds the whole key,
        # so that it finds one relationship as exactly as the primary key does, whichever of
        # the two the planner picks.
        """
        CREATE INDEX relationships_by_subject
            ON {s}.relationships (subject_type, subject_id, resource_type, relation,
                                  subject_relation, resource_id)
        """,
        # The change feed: which sets a range of revisions touched (see storage.cache).
        "CREATE INDEX relationships_by_created ON {s}.relationships (created_revision)",
        f"""
        CREATE INDEX relationships_by_deleted ON {{s}}.relationships (deleted_revision)
            WHERE deleted_revision <> {_LIVE}
        """,
        """
        CREATE INDEX relationships_by_expiration
            ON {s}.relationships (expiration) WHERE expiration IS NOT NULL
        """,
        "CREATE TABLE {s}.schemas (revision bigint PRIMARY KEY, text text NOT NULL)",
    ),
)

_KEY_NAMES = (
    "resource_type",
    "resource_id",
    "relation",
    "subject_type",
    "subject_id",
    "subject_relation",
)
_KEY_COLUMNS = ", ".join(_KEY_NAMES)
_ALL_COLUMNS = f"{_KEY_COLUMNS}, caveat_name, caveat_context, expiration"
# Visible to a reader at revision %s (given twice) whose clock reads %s (epoch microseconds).
_VISIBLE = (
    "created_revision <= %s AND deleted_revision > %s AND (expiration IS NULL OR expiration > %s)"
)
# Live at the head, as a write sees it at its ``now`` (%s).
_LIVE_AT_HEAD = f"deleted_revision = {_LIVE} AND (expiration IS NULL OR expiration > %s)"
# ``unnest`` of six text arrays, one per key column, as rows ``k``.
_KEYS = "unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[])"
_KEY_MATCH = " AND ".join(f"{name} = k.{name}" for name in _KEY_NAMES)


def _filter_sql(filter: RelationshipFilter) -> tuple[list[str], list[object]]:
    """SQL conditions (with ``%s`` placeholders) and their parameters selecting ``filter``."""
    return filter_conditions(
        filter, placeholder="%s", prefix_of_length="left(resource_id, %s) = %s"
    )


class _Statements:
    """The SQL of one store, its schema name filled in."""

    def __init__(self, schema: str) -> None:
        s = f'"{schema}"'
        table = f"{s}.relationships"
        self.table = table
        self.subjects = f"""
            SELECT subject_type, subject_id, subject_relation, caveat_name, caveat_context,
                   expiration
            FROM {table}
            WHERE resource_type = %s AND resource_id = %s AND relation = %s AND {_VISIBLE}
        """
        self.subject_sets = f"{self.subjects} AND subject_relation <> '{ELLIPSIS}'"
        self.find = f"""
            SELECT caveat_name, caveat_context, expiration
            FROM {table}
            WHERE resource_type = %s AND resource_id = %s AND relation = %s
                AND subject_type = %s AND subject_id = %s AND subject_relation = %s
                AND {_VISIBLE}
            LIMIT 1
        """
        self.resources = f"""
            SELECT resource_id, subject_relation, caveat_name, caveat_context, expiration
            FROM {table}
            WHERE subject_type = %s AND subject_id = %s AND resource_type = %s AND relation = %s
                AND {_VISIBLE}
        """
        self.resources_with_relation = f"{self.resources} AND subject_relation = %s"
        self.schema = (
            f"SELECT text, revision FROM {s}.schemas WHERE revision <= %s"
            " ORDER BY revision DESC LIMIT 1"
        )
        self.head = f"SELECT revision FROM {s}.head"
        self.lock_head = f"SELECT revision FROM {s}.head FOR UPDATE"
        # Takes the writers' lock and the new revision, and records it, in one statement.
        self.next_revision = f"""
            WITH bumped AS (UPDATE {s}.head SET revision = revision + 1 RETURNING revision)
            INSERT INTO {s}.revisions (revision) SELECT revision FROM bumped
            RETURNING revision
        """
        self.insert_schema = f"INSERT INTO {s}.schemas (revision, text) VALUES (%s, %s)"
        self.changed_sets = f"""
            SELECT resource_type, resource_id, relation
                FROM {table} WHERE created_revision > %s AND created_revision <= %s
            UNION
            SELECT resource_type, resource_id, relation
                FROM {table}
                WHERE deleted_revision > %s AND deleted_revision <= %s
                    AND deleted_revision <> {_LIVE}
            LIMIT {_CHANGED_LIMIT + 1}
        """
        self.live_keys = _per_key(
            table,
            _LIVE_AT_HEAD,
            ", ".join(f"k.{name}" for name in _KEY_NAMES),
        )
        self.retire = f"""
            UPDATE {table} SET deleted_revision = %s
            WHERE ctid = ANY(ARRAY({_per_key(table, f"deleted_revision = {_LIVE}", "r.ctid")}))
        """
        self.drop_own_versions = f"""
            DELETE FROM {table}
            WHERE ctid = ANY(ARRAY({_per_key(table, "created_revision = %s", "r.ctid")}))
        """
        self.insert = f"""
            INSERT INTO {table} ({_ALL_COLUMNS}, created_revision, deleted_revision)
            SELECT *, %s::bigint, {_LIVE}
            FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[],
                        %s::text[], %s::text[], %s::text[], %s::bigint[])
        """
        self.delete_expired = f"DELETE FROM {table} WHERE expiration <= %s"
        # History: the change log and garbage collection.
        self.oldest = f"SELECT value FROM {s}.metadata WHERE key = 'oldest_revision'"
        self.set_oldest = f"""
            INSERT INTO {s}.metadata (key, value) VALUES ('oldest_revision', %s)
            ON CONFLICT (key) DO UPDATE SET value = excluded.value
        """
        self.commits = (
            f"SELECT revision, committed_at FROM {s}.revisions"
            " WHERE revision > %s AND revision <= %s ORDER BY revision"
        )
        self.schemas_since = (
            f"SELECT revision, text FROM {s}.schemas WHERE revision > %s AND revision <= %s"
        )
        self.first_young = f"SELECT min(revision) FROM {s}.revisions WHERE committed_at > %s"
        self.drop_retired = f"""
            DELETE FROM {table} WHERE ctid = ANY(ARRAY(
                SELECT ctid FROM {table}
                WHERE deleted_revision <= %s AND deleted_revision <> {_LIVE} LIMIT %s
            ))
        """
        self.drop_revisions = f"DELETE FROM {s}.revisions WHERE revision < %s"
        self.drop_schemas = f"""
            DELETE FROM {s}.schemas
            WHERE revision < (SELECT max(revision) FROM {s}.schemas WHERE revision <= %s)
        """


def _per_key(table: str, condition: str, columns: str) -> str:
    """``columns`` of the rows matching ``condition`` for each key of a batch (``_KEYS``).

    One index probe per key, whatever the table's statistics say. ``OFFSET 0`` keeps the
    planner from flattening the lateral subquery into a join, which it would plan from
    statistics that a new or freshly loaded table does not have yet, hashing or scanning the
    whole table on every write. Parameters: the six key arrays, then those of ``condition``.
    """
    return f"""
        SELECT {columns} FROM {_KEYS} AS k({_KEY_COLUMNS})
        CROSS JOIN LATERAL (
            SELECT ctid FROM {table} WHERE {_KEY_MATCH} AND {condition} OFFSET 0
        ) AS r
    """


def _key_arrays(keys: Sequence[RelationshipKey]) -> list[list[str]]:
    """``keys`` as six column arrays, the parameters of ``_KEYS``."""
    return [list(column) for column in zip(*keys, strict=True)] if keys else [[]] * 6


class _Turns:
    """First come, first served: which of this process's writers may write now.

    A writer waits here, holding no connection, until those before it are done; only then
    does it take a connection and queue on the database's lock, where at most one writer of
    this process ever waits. (A plain lock would not do: it lets a late writer overtake, so
    that one unlucky writer can use up its whole wait bound.)
    """

    __slots__ = ("_busy", "_lock", "_waiting")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: deque[threading.Event] = deque()
        self._busy = False

    def take(self, timeout: float) -> bool:
        """Wait at most ``timeout`` seconds for this writer's turn; False if it did not come."""
        with self._lock:
            if not self._busy:
                self._busy = True
                return True
            turn = threading.Event()
            self._waiting.append(turn)
        if turn.wait(max(0.0, timeout)):
            return True
        with self._lock:
            if turn.is_set():  # handed over just as the wait ran out: it is ours now
                return True
            self._waiting.remove(turn)
            return False

    def give_back(self) -> None:
        """End the current turn: hand it to the writer waiting longest, if any."""
        with self._lock:
            if self._waiting:
                self._waiting.popleft().set()
            else:
                self._busy = False


class PostgresReader:
    """A view of a ``PostgresStore`` at one revision, judging expiration at its creation time."""

    __slots__ = ("_now", "_revision", "_store")

    def __init__(self, store: PostgresStore, revision: int, now: int) -> None:
        self._store = store
        self._revision = revision
        self._now = now

    @property
    def revision(self) -> int:
        return self._revision

    @property
    def now(self) -> datetime:
        return _from_micros(self._now)

    def subjects(
        self, resource_type: str, resource_id: str, relation: str
    ) -> Sequence[Relationship]:
        store = self._store
        rows = store._fetchall(
            store._sql.subjects,
            (resource_type, resource_id, relation, self._revision, self._revision, self._now),
        )
        resource = (resource_type, resource_id, relation)
        return [_relationship(resource + row) for row in rows]

    def find(
        self,
        resource_type: str,
        resource_id: str,
        relation: str,
        subject_type: str,
        subject_id: str,
        subject_relation: str,
    ) -> Relationship | None:
        key = (resource_type, resource_id, relation, subject_type, subject_id, subject_relation)
        store = self._store
        rows = store._fetchall(store._sql.find, (*key, self._revision, self._revision, self._now))
        return _relationship(key + rows[0]) if rows else None

    def subject_sets(
        self, resource_type: str, resource_id: str, relation: str
    ) -> Sequence[Relationship]:
        store = self._store
        rows = store._fetchall(
            store._sql.subject_sets,
            (resource_type, resource_id, relation, self._revision, self._revision, self._now),
        )
        resource = (resource_type, resource_id, relation)
        return [_relationship(resource + row) for row in rows]

    def resources(
        self,
        subject_type: str,
        subject_id: str,
        subject_relation: str | None,
        resource_type: str,
        relation: str,
    ) -> Sequence[Relationship]:
        store = self._store
        params: tuple[object, ...] = (
            subject_type,
            subject_id,
            resource_type,
            relation,
            self._revision,
            self._revision,
            self._now,
        )
        sql = store._sql.resources
        if subject_relation is not None:
            sql = store._sql.resources_with_relation
            params = (*params, subject_relation)
        rows = store._fetchall(sql, params)
        return [
            _relationship((resource_type, resource_id, relation, subject_type, subject_id, *row))
            for resource_id, *row in rows
        ]

    def query(
        self,
        filter: RelationshipFilter,
        *,
        after: RelationshipKey | None = None,
        limit: int | None = None,
    ) -> Iterator[Relationship]:
        store = self._store
        conditions, filter_params = _filter_sql(filter)
        select = " AND ".join(
            [f"SELECT {_ALL_COLUMNS} FROM {store._sql.table} WHERE {_VISIBLE}", *conditions]
        )
        params = (self._revision, self._revision, self._now, *filter_params)
        fixed = _fixed_key_prefix(filter)
        remaining = limit
        # Page by key instead of holding a cursor open across yields: the caller may write,
        # or never finish iterating, and a connection must go back to the pool between pages.
        while remaining is None or remaining > 0:
            page = _PAGE_SIZE if remaining is None else min(remaining, _PAGE_SIZE)
            sql = select
            after_params: tuple[str, ...] = ()
            if after is not None:
                # Compare only the key columns the filter leaves open, so that the index
                # scan starts at ``after`` instead of filtering from the start.
                k = len(fixed)
                if after[:k] > fixed or (after[:k] == fixed and k == len(after)):
                    return
                if after[:k] == fixed:
                    open_columns = _KEY_NAMES[k:]
                    placeholders = ", ".join(["%s"] * len(open_columns))
                    sql += f" AND ({', '.join(open_columns)}) > ({placeholders})"
                    after_params = after[k:]
            sql += f" ORDER BY {_KEY_COLUMNS} LIMIT %s"
            rows = store._fetchall(sql, (*params, *after_params, page))
            for row in rows:
                yield _relationship(row)
            if len(rows) < page:
                return
            after = rows[-1][:6]
            if remaining is not None:
                remaining -= len(rows)

    def schema(self) -> SchemaRecord | None:
        store = self._store
        rows = store._fetchall(store._sql.schema, (self._revision,))
        return SchemaRecord(text=rows[0][0], revision=rows[0][1]) if rows else None


class PostgresStore:
    """Relationships in a PostgreSQL database, shared by any number of threads and processes.

    ``dsn`` is a libpq connection string or ``postgresql://`` URI. The store's tables live in
    the PostgreSQL schema ``schema``; when it is None, a URI's ``schema`` query parameter
    (Clove's own, removed before connecting: ``postgresql://host/db?schema=tenant_a``) names
    it, else ``clove``. The schema is created if missing.

    ``migrate`` applies pending storage migrations on open (serialized between processes by
    an advisory lock); with False, opening a store that is not fully migrated raises
    StorageError naming ``clove migrate``, for deployments that migrate in a separate step.
    ``gc_window`` is how much history ``collect_garbage`` keeps. ``min_connections`` and
    ``max_connections`` size the readers' connection pool; writers have a pool of their own
    (at most two connections, opened when first needed) and a bulk import a connection of
    its own, so that queued writes never hold a connection a reader needs. ``connect_timeout``
    bounds how long opening and each wait for a pooled connection take. ``lock_timeout``
    bounds how long (seconds) a write waits for the writers before it, in this process and
    in others, before raising WriteTimeoutError.

    Nothing depends on a session outliving a transaction, so the store works through
    PgBouncer in transaction mode. ``prepared_statements`` lets each connection prepare the
    statements it runs often, saving their planning (a good part of a lookup's time on the
    server); leave it off behind a pooler that cannot keep prepared statements (PgBouncer
    before 1.21, or without ``max_prepared_statements``).
    """

    def __init__(
        self,
        dsn: str,
        *,
        schema: str | None = None,
        migrate: bool = True,
        min_connections: int = 1,
        max_connections: int = 10,
        connect_timeout: float = 10.0,
        lock_timeout: float = 60.0,
        prepared_statements: bool = False,
        gc_window: timedelta = DEFAULT_GC_WINDOW,
    ) -> None:
        self._gc_window = gc_window
        self._guard = RetentionGuard(gc_window)
        conninfo, url_schema = _split_schema(dsn)
        if schema is not None and url_schema is not None and schema != url_schema:
            message = f"schema {schema!r} given, but the URL names schema {url_schema!r}"
            raise InvalidInputError(message)
        if schema is None:
            schema = DEFAULT_SCHEMA if url_schema is None else url_schema
        self._schema = schema
        if not _SCHEMA_NAME.fullmatch(self._schema):
            message = (
                f"invalid PostgreSQL schema name {self._schema!r}: use lowercase letters,"
                " digits and underscores, at most 63, not starting with a digit"
            )
            raise InvalidInputError(message)
        self._sql = _Statements(self._schema)
        self._where = _describe(conninfo)
        self._migrate_url = _describe(conninfo, with_user=True)
        self._lock_timeout = lock_timeout
        self._turns = _Turns()
        self._closed = False
        # A revision known to be committed; readers at or below it need no head query.
        self._known_head = 0
        connection_options: dict[str, Any] = {
            "autocommit": True,
            # psycopg's default prepares a statement on its fifth use, per connection.
            "prepare_threshold": 5 if prepared_statements else None,
        }
        self._conninfo = conninfo
        self._connection_options = connection_options
        self._connect_seconds = max(1, round(connect_timeout))
        since = time.monotonic()
        try:
            with psycopg.connect(
                conninfo, connect_timeout=self._connect_seconds, **connection_options
            ) as connection:
                self._store_id, self._known_head = self._open_schema(connection, migrate=migrate)
        except psycopg.Error as error:
            raise StorageError(f"cannot open the store at {self._where}: {error}") from error
        self._guard.saw_head(self._known_head, since)
        self._read_pool: ConnectionPool[_Connection] = ConnectionPool(
            conninfo,
            kwargs=connection_options,
            min_size=min_connections,
            max_size=max(max_connections, min_connections),
            timeout=connect_timeout,
            name=f"clove-{self._schema}-read",
            open=False,
        )
        # Empty until the first write: a store that only reads (a replica's) opens none.
        self._write_pool: ConnectionPool[_Connection] = ConnectionPool(
            conninfo,
            kwargs=connection_options,
            min_size=0,
            max_size=_WRITE_CONNECTIONS,
            timeout=connect_timeout,
            name=f"clove-{self._schema}-write",
            open=False,
        )
        self._read_pool.open(wait=False)
        self._write_pool.open(wait=False)

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def store_id(self) -> str:
        return self._store_id

    @property
    def schema(self) -> str:
        """The PostgreSQL schema holding this store's tables."""
        return self._schema

    def head_revision(self) -> int:
        since = time.monotonic()
        head: int = self._fetchall(self._sql.head, ())[0][0]
        self._known_head = max(self._known_head, head)
        self._guard.saw_head(head, since)
        return head

    def reader(self, revision: int, *, now: datetime | None = None) -> PostgresReader:
        if self._closed:
            raise StorageError("the store is closed")
        instant = _now_micros() if now is None else _micros(now)
        if revision > self._known_head:
            self.head_revision()
        require_revision(revision, self._known_head)
        if not self._guard.retained(revision):
            require_retained(revision, self.oldest_revision(), self._gc_window)
        return PostgresReader(self, revision, instant)

    def write(
        self,
        updates: Sequence[RelationshipUpdate],
        *,
        preconditions: Sequence[Precondition] = (),
        delete_filters: Sequence[RelationshipFilter] = (),
        schema_text: str | None = None,
        now: datetime | None = None,
    ) -> int:
        now_micros = _now_micros() if now is None else _micros(now)
        sql = self._sql
        since = time.monotonic()
        with self._write_transaction() as connection:
            cursor = connection.cursor()
            row = cursor.execute(sql.next_revision).fetchone()
            if row is None:
                raise CloveInternalError(f"the head row of schema {self._schema!r} is missing")
            revision: int = row[0]
            for precondition in preconditions:
                self._check_precondition(cursor, precondition, now_micros)
            for filter in delete_filters:
                conditions, params = _filter_sql(filter)
                where = " AND ".join([_LIVE_AT_HEAD, *conditions])
                cursor.execute(
                    f"UPDATE {sql.table} SET deleted_revision = %s WHERE {where}",
                    (revision, now_micros, *params),
                )
            # Keys this write has touched so far, and whether each is present after it.
            present: dict[RelationshipKey, bool] = {}
            iterator = iter(updates)
            while chunk := list(islice(iterator, _CHUNK_SIZE)):
                self._apply_chunk(cursor, chunk, revision, now_micros, present)
            if schema_text is not None:
                cursor.execute(sql.insert_schema, (revision, schema_text))
        self._known_head = max(self._known_head, revision)
        self._guard.saw_head(revision, since)
        return revision

    def changed_sets(self, after: int, upto: int) -> set[tuple[str, str, str]] | None:
        """The sets written or deleted at revisions in ``(after, upto]`` (a ``ChangeFeed``).

        None when there are too many to list: the caller should forget everything.
        """
        rows = self._fetchall(self._sql.changed_sets, (after, upto, after, upto))
        # Checked after reading: garbage collection may have removed some of the versions.
        if len(rows) > _CHANGED_LIMIT or not self._kept_since(after):
            return None
        return {(row[0], row[1], row[2]) for row in rows}

    def delete_expired(self, now: datetime) -> int:
        """Physically remove every stored version expired at ``now``; return how many."""
        with self._write_transaction() as connection:
            # Take the writers' lock too: deleting rows a write is retiring could deadlock.
            connection.execute(self._sql.lock_head)
            return connection.execute(self._sql.delete_expired, (_micros(now),)).rowcount

    def close(self) -> None:
        """Close the pool; later calls on the store or its readers raise StorageError."""
        if self._closed:
            return
        self._closed = True
        self._read_pool.close()
        self._write_pool.close()

    # --- history: the change log (Watch) and garbage collection ---------------------------

    @property
    def gc_window(self) -> timedelta:
        return self._gc_window

    def oldest_revision(self) -> int:
        rows = self._fetchall(self._sql.oldest, ())
        return int(rows[0][0]) if rows else 0

    def changes(
        self, after: int, upto: int, filter: RelationshipFilter | None = None
    ) -> list[RevisionChanges]:
        if upto > self._known_head:
            self.head_revision()
        require_revision(upto, self._known_head)
        conditions, filter_params = _filter_sql(filter or RelationshipFilter())
        where = "".join(f" AND {condition}" for condition in conditions)
        table = self._sql.table
        sql = f"""
            SELECT {_ALL_COLUMNS}, created_revision, false FROM {table}
                WHERE created_revision > %s AND created_revision <= %s{where}
            UNION ALL
            SELECT {_ALL_COLUMNS}, deleted_revision, true FROM {table}
                WHERE deleted_revision > %s AND deleted_revision <= %s
                    AND deleted_revision <> {_LIVE}{where}
        """
        rows = self._fetchall(sql, (after, upto, *filter_params, after, upto, *filter_params))
        commits = self._fetchall(self._sql.commits, (after, upto))
        schemas: dict[int, str] = dict(self._fetchall(self._sql.schemas_since, (after, upto)))
        # Checked after reading: a collection that ran meanwhile may have removed versions.
        if not self._kept_since(after):
            require_retained(after, self.oldest_revision(), self._gc_window)
        created: dict[int, list[Relationship]] = {}
        retired: dict[int, list[Relationship]] = {}
        for row in rows:
            into = retired if row[10] else created
            into.setdefault(row[9], []).append(_relationship(row[:9]))
        found: list[RevisionChanges] = []
        for revision, committed_at in commits:
            schema_text = schemas.get(revision)
            unchanged = revision not in created and revision not in retired
            if filter is not None and schema_text is None and unchanged:
                continue
            found.append(
                changes_from_versions(
                    revision,
                    committed_at.astimezone(UTC),
                    created.get(revision, ()),
                    retired.get(revision, ()),
                    schema_text,
                )
            )
        return found

    def collect_garbage(self, now: datetime) -> GarbageReport:
        """Forget history older than the window before ``now`` and relationships expired at it.

        The new oldest revision commits first, so that from then on nobody reads below it;
        the versions it makes unreachable are then deleted in batches, each its own short
        transaction, without holding up writers (who only ever touch live versions).
        """
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        sql = self._sql
        with self._write_transaction() as connection:
            locked = connection.execute(sql.lock_head).fetchone()
            head: int = 0 if locked is None else locked[0]
            young = connection.execute(sql.first_young, (now - self._gc_window,)).fetchone()
            previous = connection.execute(sql.oldest).fetchone()
            oldest = head if young is None or young[0] is None else young[0] - 1
            oldest = max(oldest, 0 if previous is None else int(previous[0]))
            connection.execute(sql.set_oldest, (str(oldest),))
            revisions = connection.execute(sql.drop_revisions, (oldest,)).rowcount
            schemas = connection.execute(sql.drop_schemas, (oldest,)).rowcount
        self._guard.forget()
        versions = 0
        while True:
            with self._transaction() as connection:
                batch = connection.execute(sql.drop_retired, (oldest, _GC_BATCH)).rowcount
            versions += batch
            if batch < _GC_BATCH:
                break
        expired = self.delete_expired(now)
        return GarbageReport(
            oldest_revision=oldest,
            versions=versions,
            revisions=revisions,
            schemas=schemas,
            expired=expired,
        )

    def _kept_since(self, revision: int) -> bool:
        """Whether garbage collection has kept every version retired after ``revision``."""
        return self._guard.retained(revision) or revision >= self.oldest_revision()

    # --- connections and transactions ---------------------------------------------------

    def _fetchall(self, sql: str, params: Sequence[object]) -> list[_Row]:
        """Run one read statement on a reader's connection; retry once if that one died.

        A pooled connection can be dead without anyone knowing (the server restarted, a
        proxy dropped it); a read is safe to repeat on a fresh one.
        """
        if self._closed:
            raise StorageError("the store is closed")
        try:
            with self._read_pool.connection() as connection:
                try:
                    return connection.execute(sql, params).fetchall()
                except psycopg.OperationalError:
                    if not connection.broken:
                        raise
            with self._read_pool.connection() as connection:
                return connection.execute(sql, params).fetchall()
        except psycopg.Error as error:
            raise self._storage_error(error) from error

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[_Connection]:
        """A writers' connection inside ``BEGIN`` ... ``COMMIT``, rolled back if anything raises.

        Only for work that takes no writers' lock (garbage collection's batches); the rest
        goes through ``_write_transaction``. PostgreSQL errors leave as StorageError;
        Clove's own errors pass through unchanged.
        """
        if self._closed:
            raise StorageError("the store is closed")
        try:
            with self._write_pool.connection() as connection, connection.transaction():
                yield connection
        except psycopg.Error as error:
            raise self._storage_error(error) from error

    @contextlib.contextmanager
    def _write_transaction(self) -> Iterator[_Connection]:
        """A transaction about to take the writers' lock, within this write's wait bound.

        This process's writers take turns before taking a connection, so that those queued
        behind the lock hold none; the turn lasts until commit, and the database's
        ``lock_timeout`` gets whatever the wait for the turn left of the bound.
        """
        deadline = time.monotonic() + self._lock_timeout
        with self._writers_turn(deadline), self._transaction() as connection:
            connection.execute(self._lock_wait(deadline))
            yield connection

    @contextlib.contextmanager
    def _writers_turn(self, deadline: float) -> Iterator[None]:
        """This process's turn to write, waited for until ``deadline`` (``time.monotonic``)."""
        if self._closed:
            raise StorageError("the store is closed")
        if not self._turns.take(deadline - time.monotonic()):
            raise self._write_timeout()
        try:
            yield
        finally:
            self._turns.give_back()

    def _lock_wait(self, deadline: float) -> str:
        """The setting that bounds the wait for the writers' lock to what is left until then."""
        milliseconds = max(1, round((deadline - time.monotonic()) * 1000))
        return f"SET LOCAL lock_timeout = {milliseconds}"

    @contextlib.contextmanager
    def _own_connection(self) -> Iterator[_Connection]:
        """A connection outside both pools, closed afterwards.

        For bulk imports, which hold a connection for as long as their rows take to arrive.
        """
        if self._closed:
            raise StorageError("the store is closed")
        try:
            with psycopg.connect(
                self._conninfo, connect_timeout=self._connect_seconds, **self._connection_options
            ) as connection:
                yield connection
        except psycopg.Error as error:
            raise self._storage_error(error) from error

    def _open_schema(self, connection: _Connection, *, migrate: bool) -> tuple[str, int]:
        """Create the schema and apply pending migrations; return the store id and head."""
        s = f'"{self._schema}"'
        with connection.transaction():
            encoding = connection.execute("SELECT current_setting('server_encoding')").fetchone()
            if encoding is None or encoding[0] != "UTF8":
                found = None if encoding is None else encoding[0]
                raise StorageError(f"the database must be UTF8-encoded (it is {found})")
            # One process at a time sets up a schema; the others then find it ready.
            connection.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_key(self._schema),))
            exists = connection.execute(
                "SELECT to_regclass(%s) IS NOT NULL", (f"{s}.clove_migrations",)
            ).fetchone()
            if not (exists and exists[0]):
                if not migrate:
                    raise StorageError(
                        f"no Clove store in schema {self._schema!r} at {self._where}:"
                        f" create it with {self._migrate_command()} (or open with migrate=True)"
                    )
                schema_found = connection.execute(
                    "SELECT 1 FROM pg_namespace WHERE nspname = %s", (self._schema,)
                ).fetchone()
                if schema_found is None:
                    connection.execute(f"CREATE SCHEMA {s}")
                connection.execute(
                    f"""
                    CREATE TABLE {s}.clove_migrations (
                        version integer PRIMARY KEY,
                        applied_at timestamptz NOT NULL DEFAULT now()
                    )
                    """
                )
            row = connection.execute(
                f"SELECT coalesce(max(version), 0) FROM {s}.clove_migrations"
            ).fetchone()
            version: int = 0 if row is None else row[0]
            if version > len(_MIGRATIONS):
                raise StorageError(
                    f"schema {self._schema!r} at {self._where} has storage format {version},"
                    f" newer than this version of Clove understands ({len(_MIGRATIONS)})"
                )
            if version < len(_MIGRATIONS) and not migrate:
                raise StorageError(
                    f"schema {self._schema!r} at {self._where} has storage format {version};"
                    f" this version of Clove needs {len(_MIGRATIONS)}:"
                    f" run {self._migrate_command()} (or open with migrate=True)"
                )
            for number, statements in enumerate(_MIGRATIONS[version:], start=version + 1):
                for statement in statements:
                    connection.execute(statement.format(s=s))
                connection.execute(
                    f"INSERT INTO {s}.clove_migrations (version) VALUES (%s)", (number,)
                )
            found_id = connection.execute(
                f"SELECT value FROM {s}.metadata WHERE key = 'store_id'"
            ).fetchone()
            head = connection.execute(self._sql.head).fetchone()
            if found_id is None or head is None:
                raise StorageError(f"schema {self._schema!r} at {self._where} is damaged")
        return found_id[0], head[0]

    def _migrate_command(self) -> str:
        """The command that migrates this store, for messages (no password in it)."""
        url = self._migrate_url
        if self._schema != DEFAULT_SCHEMA:
            url += f"?schema={self._schema}"
        return f"`clove migrate --db {url}`"

    def _check_precondition(
        self, cursor: psycopg.Cursor[_Row], precondition: Precondition, now_micros: int
    ) -> None:
        conditions, params = _filter_sql(precondition.filter)
        where = " AND ".join([_LIVE_AT_HEAD, *conditions])
        found = cursor.execute(
            f"SELECT 1 FROM {self._sql.table} WHERE {where} LIMIT 1", (now_micros, *params)
        ).fetchone()
        if (found is not None) != (precondition.kind is PreconditionKind.MUST_MATCH):
            verb = (
                "matched"
                if precondition.kind is PreconditionKind.MUST_NOT_MATCH
                else "did not match"
            )
            message = f"precondition failed: filter {precondition.filter} {verb} a relationship"
            raise PreconditionFailedError(message)

    def _apply_chunk(
        self,
        cursor: psycopg.Cursor[_Row],
        chunk: list[RelationshipUpdate],
        revision: int,
        now_micros: int,
        present: dict[RelationshipKey, bool],
    ) -> None:
        """Apply ``chunk`` in order at ``revision``, inside the write's transaction.

        ``present`` says, for every key the write touched before this chunk, whether it is
        present now; only keys it never touched need the database to tell whether they exist.
        """
        sql = self._sql
        first_creates: list[RelationshipKey] = []
        seen: set[RelationshipKey] = set()
        for update in chunk:
            key = update.relationship.key
            if key not in present and key not in seen:
                seen.add(key)
                if update.operation is Operation.CREATE:
                    first_creates.append(key)
        live: set[RelationshipKey] = set()
        if first_creates:
            rows = cursor.execute(
                sql.live_keys, (*_key_arrays(first_creates), now_micros)
            ).fetchall()
            live = {(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows}
        # For every key in the chunk: whether it was present before the chunk (None: the
        # write had not touched it), and what it holds after the chunk (None: nothing).
        before: dict[RelationshipKey, bool | None] = {}
        after: dict[RelationshipKey, Relationship | None] = {}
        for update in chunk:
            rel = update.relationship
            key = rel.key
            operation = update.operation
            if key not in before:
                before[key] = present.get(key)
            match operation:
                case Operation.CREATE:
                    if present.get(key, key in live):
                        raise RelationshipExistsError(f"relationship {rel} already exists")
                case Operation.TOUCH | Operation.DELETE:
                    pass
                case _:
                    raise CloveInternalError(f"unknown relationship operation {operation!r}")
            if operation is Operation.DELETE:
                present[key] = False
                after[key] = None
            else:
                present[key] = True
                after[key] = rel
        # Versions this write inserted in an earlier chunk never become visible: drop them.
        own = [key for key, was in before.items() if was]
        if own:
            cursor.execute(sql.drop_own_versions, (*_key_arrays(own), revision))
        untouched = [key for key, was in before.items() if was is None]
        if untouched:
            cursor.execute(sql.retire, (revision, *_key_arrays(untouched)))
        inserted = [rel for rel in after.values() if rel is not None]
        if inserted:
            columns: list[list[Any]] = [[] for _ in range(9)]
            for rel in inserted:
                for column, value in zip(
                    columns,
                    (
                        *rel.key,
                        rel.caveat_name,
                        rel.context_json,
                        None if rel.expiration is None else _micros(rel.expiration),
                    ),
                    strict=True,
                ):
                    column.append(value)
            cursor.execute(sql.insert, (revision, *columns))

    # --- replication (storage.replicas) --------------------------------------------------

    def replay_status(self) -> tuple[int, float]:
        """The head revision this server holds, and how many seconds its replay trails.

        The lag is 0 on a primary and on a standby that has replayed all the WAL it received;
        otherwise it is the age of the last transaction it replayed (so a standby whose
        replay is paused falls further behind by the second while the primary writes).
        """
        row = self._fetchall(self._replay_status_sql, ())[0]
        head: int = row[0]
        self._known_head = max(self._known_head, head)
        return head, float(row[1])

    @functools.cached_property
    def _replay_status_sql(self) -> str:
        return f"""
            SELECT revision,
                CASE WHEN NOT pg_is_in_recovery()
                        OR coalesce(pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn(), false)
                    THEN 0
                    ELSE coalesce(
                        extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0)
                END
            FROM "{self._schema}".head
        """

    # --- bulk import (storage.bulk.BulkImporter) -----------------------------------------

    def import_rows(self, rows: Iterable[ImportRow], *, batch_size: int) -> int:
        """Create every row at one new revision, all or nothing (``storage.bulk``).

        An import of at least ``_LOAD_MIN_ROWS`` rows into a table with no rows at all is
        loaded straight into it and its indexes built afterwards (``_postgres_load``),
        holding the writers' lock, and an exclusive lock on the table, for the whole
        import. Any other import goes through a staging table (``_import_staged``), which
        holds the writers' lock only for its final step.
        """
        iterator = iter(rows)
        first = list(islice(iterator, _LOAD_MIN_ROWS))
        large = len(first) == _LOAD_MIN_ROWS
        stream = _rejoined(first, iterator)
        table = self._sql.table
        with self._own_connection() as connection:
            # The writers' turn, once taken, lasts until the transaction has committed.
            with contextlib.ExitStack() as turn, connection.transaction():
                cursor = connection.cursor()
                if large and table_is_empty(cursor, table):
                    revision = self._take_revision(cursor, turn)
                    if table_is_empty(cursor, table):  # still, now that no writer can add rows
                        number = load_into_empty(cursor, self._schema, table, stream, revision)
                    else:
                        number, _ = self._import_staged(
                            connection, stream, batch_size, revision, turn
                        )
                else:
                    number, revision = self._import_staged(
                        connection, stream, batch_size, None, turn
                    )
            self._known_head = max(self._known_head, revision)
            if number >= _ANALYZE_AFTER_ROWS:
                # Fresh statistics now, rather than plans made for a far smaller table until
                # autovacuum gets round to it (a key-order scan planned as a full sort, say).
                connection.execute(f"ANALYZE {table}")
        return revision

    def _take_revision(self, cursor: psycopg.Cursor[_Row], turn: contextlib.ExitStack) -> int:
        """Take the writers' lock and the next revision, inside the cursor's transaction.

        ``turn`` gets this process's writers' turn, to hold until the transaction ends.
        """
        deadline = time.monotonic() + self._lock_timeout
        turn.enter_context(self._writers_turn(deadline))
        cursor.execute(self._lock_wait(deadline))
        head = cursor.execute(self._sql.next_revision).fetchone()
        if head is None:
            raise CloveInternalError(f"the head row of schema {self._schema!r} is missing")
        revision: int = head[0]
        return revision

    def _import_staged(
        self,
        connection: _Connection,
        rows: Iterable[ImportRow],
        batch_size: int,
        revision: int | None,
        turn: contextlib.ExitStack,
    ) -> tuple[int, int]:
        """Import ``rows`` through a staging table; return their count and the revision.

        The rows stream through ``COPY`` into a temporary staging table (no WAL, no lock on
        the store), ``batch_size`` at a time; only then does the import take the writers'
        lock (unless the caller holds it at ``revision`` already), check the staged keys
        against the live ones in one join, and move everything across with one
        ``INSERT ... SELECT``. A repeated key surfaces as the primary key's unique
        violation, after which a savepoint lets us name the row.
        """
        now_micros = _now_micros()
        cursor = connection.cursor()
        cursor.execute(_CREATE_STAGING)
        with cursor.copy(_COPY_STAGING) as copy:
            number = 0
            iterator = iter(rows)
            while batch := list(islice(iterator, batch_size)):
                for row in batch:
                    number += 1
                    copy.write_row((number, *row))
        # Row counts for the planner: the joins below are only as good as its estimates.
        cursor.execute(f"ANALYZE {_STAGING}")
        if revision is None:
            revision = self._take_revision(cursor, turn)
        clash = cursor.execute(self._import_sql.retire_live, (revision, now_micros)).fetchone()
        if clash is not None:
            staged = self._staged_row(cursor, clash[0])
            message = f"row {clash[0]}: relationship {staged} already exists"
            raise RelationshipExistsError(message)
        try:
            with connection.transaction():
                cursor.execute(self._import_sql.insert, (revision,))
        except psycopg.errors.UniqueViolation:
            repeated = cursor.execute(_FIRST_REPEAT).fetchone()
            if repeated is None:
                raise
            staged = self._staged_row(cursor, repeated[0])
            message = (
                f"row {repeated[0]}: relationship {staged} is repeated (first at row {repeated[1]})"
            )
            raise RelationshipExistsError(message) from None
        return number, revision

    @functools.cached_property
    def _import_sql(self) -> _ImportStatements:
        return _ImportStatements(self._sql.table)

    def _staged_row(self, cursor: psycopg.Cursor[_Row], number: int) -> str:
        row = cursor.execute(
            f"SELECT {_ALL_COLUMNS} FROM {_STAGING} WHERE ordinal = %s", (number,)
        ).fetchone()
        if row is None:
            raise CloveInternalError(f"staged row {number} of an import is missing")
        return describe_row(row)

    def _storage_error(self, error: psycopg.Error) -> StorageError:
        if self._closed:
            return StorageError("the store is closed")
        if isinstance(error, psycopg.errors.LockNotAvailable):
            return self._write_timeout()
        return StorageError(f"PostgreSQL at {self._where}: {error}")

    def _write_timeout(self) -> WriteTimeoutError:
        message = (
            f"timed out after {self._lock_timeout:g}s waiting for another writer at"
            f" {self._where}; nothing was written (retry later, or allow a longer lock_timeout)"
        )
        return WriteTimeoutError(message, timeout=self._lock_timeout)


# Bulk import: the staging table lives in the importing session and dies with its transaction.
_STAGING = "pg_temp.clove_import"
_CREATE_STAGING = f"""
    CREATE TEMPORARY TABLE clove_import (
        ordinal bigint NOT NULL,
        {", ".join(f'{name} text COLLATE "C" NOT NULL' for name in _KEY_NAMES)},
        caveat_name text COLLATE "C",
        caveat_context text,
        expiration bigint
    ) ON COMMIT DROP
"""
# An import this large refreshes the table's statistics when it is done.
_ANALYZE_AFTER_ROWS = 10_000
# An import this large into an empty table is loaded with its indexes built afterwards
# (``_postgres_load``); smaller ones cost little either way and leave readers unblocked.
_LOAD_MIN_ROWS = 5_000


def _rejoined(first: list[ImportRow], rest: Iterator[ImportRow]) -> Iterator[ImportRow]:
    """``first`` then ``rest``, letting go of ``first``'s rows once they are consumed."""
    yield from first
    first.clear()
    yield from rest


_COPY_STAGING = f"COPY {_STAGING} (ordinal, {_ALL_COLUMNS}) FROM STDIN"
# The first staged row whose key an earlier staged row already has, and that earlier row.
_FIRST_REPEAT = f"""
    SELECT ordinal, first FROM (
        SELECT ordinal, min(ordinal) OVER (PARTITION BY {_KEY_COLUMNS}) AS first
        FROM {_STAGING}
    ) AS numbered
    WHERE ordinal <> first ORDER BY ordinal LIMIT 1
"""


class _ImportStatements:
    """The SQL moving a staged import into one store's table."""

    def __init__(self, table: str) -> None:
        match = " AND ".join(f"r.{name} = s.{name}" for name in _KEY_NAMES)
        # Retire the live versions of staged keys (a relationship that expired but was never
        # collected) and return the first staged row whose key is live and unexpired: then
        # the import fails, and the retirement rolls back with it.
        self.retire_live = f"""
            WITH retired AS (
                UPDATE {table} AS r SET deleted_revision = %s
                FROM {_STAGING} AS s
                WHERE {match} AND r.deleted_revision = {_LIVE}
                RETURNING s.ordinal, r.expiration
            )
            SELECT ordinal FROM retired WHERE expiration IS NULL OR expiration > %s
            ORDER BY ordinal LIMIT 1
        """
        self.insert = f"""
            INSERT INTO {table} ({_ALL_COLUMNS}, created_revision, deleted_revision)
            SELECT {_ALL_COLUMNS}, %s::bigint, {_LIVE}
            FROM {_STAGING}
        """


def migration_status(dsn: str, *, schema: str | None = None) -> tuple[int, int]:
    """The storage format of the store at ``dsn`` and the one this Clove needs (0: no store).

    Reads only: nothing is created or changed.
    """
    conninfo, url_schema = _split_schema(dsn)
    name = schema or url_schema or DEFAULT_SCHEMA
    if not _SCHEMA_NAME.fullmatch(name):
        raise InvalidInputError(f"invalid PostgreSQL schema name {name!r}")
    try:
        with psycopg.connect(conninfo, autocommit=True) as connection:
            table = f'"{name}".clove_migrations'
            exists = connection.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()
            version = 0
            if exists and exists[0]:
                row = connection.execute(
                    f"SELECT coalesce(max(version), 0) FROM {table}"
                ).fetchone()
                version = 0 if row is None else int(row[0])
    except psycopg.Error as error:
        raise StorageError(f"cannot read the store at {_describe(conninfo)}: {error}") from error
    return version, len(_MIGRATIONS)


def _split_schema(dsn: str) -> tuple[str, str | None]:
    """``dsn`` without Clove's ``schema`` URI query parameter, and that parameter's value.

    The other parameters are kept byte for byte: libpq, not Python, decodes them.
    """
    if not dsn.startswith(("postgresql://", "postgres://")):
        return dsn, None
    base, question, query = dsn.partition("?")
    if not question:
        return dsn, None
    kept: list[str] = []
    schemas: list[str] = []
    for part in query.split("&"):
        name, _, value = part.partition("=")
        if name == "schema":
            schemas.append(urllib.parse.unquote(value))
        elif part:
            kept.append(part)
    if len(schemas) > 1:
        raise InvalidInputError("more than one schema parameter in the PostgreSQL URL")
    if not schemas:
        return dsn, None
    return (f"{base}?{'&'.join(kept)}" if kept else base), schemas[0]


def _describe(conninfo: str, *, with_user: bool = False) -> str:
    """Where ``conninfo`` points, for messages: never its password."""
    try:
        params = conninfo_to_dict(conninfo)
    except psycopg.Error:
        return "the given PostgreSQL address"
    host = params.get("host") or "localhost"
    port = params.get("port") or 5432
    database = params.get("dbname") or params.get("user") or ""
    user = f"{params['user']}@" if with_user and params.get("user") else ""
    return f"postgresql://{user}{host}:{port}/{database}"


def describe_url(url: str) -> str:
    """Where a Clove PostgreSQL URL points, for messages: never its password."""
    return _describe(_split_schema(url)[0])


def _lock_key(schema: str) -> int:
    """The advisory lock that serializes setting up ``schema`` (a stable signed 64-bit int)."""
    digest = hashlib.blake2b(f"clove-migrate:{schema}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)
