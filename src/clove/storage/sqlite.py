"""The SQLite backend: one WAL-mode file, MVCC through created/deleted revision columns.

Every stored row is one version of a relationship, visible to a reader at revision ``r``
exactly when ``created_revision <= r < deleted_revision``; a write never edits a version in
place, it retires it (``deleted_revision = new revision``) and inserts the replacement. So a
reader needs no open transaction to stay consistent: later writes only add versions above its
revision. Several processes may share the file: writes run in ``BEGIN IMMEDIATE``
transactions (one writer at a time, waiting up to the busy timeout) and take the new revision
as the previous maximum plus one inside the transaction.

Connections are per thread (a ``sqlite3.Connection`` must not be used by two threads at
once) and live as long as the store, so opening a reader costs no I/O.

A file this process may not write (a read-only file, directory or file system) opens for
reads only, and every write then fails with a StorageError saying so. Reading a WAL file
needs its ``-shm`` shared-memory file, which SQLite creates next to it; where it can neither
find nor create one (a read-only directory, or file system), the file is opened
``immutable``, with no locks and no look at a WAL, but only where nobody can change it: on
a read-only file system, or in a directory that grants no one write permission and holds no
``-wal`` (a writer would have to create one). Anywhere else opening it is refused, saying why.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import stat
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Literal

from clove.errors import (
    CloveInternalError,
    PreconditionFailedError,
    RelationshipExistsError,
    StorageError,
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

__all__ = ["SqliteReader", "SqliteStore", "migration_status"]


# How many rows ``query`` fetches per statement; no statement stays open between pages.
_PAGE_SIZE = 500

# Past this size the WAL is started over after a commit (see ``_keep_wal_small``).
_WAL_RESTART_BYTES = 64 * 1024 * 1024
_logger = logging.getLogger(__name__)

# Schema migrations, applied in order on open; ``PRAGMA user_version`` counts those applied.
# Append new steps; never edit a released one.
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        "CREATE TABLE metadata (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
        # One row per successful write; the head is the largest revision.
        "CREATE TABLE revisions (revision INTEGER PRIMARY KEY, committed_at INTEGER NOT NULL)",
        # The primary key doubles as the forward index (resource_type, resource_id, relation)
        # and keeps rows clustered in ``Relationship.key`` order.
        """
        CREATE TABLE relationships (
            resource_type TEXT NOT NULL,
            resource_id TEXT NOT NULL,
            relation TEXT NOT NULL,
            subject_type TEXT NOT NULL,
            subject_id TEXT NOT NULL,
            subject_relation TEXT NOT NULL,
            caveat_name TEXT,
            caveat_context TEXT,
            expiration INTEGER,
            created_revision INTEGER NOT NULL,
            deleted_revision INTEGER NOT NULL,
            PRIMARY KEY (resource_type, resource_id, relation,
                         subject_type, subject_id, subject_relation, created_revision)
        ) WITHOUT ROWID
        """,
        # The reverse index covers what ``resources`` reads, saving a primary-key lookup
        # per row (it halves the lookup's time); it repeats caveat contexts, which are small.
        """
        CREATE INDEX relationships_by_subject
            ON relationships (subject_type, subject_id, resource_type, relation,
                              subject_relation, deleted_revision, expiration,
                              caveat_name, caveat_context)
        """,
        # The change feed: which sets a range of revisions touched (see storage.cache).
        "CREATE INDEX relationships_by_created ON relationships (created_revision)",
        f"""
        CREATE INDEX relationships_by_deleted ON relationships (deleted_revision)
            WHERE deleted_revision != {_LIVE}
        """,
        """
        CREATE INDEX relationships_by_expiration
            ON relationships (expiration) WHERE expiration IS NOT NULL
        """,
        "CREATE TABLE schemas (revision INTEGER PRIMARY KEY, text TEXT NOT NULL)",
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
_KEY_MATCH = (
    "resource_type = ? AND resource_id = ? AND relation = ?"
    " AND subject_type = ? AND subject_id = ? AND subject_relation = ?"
)
# Visible at revision ?1 to a reader whose clock reads ?2 (epoch microseconds).
_VISIBLE = (
    "created_revision <= ?1 AND deleted_revision > ?1 AND (expiration IS NULL OR expiration > ?2)"
)

# The lookups select only what the caller does not already know: decoding text that was
# bound as a parameter costs more per row than putting the tuple back together in Python.
_SUBJECTS_SQL = f"""
    SELECT subject_type, subject_id, subject_relation, caveat_name, caveat_context, expiration
    FROM relationships
    WHERE resource_type = ?3 AND resource_id = ?4 AND relation = ?5 AND {_VISIBLE}
"""
_SUBJECT_SETS_SQL = f"{_SUBJECTS_SQL} AND subject_relation != '{ELLIPSIS}'"
_FIND_SQL = f"""
    SELECT caveat_name, caveat_context, expiration
    FROM relationships
    WHERE resource_type = ?3 AND resource_id = ?4 AND relation = ?5
        AND subject_type = ?6 AND subject_id = ?7 AND subject_relation = ?8 AND {_VISIBLE}
    LIMIT 1
"""
_RESOURCES_SQL = f"""
    SELECT resource_id, subject_relation, caveat_name, caveat_context, expiration
    FROM relationships INDEXED BY relationships_by_subject
    WHERE subject_type = ?3 AND subject_id = ?4 AND resource_type = ?5 AND relation = ?6
        AND {_VISIBLE}
"""
_RESOURCES_WITH_RELATION_SQL = f"{_RESOURCES_SQL} AND subject_relation = ?7"
_SCHEMA_SQL = (
    "SELECT text, revision FROM schemas WHERE revision <= ? ORDER BY revision DESC LIMIT 1"
)
_CHANGED_SETS_SQL = f"""
    SELECT resource_type, resource_id, relation
        FROM relationships INDEXED BY relationships_by_created
        WHERE created_revision > ?1 AND created_revision <= ?2
    UNION
    SELECT resource_type, resource_id, relation
        FROM relationships INDEXED BY relationships_by_deleted
        WHERE deleted_revision > ?1 AND deleted_revision <= ?2 AND deleted_revision != {_LIVE}
    LIMIT {_CHANGED_LIMIT + 1}
"""
_HEAD_SQL = "SELECT coalesce(max(revision), 0) FROM revisions"
_OLDEST_SQL = "SELECT value FROM metadata WHERE key = 'oldest_revision'"
_COMMITS_SQL = (
    "SELECT revision, committed_at FROM revisions WHERE revision > ? AND revision <= ?"
    " ORDER BY revision"
)
# Garbage collection deletes old versions this many per transaction.
_GC_BATCH = 10_000
_DROP_RETIRED_SQL = f"""
    DELETE FROM relationships
    WHERE ({_KEY_COLUMNS}, created_revision) IN (
        SELECT {_KEY_COLUMNS}, created_revision
        FROM relationships INDEXED BY relationships_by_deleted
        WHERE deleted_revision <= ? AND deleted_revision != {_LIVE} LIMIT ?
    )
"""
_SCHEMAS_SINCE_SQL = "SELECT revision, text FROM schemas WHERE revision > ? AND revision <= ?"
_LIVE_EXPIRATION_SQL = (
    f"SELECT expiration FROM relationships WHERE {_KEY_MATCH} AND deleted_revision = {_LIVE}"
)
_RETIRE_SQL = (
    f"UPDATE relationships SET deleted_revision = ? WHERE {_KEY_MATCH}"
    f" AND deleted_revision = {_LIVE}"
)
_DROP_OWN_VERSION_SQL = f"DELETE FROM relationships WHERE {_KEY_MATCH} AND created_revision = ?"
_INSERT_SQL = f"""
    INSERT INTO relationships ({_ALL_COLUMNS}, created_revision, deleted_revision)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, {_LIVE})
"""


def _table_for(filter: RelationshipFilter) -> str:
    """``relationships``, naming the index to use when SQLite would pick the wrong one.

    Without statistics SQLite prefers the primary key (the forward index) whenever the
    resource type is fixed, even when the subject index pins far fewer rows.
    """
    if filter.resource_id is None and filter.subject_type is not None and filter.subject_id:
        return "relationships INDEXED BY relationships_by_subject"
    return "relationships"


def _filter_sql(filter: RelationshipFilter) -> tuple[list[str], list[object]]:
    """SQL conditions (with ``?`` placeholders) and their parameters selecting ``filter``."""
    return filter_conditions(
        filter, placeholder="?", prefix_of_length="substr(resource_id, 1, ?) = ?"
    )


class SqliteReader:
    """A view of a ``SqliteStore`` at one revision, judging expiration at its creation time."""

    __slots__ = ("_now", "_revision", "_store")

    def __init__(self, store: SqliteStore, revision: int, now: int) -> None:
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
        params = (self._revision, self._now, resource_type, resource_id, relation)
        try:
            rows = self._store._cursor().execute(_SUBJECTS_SQL, params).fetchall()
        except sqlite3.Error as error:
            raise _storage_error(error) from error
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
        params = (
            self._revision,
            self._now,
            resource_type,
            resource_id,
            relation,
            subject_type,
            subject_id,
            subject_relation,
        )
        try:
            row = self._store._cursor().execute(_FIND_SQL, params).fetchone()
        except sqlite3.Error as error:
            raise _storage_error(error) from error
        return None if row is None else _relationship(params[2:] + row)

    def subject_sets(
        self, resource_type: str, resource_id: str, relation: str
    ) -> Sequence[Relationship]:
        params = (self._revision, self._now, resource_type, resource_id, relation)
        try:
            rows = self._store._cursor().execute(_SUBJECT_SETS_SQL, params).fetchall()
        except sqlite3.Error as error:
            raise _storage_error(error) from error
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
        params: tuple[object, ...] = (
            self._revision,
            self._now,
            subject_type,
            subject_id,
            resource_type,
            relation,
        )
        sql = _RESOURCES_SQL
        if subject_relation is not None:
            sql = _RESOURCES_WITH_RELATION_SQL
            params = (*params, subject_relation)
        try:
            rows = self._store._cursor().execute(sql, params).fetchall()
        except sqlite3.Error as error:
            raise _storage_error(error) from error
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
        conditions, filter_params = _filter_sql(filter)
        select = " AND ".join(
            [
                f"SELECT {_ALL_COLUMNS} FROM {_table_for(filter)}"
                " WHERE created_revision <= ? AND deleted_revision > ?"
                " AND (expiration IS NULL OR expiration > ?)",
                *conditions,
            ]
        )
        params = (self._revision, self._revision, self._now, *filter_params)
        fixed = _fixed_key_prefix(filter)
        remaining = limit
        # Page by key instead of holding one statement open across yields: the caller may
        # write, or never finish iterating, and an open statement would pin a WAL snapshot.
        while remaining is None or remaining > 0:
            page = _PAGE_SIZE if remaining is None else min(remaining, _PAGE_SIZE)
            sql = select
            after_params: tuple[str, ...] = ()
            if after is not None:
                # Compare only the key columns the filter leaves open, so that SQLite can
                # seek to ``after`` in the index instead of scanning from the start.
                k = len(fixed)
                if after[:k] > fixed or (after[:k] == fixed and k == len(after)):
                    return
                if after[:k] == fixed:
                    open_columns = _KEY_NAMES[k:]
                    placeholders = ", ".join("?" * len(open_columns))
                    sql += f" AND ({', '.join(open_columns)}) > ({placeholders})"
                    after_params = after[k:]
            sql += f" ORDER BY {_KEY_COLUMNS} LIMIT ?"
            try:
                connection = self._store._connection()
                rows = connection.execute(sql, (*params, *after_params, page)).fetchall()
            except sqlite3.Error as error:
                raise _storage_error(error) from error
            for row in rows:
                yield _relationship(row)
            if len(rows) < page:
                return
            after = rows[-1][:6]
            if remaining is not None:
                remaining -= len(rows)

    def schema(self) -> SchemaRecord | None:
        try:
            row = self._store._cursor().execute(_SCHEMA_SQL, (self._revision,)).fetchone()
        except sqlite3.Error as error:
            raise _storage_error(error) from error
        return None if row is None else SchemaRecord(text=row[0], revision=row[1])


class SqliteStore:
    """Relationships in one SQLite file, shareable by several threads and processes.

    ``busy_timeout`` is how long (seconds) a write waits for another writer before raising
    StorageError. ``synchronous`` "full" makes every committed write survive power loss;
    "normal" is faster and still never corrupts the file, but may lose the last writes when
    the machine (not just the process) dies.

    ``migrate`` applies pending storage migrations on open; with False, opening a file that
    is not fully migrated (or not a store yet) raises StorageError naming ``clove migrate``.
    ``gc_window`` is how much history ``collect_garbage`` keeps (see ``storage.history``).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout: float = 5.0,
        synchronous: Literal["full", "normal"] = "full",
        migrate: bool = True,
        gc_window: timedelta = DEFAULT_GC_WINDOW,
    ) -> None:
        self._path = os.fspath(path)
        self._migrate = migrate
        self._gc_window = gc_window
        self._guard = RetentionGuard(gc_window)
        if self._path in ("", ":memory:"):
            raise StorageError("SqliteStore needs a file path; use MemoryStore for memory")
        if not migrate and not os.path.exists(self._path):
            message = (
                f"no Clove store at {self._path!r}: create it with"
                f" `clove migrate --db sqlite://{self._path}` (or open it with migrate=True)"
            )
            raise StorageError(message)
        self._busy_timeout = busy_timeout
        self._synchronous = synchronous.upper()
        # Why this process may not write the file (None: it may), and the URI that opens it
        # for reads only (None: open it by path, for reads and writes).
        self._read_only = _why_read_only(self._path)
        self._read_only_uri: str | None = None
        self._closed = False
        self._local = threading.local()
        self._connections: dict[threading.Thread, sqlite3.Connection] = {}
        self._connections_lock = threading.Lock()
        # Serializes this process's writers here rather than in SQLite's busy-wait loop.
        self._write_lock = threading.Lock()
        # A revision known to be committed; readers at or below it need no head query.
        self._known_head = 0
        since = time.monotonic()
        try:
            self._store_id = self._open_file()
        except BaseException:
            self.close()
            raise
        self._guard.saw_head(self._known_head, since)

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def store_id(self) -> str:
        return self._store_id

    @property
    def path(self) -> str:
        return self._path

    @property
    def read_only(self) -> bool:
        """Whether the file opened for reads only (see the module's docstring)."""
        return self._read_only is not None

    def head_revision(self) -> int:
        since = time.monotonic()
        try:
            head: int = self._cursor().execute(_HEAD_SQL).fetchone()[0]
        except sqlite3.Error as error:
            raise _storage_error(error) from error
        self._known_head = max(self._known_head, head)
        self._guard.saw_head(head, since)
        return head

    def reader(self, revision: int, *, now: datetime | None = None) -> SqliteReader:
        if self._closed:
            raise StorageError("the store is closed")
        instant = _now_micros() if now is None else _micros(now)
        if revision > self._known_head:
            self.head_revision()
        require_revision(revision, self._known_head)
        if not self._guard.retained(revision):
            require_retained(revision, self.oldest_revision(), self._gc_window)
        return SqliteReader(self, revision, instant)

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
        since = time.monotonic()
        with self._write_lock:
            with self._transaction() as connection:
                revision: int = connection.execute(_HEAD_SQL).fetchone()[0] + 1
                for precondition in preconditions:
                    _check_precondition(connection, precondition, now_micros)
                for filter in delete_filters:
                    conditions, params = _filter_sql(filter)
                    where = " AND ".join(
                        [
                            f"deleted_revision = {_LIVE}",
                            "(expiration IS NULL OR expiration > ?)",
                            *conditions,
                        ]
                    )
                    sql = f"UPDATE {_table_for(filter)} SET deleted_revision = ? WHERE {where}"
                    connection.execute(sql, (revision, now_micros, *params))
                _apply_updates(connection, updates, revision, now_micros)
                if schema_text is not None:
                    connection.execute(
                        "INSERT INTO schemas (revision, text) VALUES (?, ?)",
                        (revision, schema_text),
                    )
                connection.execute(
                    "INSERT INTO revisions (revision, committed_at) VALUES (?, ?)",
                    (revision, _now_micros()),
                )
            self._keep_wal_small(connection)
        self._known_head = max(self._known_head, revision)
        self._guard.saw_head(revision, since)
        return revision

    def _keep_wal_small(self, connection: sqlite3.Connection) -> None:
        """Start the WAL over once it passes ``_WAL_RESTART_BYTES`` (called after a commit).

        SQLite's automatic checkpoints copy the WAL into the database but can never start it
        over while readers keep arriving (each new reader may need its last frames), so under
        steady reads and writes it grows without bound, and every read slows with it. A
        RESTART checkpoint waits (up to the busy timeout) for the readers of old frames to
        finish; new readers read the database file meanwhile, so none is blocked for long.
        """
        try:
            size = os.path.getsize(self._path + "-wal")
        except OSError:
            return
        if size > _WAL_RESTART_BYTES:
            try:
                connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            except sqlite3.Error as error:  # the commit stands; the next one tries again
                _logger.warning("could not restart the WAL of %s: %s", self._path, error)

    def changed_sets(self, after: int, upto: int) -> set[tuple[str, str, str]] | None:
        """The sets written or deleted at revisions in ``(after, upto]`` (a ``ChangeFeed``).

        None when there are too many to list: the caller should forget everything.
        """
        try:
            rows = self._connection().execute(_CHANGED_SETS_SQL, (after, upto)).fetchall()
        except sqlite3.Error as error:
            raise _storage_error(error) from error
        # Checked after reading: garbage collection may have removed some of the versions.
        if len(rows) > _CHANGED_LIMIT or not self._kept_since(after):
            return None
        return {(row[0], row[1], row[2]) for row in rows}

    def delete_expired(self, now: datetime) -> int:
        """Physically remove every stored version expired at ``now``; return how many."""
        with self._write_lock, self._transaction() as connection:
            cursor = connection.execute(
                "DELETE FROM relationships WHERE expiration <= ?", (_micros(now),)
            )
            return cursor.rowcount

    def close(self) -> None:
        """Close every connection; later calls on the store or its readers raise StorageError."""
        with self._write_lock, self._connections_lock:
            self._closed = True
            for connection in self._connections.values():
                connection.close()
            self._connections.clear()

    # --- bulk import (storage.bulk.BulkImporter) -----------------------------------------

    def import_rows(self, rows: Iterable[ImportRow], *, batch_size: int) -> int:
        """Create every row at one new revision, all or nothing (``storage.bulk``).

        The rows go first into a temporary staging table of this thread's connection, in a
        transaction of their own that locks nothing in the store; only the final step (check
        the staged keys against the live ones, move them across) holds the write lock.
        """
        self._require_writable()
        connection = self._connection()
        try:
            connection.execute(_CREATE_STAGING)
            connection.execute(f"DELETE FROM {_STAGING}")
            number = 0
            with _Staging(connection):
                iterator = iter(rows)
                while batch := list(islice(iterator, batch_size)):
                    start = number + 1
                    number += len(batch)
                    connection.executemany(
                        _STAGE_SQL, [(n, *row) for n, row in enumerate(batch, start=start)]
                    )
            # A unique index is the cheapest way to find a repeated key, and the join below
            # needs an index on the staged keys anyway.
            try:
                connection.execute(_STAGING_INDEX_SQL)
            except sqlite3.IntegrityError:
                first, repeated = connection.execute(_FIRST_REPEAT_SQL).fetchone()
                message = (
                    f"row {repeated}: relationship {_staged_row(connection, repeated)}"
                    f" is repeated (first at row {first})"
                )
                raise RelationshipExistsError(message) from None
            now_micros = _now_micros()
            with self._write_lock, self._transaction() as transaction:
                revision: int = transaction.execute(_HEAD_SQL).fetchone()[0] + 1
                expired: list[RelationshipKey] = []
                for number_found, expiration, *key in transaction.execute(_STAGED_LIVE_SQL):
                    if expiration is None or expiration > now_micros:
                        staged = _staged_row(transaction, number_found)
                        message = f"row {number_found}: relationship {staged} already exists"
                        raise RelationshipExistsError(message)
                    expired.append((key[0], key[1], key[2], key[3], key[4], key[5]))
                transaction.executemany(_RETIRE_SQL, [(revision, *key) for key in expired])
                transaction.execute(_INSERT_STAGED_SQL, (revision,))
                transaction.execute(
                    "INSERT INTO revisions (revision, committed_at) VALUES (?, ?)",
                    (revision, _now_micros()),
                )
        except sqlite3.Error as error:
            raise _storage_error(error) from error
        finally:
            with contextlib.suppress(sqlite3.Error):
                connection.execute(f"DROP TABLE IF EXISTS {_STAGING}")
        self._known_head = max(self._known_head, revision)
        return revision

    # --- history: the change log (Watch) and garbage collection ---------------------------

    @property
    def gc_window(self) -> timedelta:
        return self._gc_window

    def oldest_revision(self) -> int:
        try:
            row = self._cursor().execute(_OLDEST_SQL).fetchone()
        except sqlite3.Error as error:
            raise _storage_error(error) from error
        return 0 if row is None else int(row[0])

    def changes(
        self, after: int, upto: int, filter: RelationshipFilter | None = None
    ) -> list[RevisionChanges]:
        if upto > self._known_head:
            self.head_revision()
        require_revision(upto, self._known_head)
        conditions, filter_params = _filter_sql(filter or RelationshipFilter())
        where = "".join(f" AND {condition}" for condition in conditions)
        sql = f"""
            SELECT {_ALL_COLUMNS}, created_revision, 0
                FROM relationships INDEXED BY relationships_by_created
                WHERE created_revision > ? AND created_revision <= ?{where}
            UNION ALL
            SELECT {_ALL_COLUMNS}, deleted_revision, 1
                FROM relationships INDEXED BY relationships_by_deleted
                WHERE deleted_revision > ? AND deleted_revision <= ?
                    AND deleted_revision != {_LIVE}{where}
        """
        params = (after, upto, *filter_params, after, upto, *filter_params)
        try:
            connection = self._connection()
            rows = connection.execute(sql, params).fetchall()
            commits = connection.execute(_COMMITS_SQL, (after, upto)).fetchall()
            schemas = dict(connection.execute(_SCHEMAS_SINCE_SQL, (after, upto)).fetchall())
        except sqlite3.Error as error:
            raise _storage_error(error) from error
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
                    _datetime(committed_at),
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
        transaction, so that writers waiting for the file get their turn in between.
        """
        before = _micros(now - self._gc_window)
        with self._write_lock, self._transaction() as connection:
            row = connection.execute(
                "SELECT min(revision) FROM revisions WHERE committed_at > ?", (before,)
            ).fetchone()
            head: int = connection.execute(_HEAD_SQL).fetchone()[0]
            previous = connection.execute(_OLDEST_SQL).fetchone()
            oldest = head if row[0] is None else row[0] - 1
            oldest = max(oldest, 0 if previous is None else int(previous[0]))
            connection.execute(
                "INSERT OR REPLACE INTO metadata (key, value) VALUES ('oldest_revision', ?)",
                (str(oldest),),
            )
            # The head row stays: the head is the largest revision recorded.
            revisions = connection.execute(
                "DELETE FROM revisions WHERE revision < ?", (oldest,)
            ).rowcount
            schemas = connection.execute(
                "DELETE FROM schemas WHERE revision <"
                " (SELECT max(revision) FROM schemas WHERE revision <= ?)",
                (oldest,),
            ).rowcount
        self._guard.forget()
        versions = 0
        while True:
            with self._write_lock, self._transaction() as connection:
                batch = connection.execute(_DROP_RETIRED_SQL, (oldest, _GC_BATCH)).rowcount
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

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use."""
        if self._closed:
            raise StorageError("the store is closed")
        try:
            connection: sqlite3.Connection = self._local.connection
        except AttributeError:
            connection = self._connect_thread()
        return connection

    def _cursor(self) -> sqlite3.Cursor:
        """This thread's cursor for one-statement lookups.

        Reusing it saves creating a cursor per call, a good part of a short lookup's cost.
        Every use must run its statement to the end (``fetchall``, or ``fetchone`` of a query
        that has at most one row): a statement left unfinished keeps the connection on its
        snapshot, hiding later commits from this thread's next readers.
        """
        if self._closed:
            raise StorageError("the store is closed")
        try:
            cursor: sqlite3.Cursor = self._local.cursor
        except AttributeError:
            self._connect_thread()
            cursor = self._local.cursor
        return cursor

    def _connect_thread(self) -> sqlite3.Connection:
        with self._connections_lock:
            if self._closed:
                raise StorageError("the store is closed")
            # Threads that have ended leave their connection behind; close those now.
            for thread in [thread for thread in self._connections if not thread.is_alive()]:
                self._connections.pop(thread).close()
            try:
                connection = self._connect()
            except sqlite3.Error as error:
                raise _storage_error(error, f"cannot open {self._path!r}") from error
            self._connections[threading.current_thread()] = connection
        self._local.connection = connection
        self._local.cursor = connection.cursor()
        return connection

    def _connect(self) -> sqlite3.Connection:
        # check_same_thread is off only so that close() may close other threads'
        # connections; otherwise each connection is used by the thread that opened it.
        uri = self._read_only_uri
        connection = sqlite3.connect(
            self._path if uri is None else uri,
            timeout=self._busy_timeout,
            isolation_level=None,
            check_same_thread=False,
            cached_statements=256,
            uri=uri is not None,
        )
        try:
            connection.execute(f"PRAGMA synchronous = {self._synchronous}")
        except BaseException:
            connection.close()
            raise
        return connection

    def _transaction(self) -> _Transaction:
        self._require_writable()
        return _Transaction(self._connection())

    def _require_writable(self) -> None:
        if self._read_only is not None:
            raise StorageError(
                f"cannot write {self._path!r}: it is read-only ({self._read_only}), so it was"
                " opened for reads only"
            )

    def _open_file(self) -> str:
        """Switch the file to WAL, apply pending migrations and return the store id."""
        if self._read_only is not None:
            return self._open_read_only(self._read_only)
        connection = self._connection()
        deadline = time.monotonic() + self._busy_timeout
        while True:
            # Switching to WAL needs a moment alone with the file, and the busy handler
            # does not cover it: retry while another process is opening the same file.
            try:
                mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                break
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise _storage_error(error, f"cannot open {self._path!r}") from error
                time.sleep(0.01)
            except sqlite3.Error as error:
                raise _storage_error(error, f"cannot open {self._path!r}") from error
        if mode != "wal":
            raise StorageError(f"cannot switch {self._path!r} to WAL mode (it is in {mode!r})")
        with self._transaction() as connection:
            version: int = connection.execute("PRAGMA user_version").fetchone()[0]
            if version > len(_MIGRATIONS):
                message = (
                    f"{self._path!r} has storage format {version}, newer than this version of "
                    f"Clove understands ({len(_MIGRATIONS)})"
                )
                raise StorageError(message)
            if version < len(_MIGRATIONS) and not self._migrate:
                found = "is not a Clove store" if version == 0 else f"has storage format {version}"
                message = (
                    f"{self._path!r} {found}; this version of Clove needs format"
                    f" {len(_MIGRATIONS)}: run `clove migrate --db sqlite://{self._path}`"
                    " (or open it with migrate=True)"
                )
                raise StorageError(message)
            for statements in _MIGRATIONS[version:]:
                for statement in statements:
                    connection.execute(statement)
            if version < len(_MIGRATIONS):
                connection.execute(f"PRAGMA user_version = {len(_MIGRATIONS)}")
            connection.execute(
                "INSERT OR IGNORE INTO metadata (key, value) VALUES ('store_id', ?)",
                (f"sqlite-{uuid.uuid4().hex}",),
            )
            store_id: str = connection.execute(
                "SELECT value FROM metadata WHERE key = 'store_id'"
            ).fetchone()[0]
            self._known_head = connection.execute(_HEAD_SQL).fetchone()[0]
        return store_id

    def _open_read_only(self, why: str) -> str:
        """Open a file this process may not write, for reads; return the store id.

        ``mode=ro`` first: it reads a WAL (and sees other processes' commits) wherever the
        ``-shm`` file exists or can be created. Failing that, ``immutable``, where allowed.
        """
        base = Path(self._path).resolve().as_uri()
        self._read_only_uri = f"{base}?mode=ro"
        try:
            return self._read_store_id()
        except (sqlite3.Error, StorageError) as error:
            self._forget_connection()
            # Opening the connection wraps SQLite's error; reading through it does not.
            cause = error.__cause__ if isinstance(error, StorageError) else error
            if not isinstance(cause, sqlite3.Error) or not _cannot_share_memory(cause):
                if isinstance(error, StorageError):
                    raise
                raise _storage_error(error, f"cannot read {self._path!r}") from error
            refused = _immutable_refused(self._path)
            if refused is not None:
                message = (
                    f"cannot read {self._path!r}: it is read-only ({why}) and SQLite can"
                    f" neither find nor create the {self._path}-shm file it needs to read a"
                    f" WAL file; nor may it read the file as unchanging, since {refused}."
                    " Make the directory writable; or, once nothing writes the file any more,"
                    " mount it read-only or remove every write permission from its directory"
                    " (chmod a-w)"
                )
                raise StorageError(message) from error
        self._read_only = f"{why}; opened immutable, as nobody can change it"
        self._read_only_uri = f"{base}?mode=ro&immutable=1"
        try:
            return self._read_store_id()
        except sqlite3.Error as error:
            raise _storage_error(error, f"cannot read {self._path!r}") from error

    def _read_store_id(self) -> str:
        """The store id and head of a fully migrated file, read in one snapshot."""
        connection = self._connection()
        connection.execute("BEGIN")  # deferred: it reads, and locks nothing
        try:
            version: int = connection.execute("PRAGMA user_version").fetchone()[0]
            if version != len(_MIGRATIONS):
                found = "is not a Clove store" if version == 0 else f"has storage format {version}"
                message = (
                    f"{self._path!r} {found} and is read-only ({self._read_only}); this"
                    f" version of Clove needs format {len(_MIGRATIONS)}: run"
                    f" `clove migrate --db sqlite://{self._path}` where it can be written"
                )
                raise StorageError(message)
            row = connection.execute("SELECT value FROM metadata WHERE key = 'store_id'").fetchone()
            if row is None:
                raise StorageError(f"{self._path!r} is damaged: it has no store id")
            self._known_head = connection.execute(_HEAD_SQL).fetchone()[0]
        finally:
            if connection.in_transaction:
                connection.execute("COMMIT")
        store_id: str = row[0]
        return store_id

    def _forget_connection(self) -> None:
        """Close this thread's connection, so that the next use opens a new one."""
        with self._connections_lock:
            connection = self._connections.pop(threading.current_thread(), None)
        if connection is not None:
            connection.close()
        with contextlib.suppress(AttributeError):
            del self._local.connection, self._local.cursor


def _why_read_only(path: str) -> str | None:
    """Why this process may not write the SQLite file at ``path``; None if it may (or if
    there is no file yet)."""
    if not os.path.exists(path):
        return None
    directory = os.path.dirname(os.path.abspath(path))
    if _on_read_only_file_system(directory):
        return "on a read-only file system"
    if not os.access(path, os.W_OK):
        return "no write permission on the file"
    if not os.access(directory, os.W_OK):
        # SQLite must create the -wal and -shm files next to the database to write it.
        return "no write permission on its directory"
    return None


def _on_read_only_file_system(directory: str) -> bool:
    try:
        return bool(os.statvfs(directory).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _immutable_refused(path: str) -> str | None:
    """Why the file at ``path`` must not be read ``immutable``; None when nobody can change it.

    ``immutable`` reads only the database file, without locks: right only if no commit
    lies in a WAL and none can be made. A WAL writer needs a ``-wal`` file next to the
    database, so where none exists and none can be created, no writer can start. (The
    superuser ignores permissions, and a directory's owner may grant them back; a read-only
    file system stops both.)
    """
    wal = f"{path}-wal"
    with contextlib.suppress(OSError):
        if os.path.getsize(wal) > 0:
            return f"{wal} holds commits that only a reader with a -shm file can see"
    directory = os.path.dirname(os.path.abspath(path))
    if _on_read_only_file_system(directory):
        return None
    try:
        mode = os.stat(directory).st_mode
    except OSError as error:
        return f"its directory cannot be examined ({error.strerror})"
    if mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        return "its directory grants someone write permission, so others may still write it"
    return None


def _cannot_share_memory(error: sqlite3.Error) -> bool:
    """Whether ``error`` is SQLite failing to find or create a WAL file's ``-shm`` file."""
    name = getattr(error, "sqlite_errorname", "")
    return name in ("SQLITE_CANTOPEN", "SQLITE_READONLY_DIRECTORY", "SQLITE_READONLY_CANTINIT")


# Bulk import: a staging table in the connection's temporary database.
_STAGING = "temp.clove_import"
_CREATE_STAGING = f"""
    CREATE TEMPORARY TABLE IF NOT EXISTS clove_import (
        ordinal INTEGER PRIMARY KEY, {_ALL_COLUMNS}
    )
"""
_STAGE_SQL = f"INSERT INTO {_STAGING} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_STAGING_INDEX_SQL = f"CREATE UNIQUE INDEX temp.clove_import_keys ON clove_import ({_KEY_COLUMNS})"
_FIRST_REPEAT_SQL = f"""
    SELECT min(a.ordinal), b.ordinal FROM {_STAGING} AS a JOIN {_STAGING} AS b
        USING ({_KEY_COLUMNS})
    WHERE a.ordinal < b.ordinal
    GROUP BY b.ordinal ORDER BY b.ordinal LIMIT 1
"""
# Staged rows whose key has a live version (expired or not), smallest row first.
_STAGED_LIVE_SQL = f"""
    SELECT s.ordinal, r.expiration, {", ".join(f"r.{name}" for name in _KEY_NAMES)}
    FROM {_STAGING} AS s JOIN relationships AS r USING ({_KEY_COLUMNS})
    WHERE r.deleted_revision = {_LIVE}
    ORDER BY s.ordinal
"""
_INSERT_STAGED_SQL = f"""
    INSERT INTO relationships ({_ALL_COLUMNS}, created_revision, deleted_revision)
    SELECT {_ALL_COLUMNS}, ?, {_LIVE} FROM {_STAGING}
"""


def _staged_row(connection: sqlite3.Connection, number: int) -> str:
    row = connection.execute(
        f"SELECT {_ALL_COLUMNS} FROM {_STAGING} WHERE ordinal = ?", (number,)
    ).fetchone()
    return describe_row(row)


class _Staging:
    """A plain ``BEGIN`` ... ``COMMIT`` around staging: it writes only the temporary
    database, so it takes no lock that would hold off the store's other writers."""

    __slots__ = ("_connection",)

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def __enter__(self) -> None:
        self._connection.execute("BEGIN")

    def __exit__(self, exc_type: type[BaseException] | None, exc: object, tb: object) -> None:
        if exc_type is None:
            self._connection.execute("COMMIT")
        elif self._connection.in_transaction:
            self._connection.execute("ROLLBACK")


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back if anything raises.

    SQLite errors leave as StorageError; Clove's own errors pass through unchanged.
    """

    __slots__ = ("_connection",)

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def __enter__(self) -> sqlite3.Connection:
        try:
            self._connection.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            raise _storage_error(error) from error
        return self._connection

    def __exit__(self, exc_type: type[BaseException] | None, exc: object, tb: object) -> None:
        if exc_type is None:
            try:
                self._connection.execute("COMMIT")
            except sqlite3.Error as error:
                self._roll_back()
                raise _storage_error(error) from error
            return
        self._roll_back()
        if isinstance(exc, sqlite3.Error):
            raise _storage_error(exc) from exc

    def _roll_back(self) -> None:
        # Failing to roll back must not hide the error that caused it; SQLite rolls back
        # an unfinished transaction itself when the connection closes or the process dies.
        with contextlib.suppress(sqlite3.Error):
            if self._connection.in_transaction:
                self._connection.execute("ROLLBACK")


def _check_precondition(
    connection: sqlite3.Connection, precondition: Precondition, now_micros: int
) -> None:
    conditions, params = _filter_sql(precondition.filter)
    where = " AND ".join(
        [f"deleted_revision = {_LIVE}", "(expiration IS NULL OR expiration > ?)", *conditions]
    )
    found = connection.execute(
        f"SELECT 1 FROM {_table_for(precondition.filter)} WHERE {where} LIMIT 1",
        (now_micros, *params),
    ).fetchone()
    if (found is not None) != (precondition.kind is PreconditionKind.MUST_MATCH):
        verb = (
            "matched" if precondition.kind is PreconditionKind.MUST_NOT_MATCH else "did not match"
        )
        message = f"precondition failed: filter {precondition.filter} {verb} a relationship"
        raise PreconditionFailedError(message)


def _apply_updates(
    connection: sqlite3.Connection,
    updates: Sequence[RelationshipUpdate],
    revision: int,
    now_micros: int,
) -> None:
    """Apply ``updates`` in order at ``revision``, inside the caller's transaction."""
    # Keys this write has touched so far, and whether each is present after it.
    present: dict[RelationshipKey, bool] = {}
    for update in updates:
        rel = update.relationship
        key = rel.key
        operation = update.operation
        match operation:
            case Operation.CREATE:
                if key in present:
                    exists = present[key]
                else:
                    row = connection.execute(_LIVE_EXPIRATION_SQL, key).fetchone()
                    exists = row is not None and (row[0] is None or row[0] > now_micros)
                if exists:
                    raise RelationshipExistsError(f"relationship {rel} already exists")
            case Operation.TOUCH | Operation.DELETE:
                pass
            case _:
                raise CloveInternalError(f"unknown relationship operation {operation!r}")
        if present.get(key):
            # The version this write inserted earlier never becomes visible: drop it.
            connection.execute(_DROP_OWN_VERSION_SQL, (*key, revision))
        else:
            connection.execute(_RETIRE_SQL, (revision, *key))
        if operation is Operation.DELETE:
            present[key] = False
            continue
        expiration = None if rel.expiration is None else _micros(rel.expiration)
        connection.execute(
            _INSERT_SQL, (*key, rel.caveat_name, rel.context_json, expiration, revision)
        )
        present[key] = True


def _datetime(epoch_micros: int) -> datetime:
    return datetime.fromtimestamp(epoch_micros / 1_000_000, UTC)


def migration_status(path: str | os.PathLike[str]) -> tuple[int, int]:
    """The storage format of the file at ``path`` and the one this Clove needs (0: no store).

    Reads only: the file is neither created nor changed.
    """
    file = os.fspath(path)
    if not os.path.exists(file):
        return 0, len(_MIGRATIONS)
    try:
        uri = f"{Path(file).resolve().as_uri()}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as connection:
            version: int = connection.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.Error as error:
        raise _storage_error(error, f"cannot read {file!r}") from error
    return version, len(_MIGRATIONS)


def _storage_error(error: sqlite3.Error, context: str = "SQLite") -> StorageError:
    if isinstance(error, sqlite3.ProgrammingError) and "closed" in str(error):
        return StorageError("the store is closed")
    return StorageError(f"{context}: {error}")
