"""Bulk import and export through ``Database``, on every backend (the ``store`` fixture)."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

import clove
from clove.consistency import Consistency, encode_token
from clove.database import Database
from clove.errors import RelationshipExistsError, RelationshipSyntaxError, RelationshipTypeError
from clove.relationships import Relationship, parse_relationship
from clove.storage.postgres import PostgresStore
from clove.storage.protocol import Store
from storage.postgres_server import drop_schemas, new_schema, require_postgres

SCHEMA = """
use expiration
definition user {}
definition group { relation member: user | group#member }
caveat at_most(n int, limit int) { n <= limit }
definition document {
    relation viewer: user | user:* | group#member | user with at_most | user with expiration
    permission view = viewer
}
"""


@pytest.fixture
def db(store: Store) -> Database:
    database = Database(store)
    database.write_schema(SCHEMA)
    return database


def _all(db: Database) -> list[str]:
    return [str(rel) for rel in db.export_relationships(consistency="full")]


def test_import_creates_everything_at_one_revision_and_export_streams_it_back(
    db: Database,
) -> None:
    later = datetime.now(UTC) + timedelta(days=1)
    items: list[str | Relationship] = [
        "document:b#viewer@user:ann",
        "document:a#viewer@group:eng#member",
        "document:a#viewer@user:*",
        'document:c#viewer@user:cat[at_most:{"limit":3}]',
        parse_relationship(f"document:d#viewer@user:dan[expiration:{later.isoformat()}]"),
        "group:eng#member@user:eve",
    ]
    before = db.store.head_revision()
    token = db.import_relationships(items, batch_size=2)
    assert db.store.head_revision() == before + 1
    fresh = Consistency.at_least_as_fresh(token)
    exported = list(db.export_relationships(consistency=fresh))
    assert [str(rel) for rel in exported] == sorted(
        str(rel) if isinstance(rel, Relationship) else str(parse_relationship(rel)) for rel in items
    )
    assert [rel.key for rel in exported] == sorted(rel.key for rel in exported)
    assert db.check("document:a", "view", "user:eve", consistency=fresh)
    assert db.check("document:c", "view", "user:cat", context={"n": 2}, consistency=fresh)
    assert db.check("document:d", "view", "user:dan", consistency=fresh)
    only_a = db.export_relationships(consistency=fresh, filter="document:a")
    assert [str(rel) for rel in only_a] == [
        "document:a#viewer@group:eng#member",
        "document:a#viewer@user:*",
    ]
    # An older snapshot does not see the import.
    older = Consistency.at_exact_snapshot(encode_token(db.store.store_id, before))
    assert list(db.export_relationships(consistency=older)) == []


def test_a_bad_relationship_late_in_the_stream_leaves_nothing_written(db: Database) -> None:
    def stream() -> Iterator[str]:
        for i in range(2500):
            yield f"document:d{i}#viewer@user:u{i}"
        yield "document:bad#viewer@document:d1"

    head = db.store.head_revision()
    with pytest.raises(RelationshipTypeError, match=r"^row 2501: subjects of type `document`"):
        db.import_relationships(stream(), batch_size=1000)
    assert db.store.head_revision() == head
    assert _all(db) == []


def test_a_syntax_error_names_its_row(db: Database) -> None:
    with pytest.raises(RelationshipSyntaxError, match=r"^row 2: "):
        db.import_relationships(["document:a#viewer@user:ann", "document:a#viewer"])
    assert _all(db) == []


def test_a_caveat_context_of_the_wrong_type_names_its_row(db: Database) -> None:
    with pytest.raises(clove.ContextError, match=r"^row 1: "):
        db.import_relationships(['document:c#viewer@user:cat[at_most:{"limit":"x"}]'])


def test_a_repeated_relationship_fails_the_import_naming_both_rows(db: Database) -> None:
    rels = [f"document:d{i}#viewer@user:u{i}" for i in range(30)]
    rels.append("document:d7#viewer@user:u7")
    with pytest.raises(
        RelationshipExistsError,
        match=r"^row 31: relationship document:d7#viewer@user:u7 is repeated \(first at row 8\)",
    ):
        db.import_relationships(rels)
    assert _all(db) == []


def test_importing_a_live_relationship_fails_and_an_expired_one_is_replaced(
    db: Database,
) -> None:
    past = datetime.now(UTC) - timedelta(seconds=1)
    gone = Relationship(
        resource_type="document",
        resource_id="old",
        relation="viewer",
        subject_type="user",
        subject_id="ann",
        expiration=past,
    )
    db.store.write([clove.RelationshipUpdate(operation=clove.Operation.TOUCH, relationship=gone)])
    db.write_relationships(["document:a#viewer@user:ann"])
    with pytest.raises(
        RelationshipExistsError, match=r"^row 2: relationship document:a#viewer@user:ann already"
    ):
        db.import_relationships(["document:b#viewer@user:bob", "document:a#viewer@user:ann"])
    assert _all(db) == ["document:a#viewer@user:ann"]
    token = db.import_relationships(["document:old#viewer@user:ann"])
    fresh = Consistency.at_least_as_fresh(token)
    assert db.check("document:old", "view", "user:ann", consistency=fresh)
    assert _all(db) == ["document:a#viewer@user:ann", "document:old#viewer@user:ann"]


def test_batch_size_must_be_positive(db: Database) -> None:
    with pytest.raises(clove.InvalidInputError, match="batch_size"):
        db.import_relationships([], batch_size=0)


def test_an_empty_import_still_returns_a_token(db: Database) -> None:
    token = db.import_relationships([])
    assert db.read_schema(consistency=Consistency.at_least_as_fresh(token))


@pytest.mark.postgres
def test_postgres_import_and_export_run_in_constant_memory() -> None:
    """200,000 relationships through a generator each way, with a memory bound far below
    what holding them would take (about 200 bytes of Python objects each)."""
    schema = new_schema()
    count = 200_000
    try:
        with clove.open(f"{require_postgres()}?schema={schema}") as db:
            db.write_schema(SCHEMA)
            lines = (f"document:d{i // 4}#viewer@user:u{i}" for i in range(count))
            tracemalloc.start()
            try:
                token = db.import_relationships(lines, batch_size=5000)
                _, import_peak = tracemalloc.get_traced_memory()
                fresh = Consistency.at_least_as_fresh(token)
                # Moving the read cache past the import costs its (bounded) change list
                # once; that is not the export's doing.
                assert db.check("document:d0", "view", "user:u0", consistency=fresh)
                tracemalloc.reset_peak()
                exported = sum(1 for _ in db.export_relationships(consistency=fresh))
                _, export_peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            assert exported == count
            assert import_peak < 8_000_000, import_peak
            assert export_peak < 8_000_000, export_peak
    finally:
        drop_schemas([schema])


@pytest.mark.postgres
def test_postgres_imports_go_to_the_store_behind_the_cache() -> None:
    from clove.storage.bulk import find_importer

    schema = new_schema()
    try:
        with clove.open(f"{require_postgres()}?schema={schema}") as db:
            assert isinstance(find_importer(db.store), PostgresStore)
    finally:
        drop_schemas([schema])
