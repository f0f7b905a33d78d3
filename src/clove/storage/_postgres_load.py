"""Loading a large import into an empty PostgreSQL relationships table at full speed.

Keeping B-tree indexes up to date row by row is what bounds an import on PostgreSQL: each of
a million rows descends the primary key and the by-subject index at random places, and once
those outgrow ``shared_buffers`` every row costs page reads and writes. Building an index
once, from sorted data, is several times cheaper. So when the table holds no rows at all,
the import empties it for good (``TRUNCATE``: a fresh file, filled in order), drops
its full indexes, ``COPY``s the rows straight in (the server stores them while Python
still parses the next ones) and builds the indexes back, in the same transaction. A
repeated relationship surfaces as the unique primary key failing to build.

The price is an exclusive lock on the table until commit: readers of the (empty) store
wait for the import instead of seeing nothing. The indexes come back exactly as the
catalog described them, so later migrations that change them need no change here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psycopg
import psycopg.errors
from psycopg import sql

from clove.errors import CloveInternalError, RelationshipExistsError
from clove.storage._rows import LIVE
from clove.storage.bulk import ImportRow, describe_row

_Cursor = psycopg.Cursor[tuple[Any, ...]]

_KEY_COLUMNS = "resource_type, resource_id, relation, subject_type, subject_id, subject_relation"
_ROW_COLUMNS = f"{_KEY_COLUMNS}, caveat_name, caveat_context, expiration"

# The table's indexes that every row enters, with how to drop and recreate each: partial
# indexes (deleted or expiring versions) stay, since an import adds few rows to them.
# The primary key comes first, so a repeated key fails the import before any other build.
_FULL_INDEXES = """
    SELECT index.relname, pg_get_indexdef(i.indexrelid), con.conname,
           pg_get_constraintdef(con.oid)
    FROM pg_index AS i
    JOIN pg_class AS index ON index.oid = i.indexrelid
    LEFT JOIN pg_constraint AS con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid
    WHERE i.indrelid = %s::regclass AND i.indpred IS NULL
    ORDER BY i.indisprimary DESC, index.relname
"""

# Sorting for an index build spills to disk below this much memory (the server default is
# 64MB); the setting only lasts as long as the import's transaction.
_BUILD_MEMORY_KB = 512 * 1024


def table_is_empty(cursor: _Cursor, table: str) -> bool:
    """Whether ``table`` holds no row at all, of any revision."""
    row = cursor.execute(f"SELECT NOT EXISTS (SELECT FROM {table})").fetchone()
    return bool(row and row[0])


def load_into_empty(
    cursor: _Cursor, schema: str, table: str, rows: Iterable[ImportRow], revision: int
) -> int:
    """Load ``rows`` at ``revision`` into the empty ``table``; return how many there were.

    The caller holds the writers' lock (so the table stays empty) inside a transaction,
    which this leaves holding an exclusive lock on ``table``. Raises
    RelationshipExistsError naming the first row that repeats an earlier one.
    """
    indexes = cursor.execute(_FULL_INDEXES, (table,)).fetchall()
    cursor.execute(f"TRUNCATE {table}")
    for name, _, constraint, _ in indexes:
        if constraint is not None:
            cursor.execute(
                sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                    sql.SQL(table), sql.Identifier(constraint)
                )
            )
        else:
            cursor.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(schema, name)))
    count = 0
    copy_sql = f"COPY {table} ({_ROW_COLUMNS}, created_revision, deleted_revision) FROM STDIN"
    with cursor.copy(copy_sql) as copy:
        for row in rows:
            copy.write_row((*row, revision, LIVE))
            count += 1
    _raise_build_memory(cursor)
    for _, definition, constraint, constraint_definition in indexes:
        if constraint is None:
            cursor.execute(definition)
            continue
        add = sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} ").format(
            sql.SQL(table), sql.Identifier(constraint)
        ) + sql.SQL(constraint_definition)
        try:
            with cursor.connection.transaction():
                cursor.execute(add)
        except psycopg.errors.UniqueViolation:
            raise _first_repeat(cursor, table) from None
    return count


def _raise_build_memory(cursor: _Cursor) -> None:
    """Give index builds ``_BUILD_MEMORY_KB`` unless the server already allows more."""
    cursor.execute(
        """
        SELECT set_config('maintenance_work_mem', %s || 'kB', true)
        WHERE (SELECT setting::bigint FROM pg_settings WHERE name = 'maintenance_work_mem') < %s
        """,
        (str(_BUILD_MEMORY_KB), _BUILD_MEMORY_KB),
    )


def _first_repeat(cursor: _Cursor, table: str) -> RelationshipExistsError:
    """The error for the first loaded row whose key an earlier one has.

    The table was truncated before the load, so its rows lie in the order ``COPY`` read
    them and the physical order (``ctid``) numbers them from 1.
    """
    found = cursor.execute(
        f"""
        SELECT ordinal, first FROM (
            SELECT ordinal, min(ordinal) OVER (PARTITION BY {_KEY_COLUMNS}) AS first
            FROM (
                SELECT {_KEY_COLUMNS}, row_number() OVER (ORDER BY ctid) AS ordinal
                FROM {table}
            ) AS numbered
        ) AS grouped
        WHERE ordinal <> first ORDER BY ordinal LIMIT 1
        """
    ).fetchone()
    if found is None:
        raise CloveInternalError("the primary key found a repeated key that the rows lack")
    row = cursor.execute(
        f"SELECT {_ROW_COLUMNS} FROM {table} ORDER BY ctid OFFSET %s LIMIT 1", (found[0] - 1,)
    ).fetchone()
    if row is None:
        raise CloveInternalError(f"loaded row {found[0]} of an import is missing")
    return RelationshipExistsError(
        f"row {found[0]}: relationship {describe_row(row)} is repeated (first at row {found[1]})"
    )
