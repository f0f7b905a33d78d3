"""Large imports into an empty PostgreSQL table: loaded directly, indexes built afterwards.

``_LOAD_MIN_ROWS`` is lowered so that a handful of rows takes that path; the tests check
that it keeps every promise of the staged import (one revision, all or nothing, rows named
in errors) and leaves the table's indexes exactly as the migrations made them.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

import clove
from clove.consistency import Consistency
from clove.database import Database
from clove.errors import RelationshipExistsError, RelationshipTypeError
from clove.storage import postgres
from storage.postgres_server import DSN, drop_schemas, new_schema, require_postgres

pytestmark = pytest.mark.postgres

SCHEMA = """
definition user {}
definition document { relation viewer: user  permission view = viewer }
"""


@pytest.fixture
def schema(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setattr(postgres, "_LOAD_MIN_ROWS", 3)
    name = new_schema()
    require_postgres()
    yield name
    drop_schemas([name])


@pytest.fixture
def db(schema: str) -> Iterator[Database]:
    with clove.open(f"{DSN}?schema={schema}") as database:
        database.write_schema(SCHEMA)
        yield database


def _indexes(schema: str) -> list[tuple[str, str]]:
    with psycopg.connect(DSN) as connection:
        rows = connection.execute(
            """
            SELECT indexname, indexdef FROM pg_indexes
            WHERE schemaname = %s AND tablename = 'relationships' ORDER BY indexname
            """,
            (schema,),
        ).fetchall()
    return [(str(name), str(definition)) for name, definition in rows]


def _viewers(count: int) -> list[str]:
    return [f"document:d{i}#viewer@user:u{i}" for i in range(count)]


def _all(db: Database) -> list[str]:
    return [str(rel) for rel in db.export_relationships(consistency="full")]


def test_an_import_into_an_empty_table_rebuilds_the_very_same_indexes(
    db: Database, schema: str
) -> None:
    before = _indexes(schema)
    assert len(before) == 5
    head = db.store.head_revision()
    token = db.import_relationships(_viewers(10))
    assert db.store.head_revision() == head + 1
    assert _indexes(schema) == before
    fresh = Consistency.at_least_as_fresh(token)
    assert db.check("document:d7", "view", "user:u7", consistency=fresh)
    assert len(_all(db)) == 10
    with pytest.raises(RelationshipExistsError, match=r"^row 2: .*d0#viewer@user:u0 already"):
        db.import_relationships(["document:x#viewer@user:a", *_viewers(3)])
    # A staged import finds repeats through the rebuilt primary key.
    with pytest.raises(RelationshipExistsError, match=r"^row 3: .* \(first at row 1\)$"):
        db.import_relationships(["document:x#viewer@user:a", "document:y#viewer@user:a"] * 2)


def test_a_repeated_relationship_names_both_rows(db: Database, schema: str) -> None:
    before = _indexes(schema)
    rels = [*_viewers(30), "document:d7#viewer@user:u7"]
    with pytest.raises(
        RelationshipExistsError,
        match=r"^row 31: relationship document:d7#viewer@user:u7 is repeated \(first at row 8\)$",
    ):
        db.import_relationships(rels)
    assert _all(db) == []
    assert _indexes(schema) == before


def test_a_bad_row_late_in_the_stream_leaves_the_table_as_it_was(db: Database, schema: str) -> None:
    before = _indexes(schema)
    head = db.store.head_revision()

    def stream() -> Iterator[str]:
        yield from _viewers(100)
        yield "document:bad#viewer@document:d1"

    with pytest.raises(RelationshipTypeError, match=r"^row 101: "):
        db.import_relationships(stream())
    assert db.store.head_revision() == head
    assert _all(db) == []
    assert _indexes(schema) == before
    db.import_relationships(_viewers(5))
    assert len(_all(db)) == 5


def test_a_table_holding_only_deleted_versions_takes_the_staged_path(
    db: Database, schema: str
) -> None:
    db.write_relationships(["document:d1#viewer@user:u1"])
    db.delete_relationships("document:d1#viewer@user:u1")
    db.import_relationships(_viewers(4))
    assert len(_all(db)) == 4
    # The old version is still there for readers of its revision: nothing was truncated.
    with psycopg.connect(DSN) as connection:
        row = connection.execute(f'SELECT count(*) FROM "{schema}".relationships').fetchone()
    assert row is not None and row[0] == 5
