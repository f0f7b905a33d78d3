"""The change log and garbage collection (``storage.history``), on every backend.

Garbage-collection tests never sleep for the window: they collect with an explicit ``now``
placed between two commits, so that the window ends exactly there.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta

import pytest

from clove.errors import RevisionUnavailableError
from clove.relationships import (
    Operation,
    RelationshipFilter,
    RelationshipUpdate,
    parse_relationship,
)
from clove.storage import postgres, sqlite
from clove.storage.cache import CachedStore
from clove.storage.history import (
    ChangeLog,
    GarbageCollector,
    RetentionGuard,
    RevisionChanges,
    describe_window,
)
from clove.storage.protocol import Store
from storage.conftest import StoreFactory

FUTURE = datetime(2300, 1, 1, tzinfo=UTC)


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


def log_of(store: Store) -> ChangeLog:
    assert isinstance(store, ChangeLog)
    return store


def collector_of(store: Store) -> GarbageCollector:
    assert isinstance(store, GarbageCollector)
    return store


def summary(changes: list[RevisionChanges]) -> list[tuple[int, list[str], str | None]]:
    """Each revision's updates as ``operation relationship`` text, and its schema."""
    return [
        (c.revision, [f"{u.operation} {u.relationship}" for u in c.updates], c.schema_text)
        for c in changes
    ]


def everything_at(store: Store, revision: int) -> list[str]:
    return [str(r) for r in store.reader(revision).query(RelationshipFilter())]


def mark_between_commits() -> datetime:
    """A moment after every commit so far and before every later one."""
    time.sleep(0.02)
    mark = datetime.now(UTC)
    time.sleep(0.02)
    return mark


# --- the change log ------------------------------------------------------------------------


def test_changes_list_each_write_once_in_revision_order_with_net_operations(
    store: Store,
) -> None:
    r1 = store.write([], schema_text="definition user {}")
    r2 = store.write(touch("doc:1#viewer@user:a", "doc:2#viewer@user:b"))
    # Replacing doc:1's relationship is one TOUCH; a delete and a re-create is one too.
    r3 = store.write(
        touch("doc:1#viewer@user:a[expiration:2299-01-01T00:00:00Z]", "doc:3#owner@user:c")
    )
    r4 = store.write(delete("doc:2#viewer@user:b") + touch("doc:2#viewer@user:b"))
    r5 = store.write(delete("doc:1#viewer@user:a", "doc:9#viewer@user:nobody"))
    r6 = store.write([], delete_filters=[RelationshipFilter(resource_type="doc", resource_id="3")])
    assert summary(log_of(store).changes(0, r6)) == [
        (r1, [], "definition user {}"),
        (r2, ["create doc:1#viewer@user:a", "create doc:2#viewer@user:b"], None),
        (
            r3,
            [
                "touch doc:1#viewer@user:a[expiration:2299-01-01T00:00:00Z]",
                "create doc:3#owner@user:c",
            ],
            None,
        ),
        (r4, ["touch doc:2#viewer@user:b"], None),
        (r5, ["delete doc:1#viewer@user:a[expiration:2299-01-01T00:00:00Z]"], None),
        (r6, ["delete doc:3#owner@user:c"], None),
    ]
    # Any range gives the same writes as the whole.
    assert summary(log_of(store).changes(r2, r4)) == summary(log_of(store).changes(0, r6))[2:4]
    assert log_of(store).changes(r6, r6) == []


def test_changes_carry_caveats_and_commit_times(store: Store) -> None:
    before = datetime.now(UTC) - timedelta(seconds=5)
    text = 'doc:1#viewer@user:a[on_net:{"cidr":"10.0.0.0/8"}]'
    revision = store.write(touch(text))
    (change,) = log_of(store).changes(revision - 1, revision)
    assert [str(u.relationship) for u in change.updates] == [text]
    assert change.updates[0].relationship.caveat_context == {"cidr": "10.0.0.0/8"}
    assert before <= change.committed_at <= datetime.now(UTC) + timedelta(seconds=5)
    assert change.committed_at.tzinfo is not None
    assert change.committed_at.utcoffset() == timedelta(0)


def test_a_filter_keeps_matching_updates_and_writes_with_any(store: Store) -> None:
    r1 = store.write(touch("doc:1#viewer@user:a", "folder:1#viewer@user:a"))
    r2 = store.write(touch("folder:2#viewer@user:b"))
    r3 = store.write(touch("doc:1#owner@group:g#member"), schema_text="s")
    r4 = store.write(delete("doc:1#viewer@user:a"))
    docs = RelationshipFilter(resource_type="doc")
    assert summary(log_of(store).changes(0, r4, docs)) == [
        (r1, ["create doc:1#viewer@user:a"], None),
        (r3, ["create doc:1#owner@group:g#member"], "s"),
        (r4, ["delete doc:1#viewer@user:a"], None),
    ]
    by_subject = RelationshipFilter(subject_type="group", subject_relation="member")
    assert summary(log_of(store).changes(0, r4, by_subject)) == [
        (r3, ["create doc:1#owner@group:g#member"], "s"),
    ]
    prefix = RelationshipFilter(resource_type="folder", resource_id_prefix="2")
    # Schema writes stay in, whatever the filter: they change every relationship's meaning.
    assert summary(log_of(store).changes(0, r4, prefix)) == [
        (r2, ["create folder:2#viewer@user:b"], None),
        (r3, [], "s"),
    ]


def test_changes_refuse_uncommitted_revisions(store: Store) -> None:
    head = store.write(touch("doc:1#viewer@user:a"))
    with pytest.raises(RevisionUnavailableError):
        log_of(store).changes(0, head + 1)


def test_expiration_is_not_a_change(store: Store) -> None:
    soon = (datetime.now(UTC) + timedelta(milliseconds=300)).isoformat()
    r1 = store.write(touch(f"doc:1#viewer@user:a[expiration:{soon}]"))
    time.sleep(0.4)
    r2 = store.write(touch("doc:2#viewer@user:b"))
    assert [c.revision for c in log_of(store).changes(0, r2)] == [r1, r2]
    assert everything_at(store, r2) == ["doc:2#viewer@user:b"]


# --- garbage collection -------------------------------------------------------------------


def test_collection_keeps_exact_snapshots_inside_the_window(store: Store) -> None:
    collector = collector_of(store)
    store.write([], schema_text="v1")
    store.write(touch("doc:1#viewer@user:a", "doc:2#viewer@user:b"))
    r3 = store.write(delete("doc:1#viewer@user:a") + touch("doc:3#viewer@user:c"))
    mark = mark_between_commits()
    r4 = store.write(delete("doc:2#viewer@user:b"), schema_text="v2")
    r5 = store.write(touch("doc:2#viewer@user:b"))
    snapshots = {r: everything_at(store, r) for r in (r3, r4, r5)}
    changes = summary(log_of(store).changes(r3, r5))

    report = collector.collect_garbage(mark + collector.gc_window)

    assert report.oldest_revision == r3
    assert report.versions == 1  # doc:1, deleted at r3
    assert report.revisions == r3 - 1
    assert report.schemas == 0  # v1 is still the schema at r3
    assert log_of(store).oldest_revision() == r3
    for revision, snapshot in snapshots.items():
        assert everything_at(store, revision) == snapshot
    schema = store.reader(r3).schema()
    assert schema is not None and schema.text == "v1"
    assert summary(log_of(store).changes(r3, r5)) == changes
    for old in (0, 1, r3 - 1):
        with pytest.raises(RevisionUnavailableError, match="older than the garbage-collection"):
            store.reader(old)
        with pytest.raises(RevisionUnavailableError, match=r"window \(24h\)"):
            log_of(store).changes(old, r5)


def test_collection_past_everything_keeps_the_head(store: Store) -> None:
    collector = collector_of(store)
    store.write([], schema_text="v1")
    store.write(touch("doc:1#viewer@user:a"))
    r3 = store.write([], schema_text="v2")
    head = store.write(delete("doc:1#viewer@user:a") + touch("doc:2#viewer@user:b"))
    report = collector.collect_garbage(FUTURE)
    assert report.oldest_revision == head
    assert report.schemas == 1 and report.versions == 1
    assert store.head_revision() == head
    assert everything_at(store, head) == ["doc:2#viewer@user:b"]
    schema = store.reader(head).schema()
    assert schema is not None and (schema.text, schema.revision) == ("v2", r3)
    with pytest.raises(RevisionUnavailableError):
        store.reader(head - 1)
    # Writing goes on from the head, and the new writes are watchable.
    after = store.write(touch("doc:3#viewer@user:c"))
    assert after == head + 1
    assert summary(log_of(store).changes(head, after)) == [
        (after, ["create doc:3#viewer@user:c"], None)
    ]


def test_collection_never_moves_back(store: Store) -> None:
    collector = collector_of(store)
    store.write(touch("doc:1#viewer@user:a"))
    head = store.write(touch("doc:2#viewer@user:b"))
    assert collector.collect_garbage(FUTURE).oldest_revision == head
    long_ago = datetime(2001, 1, 1, tzinfo=UTC)
    assert collector.collect_garbage(long_ago).oldest_revision == head
    with pytest.raises(RevisionUnavailableError):
        store.reader(head - 1)


def test_collection_inside_the_window_removes_nothing_but_expired(store: Store) -> None:
    collector = collector_of(store)
    past = "2001-01-01T00:00:00Z"
    store.write(touch(f"doc:old#viewer@user:a[expiration:{past}]", "doc:1#viewer@user:a"))
    head = store.write(delete("doc:1#viewer@user:a"))
    report = collector.collect_garbage(datetime.now(UTC))
    assert (report.oldest_revision, report.versions, report.revisions) == (0, 0, 0)
    assert report.expired == 1
    assert everything_at(store, head - 1) == ["doc:1#viewer@user:a"]


@pytest.mark.parametrize(
    "backend",
    ["sqlite-cached", pytest.param("postgres-cached", marks=pytest.mark.postgres)],
    indirect=True,
)
def test_the_cache_forgets_what_collection_passed(make_store: StoreFactory) -> None:
    store = make_store()
    assert isinstance(store, CachedStore)
    r1 = store.write(touch("doc:1#viewer@user:a", "doc:2#viewer@user:b"))
    assert [r.subject_id for r in store.reader(r1).subjects("doc", "1", "viewer")] == ["a"]
    # Delete behind the cache's back: collection then removes the deleted version, so only
    # the collection itself can tell the cache that doc:1#viewer changed.
    store.inner.write(delete("doc:1#viewer@user:a"))
    head = store.inner.write(touch("doc:3#viewer@user:c"))
    collector_of(store).collect_garbage(FUTURE)
    assert store.reader(head).subjects("doc", "1", "viewer") == ()
    assert store.reader(head).find("doc", "1", "viewer", "user", "a", "...") is None


def test_the_window_is_configurable(make_store: StoreFactory) -> None:
    store = make_store()
    assert collector_of(store).gc_window == timedelta(hours=24)


# --- the retention guard --------------------------------------------------------------------


def test_the_guard_vouches_only_for_revisions_from_a_fresh_sighting_on() -> None:
    guard = RetentionGuard(timedelta(hours=1))
    assert not guard.retained(10)
    guard.saw_head(10, time.monotonic())
    guard.saw_head(20, time.monotonic())
    assert guard.retained(10) and guard.retained(25)
    assert not guard.retained(9)
    guard.forget()
    assert not guard.retained(10)


def test_the_guard_distrusts_sightings_older_than_half_the_window() -> None:
    guard = RetentionGuard(timedelta(seconds=2))
    guard.saw_head(10, time.monotonic() - 1.5)
    assert not guard.retained(10)
    guard.saw_head(12, time.monotonic())
    assert guard.retained(12) and not guard.retained(11)


def test_a_zero_window_guard_never_vouches() -> None:
    guard = RetentionGuard(timedelta(0))
    guard.saw_head(10, time.monotonic())
    assert not guard.retained(10)


def test_windows_read_well() -> None:
    assert describe_window(timedelta(hours=24)) == "24h"
    assert describe_window(timedelta(days=7)) == "7d"
    assert describe_window(timedelta(minutes=90)) == "90m"
    assert describe_window(timedelta(seconds=2.5)) == "2.5s"
    assert describe_window(timedelta(0)) == "0s"


def test_collection_deletes_in_batches_and_counts_them_all(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite, "_GC_BATCH", 2)
    monkeypatch.setattr(postgres, "_GC_BATCH", 2)
    names = [f"doc:{i}#viewer@user:a" for i in range(7)]
    store.write(touch(*names))
    store.write(touch(*names))  # retires all seven
    head = store.write(delete(*names[:3]))  # retires three more
    report = collector_of(store).collect_garbage(FUTURE)
    assert (report.oldest_revision, report.versions) == (head, 10)
    assert everything_at(store, head) == names[3:]


def test_replaying_the_log_rebuilds_every_snapshot(store: Store) -> None:
    """Applying each revision's updates to the previous state gives that revision's state."""
    chooser = random.Random(7)
    ids = [f"doc:{i}#viewer@user:{u}" for i in range(6) for u in ("a", "b")]
    for _ in range(60):
        updates: list[RelationshipUpdate] = []
        for text in chooser.sample(ids, chooser.randint(0, 4)):
            if chooser.random() < 0.3:
                updates += delete(text)
            else:
                caveat = chooser.choice(["", "[c]", '[c:{"n":1}]', '[c:{"n":2}]'])
                updates += touch(text + caveat)
        filters = []
        if chooser.random() < 0.1:
            filters = [
                RelationshipFilter(resource_type="doc", resource_id=str(chooser.randint(0, 5)))
            ]
        store.write(updates, delete_filters=filters)
    head = store.head_revision()
    state: dict[tuple[str, ...], str] = {}
    for change in log_of(store).changes(0, head):
        for update in change.updates:
            key = update.relationship.key
            if update.operation is Operation.DELETE:
                assert key in state, f"revision {change.revision} deletes what is not there"
                del state[key]
            else:
                assert (key in state) == (update.operation is Operation.TOUCH)
                state[key] = str(update.relationship)
        assert sorted(state.values()) == sorted(everything_at(store, change.revision))
