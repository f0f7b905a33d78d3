"""The shared read cache sees every write, whichever process or handle made it."""

from __future__ import annotations

from pathlib import Path

from clove.relationships import Operation, RelationshipUpdate, parse_relationship
from clove.storage.cache import CachedStore
from clove.storage.sqlite import SqliteStore


def _touch(text: str) -> RelationshipUpdate:
    return RelationshipUpdate(operation=Operation.TOUCH, relationship=parse_relationship(text))


def _delete(text: str) -> RelationshipUpdate:
    return RelationshipUpdate(operation=Operation.DELETE, relationship=parse_relationship(text))


def test_writes_through_another_handle_invalidate_only_what_they_touch(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    inner = SqliteStore(path)
    cached = CachedStore(inner, inner)
    other = SqliteStore(path)
    try:
        first = other.write([_touch("doc:one#viewer@user:a"), _touch("doc:two#viewer@user:b")])
        reader = cached.reader(first)
        assert [r.subject_id for r in reader.subjects("doc", "one", "viewer")] == ["a"]
        assert reader.find("doc", "two", "viewer", "user", "b", "...") is not None

        second = other.write([_touch("doc:one#viewer@user:c"), _delete("doc:two#viewer@user:b")])
        fresh = cached.reader(second)
        assert sorted(r.subject_id for r in fresh.subjects("doc", "one", "viewer")) == ["a", "c"]
        assert fresh.find("doc", "two", "viewer", "user", "b", "...") is None
        # A reader at the older revision still sees exactly that revision.
        old = cached.reader(first)
        assert [r.subject_id for r in old.subjects("doc", "one", "viewer")] == ["a"]
        assert old.find("doc", "two", "viewer", "user", "b", "...") is not None
    finally:
        cached.close()
        other.close()


def test_expiring_relationships_are_judged_at_read_time(tmp_path: Path) -> None:
    inner = SqliteStore(tmp_path / "exp.db")
    cached = CachedStore(inner, inner)
    try:
        revision = cached.write(
            [
                _touch("doc:one#viewer@user:gone[expiration:2001-01-01T00:00:00Z]"),
                _touch("doc:one#viewer@user:kept[expiration:2300-01-01T00:00:00Z]"),
            ]
        )
        reader = cached.reader(revision)
        assert [r.subject_id for r in reader.subjects("doc", "one", "viewer")] == ["kept"]
        assert reader.find("doc", "one", "viewer", "user", "gone", "...") is None
    finally:
        cached.close()


def test_a_reader_never_sees_a_set_refilled_at_a_newer_revision(tmp_path: Path) -> None:
    """A reader pinned at R keeps reading R after the cache moved on and refilled a set."""
    inner = SqliteStore(tmp_path / "pinned.db")
    cached = CachedStore(inner, inner)
    try:
        first = cached.write([_touch("doc:one#viewer@user:a"), _touch("doc:one#banned@user:a")])
        pinned = cached.reader(first)  # a request at ``first`` that has not read anything yet
        second = cached.write([_delete("doc:one#viewer@user:a"), _delete("doc:one#banned@user:a")])
        newer = cached.reader(second)  # another request moves the cache to ``second`` ...
        assert newer.subjects("doc", "one", "banned") == ()  # ... and refills the set there
        assert newer.find("doc", "one", "viewer", "user", "a", "...") is None
        # The pinned request still reads ``first``, set by set and probe by probe.
        assert [r.subject_id for r in pinned.subjects("doc", "one", "banned")] == ["a"]
        assert pinned.find("doc", "one", "banned", "user", "a", "...") is not None
        assert pinned.find("doc", "one", "viewer", "user", "a", "...") is not None
        assert [r.subject_id for r in pinned.subject_sets("doc", "one", "viewer")] == []
    finally:
        cached.close()
