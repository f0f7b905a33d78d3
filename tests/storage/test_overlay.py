"""The contextual-relationship overlay answers every Reader question from both sources."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from clove.relationships import Operation, Relationship, RelationshipFilter, RelationshipUpdate
from clove.relationships import parse_relationship as rel
from clove.storage.memory import MemoryStore
from clove.storage.overlay import OverlayReader


def _store(*texts: str) -> MemoryStore:
    store = MemoryStore()
    store.write([RelationshipUpdate(operation=Operation.TOUCH, relationship=rel(t)) for t in texts])
    return store


def _keys(found: object) -> list[str]:
    return sorted(str(r) for r in found)  # type: ignore[attr-defined]


def test_every_question_sees_stored_and_extra_relationships() -> None:
    store = _store("doc:d1#viewer@user:a", "doc:d1#viewer@group:g#member")
    extra = [rel("doc:d1#viewer@user:b"), rel("doc:d1#viewer@group:h#member")]
    reader = OverlayReader(store.reader(store.head_revision()), extra)
    assert _keys(reader.subjects("doc", "d1", "viewer")) == [
        "doc:d1#viewer@group:g#member",
        "doc:d1#viewer@group:h#member",
        "doc:d1#viewer@user:a",
        "doc:d1#viewer@user:b",
    ]
    assert _keys(reader.subject_sets("doc", "d1", "viewer")) == [
        "doc:d1#viewer@group:g#member",
        "doc:d1#viewer@group:h#member",
    ]
    assert reader.find("doc", "d1", "viewer", "user", "b", "...") == extra[0]
    assert reader.find("doc", "d1", "viewer", "user", "a", "...") is not None
    assert _keys(reader.resources("user", "b", "...", "doc", "viewer")) == ["doc:d1#viewer@user:b"]
    assert _keys(reader.resources("group", "h", None, "doc", "viewer")) == [
        "doc:d1#viewer@group:h#member"
    ]
    assert reader.resources("group", "h", "...", "doc", "viewer") == []


def test_an_extra_relationship_replaces_the_stored_one_with_its_key() -> None:
    store = _store("doc:d1#viewer@user:a")
    caveated = rel('doc:d1#viewer@user:a[only_on:{"x":1}]')
    reader = OverlayReader(store.reader(store.head_revision()), [caveated])
    assert reader.subjects("doc", "d1", "viewer") == [caveated]
    assert reader.find("doc", "d1", "viewer", "user", "a", "...") == caveated


def test_an_expired_extra_relationship_hides_the_stored_one_and_itself() -> None:
    store = _store("doc:d1#viewer@user:a")
    expired = Relationship(
        resource_type="doc",
        resource_id="d1",
        relation="viewer",
        subject_type="user",
        subject_id="a",
        expiration=datetime.now(UTC) - timedelta(seconds=1),
    )
    reader = OverlayReader(store.reader(store.head_revision()), [expired])
    assert reader.subjects("doc", "d1", "viewer") == []
    assert reader.find("doc", "d1", "viewer", "user", "a", "...") is None
    assert list(reader.query(RelationshipFilter(resource_type="doc"))) == []


def test_query_merges_in_key_order_and_pages() -> None:
    store = _store("doc:a#viewer@user:x", "doc:c#viewer@user:x", "doc:e#viewer@user:x")
    extra = [rel("doc:d#viewer@user:x"), rel("doc:b#viewer@user:x"), rel("doc:c#viewer@user:x")]
    reader = OverlayReader(store.reader(store.head_revision()), extra)
    everything = [r.resource_id for r in reader.query(RelationshipFilter(resource_type="doc"))]
    assert everything == ["a", "b", "c", "d", "e"]
    first = list(reader.query(RelationshipFilter(resource_type="doc"), limit=2))
    assert [r.resource_id for r in first] == ["a", "b"]
    rest = reader.query(RelationshipFilter(resource_type="doc"), after=first[-1].key, limit=10)
    assert [r.resource_id for r in rest] == ["c", "d", "e"]
    assert reader.revision == store.head_revision()
