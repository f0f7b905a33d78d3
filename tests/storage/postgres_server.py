"""The PostgreSQL server the ``postgres``-marked tests use, and a schema of their own for each.

The server is ``CLOVE_TEST_POSTGRES`` (default ``postgresql://postgres@127.0.0.1:5432/test``).
When it cannot be reached the tests skip, saying so, except under CI (``CI=true``), where
they fail: CI must not pass by testing nothing.

Every store a test opens lives in a fresh PostgreSQL schema ``clove_test_<random>``, dropped
when the test ends, so tests (and several test sessions on one server) never see each
other's data.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

DSN = os.environ.get("CLOVE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
SCHEMA_PREFIX = "clove_test_"


@functools.cache
def _unreachable() -> str | None:
    """Why the server cannot be used, or None when it can (asked once per session)."""
    try:
        with psycopg.connect(DSN, connect_timeout=3) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error as error:
        return " ".join(str(error).split()) or type(error).__name__
    return None


def require_postgres() -> str:
    """The server's DSN; skips the test (fails it under CI) when the server is unreachable."""
    problem = _unreachable()
    if problem is not None:
        message = f"PostgreSQL not reachable at {DSN} (set CLOVE_TEST_POSTGRES): {problem}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return DSN


def new_schema() -> str:
    """A schema name no other test uses."""
    return f"{SCHEMA_PREFIX}{uuid.uuid4().hex[:16]}"


def drop_schemas(names: list[str]) -> None:
    """Drop the test schemas ``names`` and everything in them."""
    if not names:
        return
    with psycopg.connect(DSN, autocommit=True) as connection:
        for name in names:
            statement = sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name))
            connection.execute(statement)


def url_with_schema(schema: str) -> str:
    """The server's URL with Clove's ``schema`` parameter, as ``clove.open`` takes it."""
    separator = "&" if "?" in DSN else "?"
    return f"{DSN}{separator}schema={schema}"


@contextmanager
def store_url(kind: str, folder: Path, name: str = "clove.db") -> Iterator[str]:
    """A fresh store's URL: ``memory``, a SQLite file ``name`` in ``folder``, or (``postgres``)
    a new PostgreSQL schema, dropped afterwards."""
    if kind == "memory":
        yield "memory"
        return
    if kind == "sqlite":
        yield f"sqlite://{folder / name}"
        return
    require_postgres()
    schema = new_schema()
    try:
        yield url_with_schema(schema)
    finally:
        drop_schemas([schema])
