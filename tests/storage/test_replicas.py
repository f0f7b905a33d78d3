"""Read replicas against a real primary and a real streaming standby (see ``replica_cluster``).

One cluster pair serves the whole module. Which server answered is proven two ways: the
router's per-replica read counter, and stale answers that only a paused standby can give.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

import clove
from clove.consistency import Consistency
from clove.storage.replicas import ReplicatedStore, split_replica_urls
from storage.replica_cluster import Cluster, find_bin_dir

pytestmark = pytest.mark.postgres

SCHEMA = """
definition user {}
definition document {
    relation viewer: user
    permission view = viewer
}
"""


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    bin_dir = find_bin_dir()
    if bin_dir is None:
        message = "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    pair = Cluster(bin_dir)
    pair.start()
    try:
        with clove.open(pair.primary_url) as db:
            db.write_schema(SCHEMA)
            db.import_relationships(f"document:d{i}#viewer@user:u{i}" for i in range(1200))
        pair.wait_replayed()
        yield pair
    finally:
        pair.stop()


def _open(cluster: Cluster) -> clove.Database:
    return clove.open(cluster.primary_url, replicas=[cluster.standby_url], max_replica_lag=3600)


def _replica_reads(db: clove.Database) -> int:
    store = db.store
    assert isinstance(store, ReplicatedStore)
    return store.replica_status()[0].reads


def _wait_until(condition: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        time.sleep(0.05)


def test_stale_reads_go_to_a_replica_and_fresh_ones_to_the_primary(cluster: Cluster) -> None:
    with _open(cluster) as writer, _open(cluster) as reader:
        old = writer.write_relationships(["document:a#viewer@user:ann"])
        cluster.wait_replayed()
        cluster.pause_replay()
        try:
            new = writer.write_relationships(["document:a#viewer@user:bob"])
            time.sleep(0.1)  # past the router's probe interval: it sees the paused replay

            before = _replica_reads(reader)
            # Minimize latency, from a handle that wrote nothing: the paused standby answers,
            # and it has not replayed bob's relationship.
            assert not reader.check("document:a", "view", "user:bob")
            assert reader.check("document:a", "view", "user:ann")
            assert _replica_reads(reader) == before + 2
            # At least as fresh as the old token: still the standby.
            fresh_enough = Consistency.at_least_as_fresh(old)
            assert reader.check("document:a", "view", "user:ann", consistency=fresh_enough)
            snapshot = Consistency.at_exact_snapshot(old)
            assert not reader.check("document:a", "view", "user:bob", consistency=snapshot)
            assert _replica_reads(reader) == before + 4

            # A token newer than the standby's replay, and full consistency: the primary.
            newer = Consistency.at_least_as_fresh(new)
            assert reader.check("document:a", "view", "user:bob", consistency=newer)
            assert reader.check("document:a", "view", "user:bob", consistency="full")
            exact_new = Consistency.at_exact_snapshot(new)
            assert reader.check("document:a", "view", "user:bob", consistency=exact_new)
            # A handle that allows no replay lag: the paused standby trails, so the primary.
            strict = clove.open(
                cluster.primary_url, replicas=[cluster.standby_url], max_replica_lag=0.0
            )
            with strict:
                assert strict.check("document:a", "view", "user:bob")
                assert _replica_reads(strict) == 0
            # The writer reads its own writes, so the standby is not fresh enough for it.
            assert writer.check("document:a", "view", "user:bob")
            assert _replica_reads(reader) == before + 4
        finally:
            cluster.resume_replay()
        cluster.wait_replayed()
        time.sleep(0.1)
        assert reader.check("document:a", "view", "user:bob")
        assert _replica_reads(reader) == before + 5


def test_a_replica_that_stops_is_skipped_and_used_again_when_it_returns(
    cluster: Cluster,
) -> None:
    with _open(cluster) as db:
        store = db.store
        assert isinstance(store, ReplicatedStore)
        assert db.check("document:d7", "view", "user:u7")
        served = _replica_reads(db)
        assert served == 1

        # Dies in the middle of a request: an export that began on the standby finishes on
        # the primary, without losing or repeating a relationship.
        exported = db.export_relationships(filter="document")
        first = [next(exported) for _ in range(10)]
        assert _replica_reads(db) == served + 1
        cluster.stop_standby()
        rest = list(exported)
        everything = [str(rel) for rel in first + rest]
        assert len(everything) == len(set(everything)) >= 1200
        status = store.replica_status()[0]
        assert not status.available
        assert status.error

        # While it is down, reads still succeed (on the primary).
        for i in range(5):
            assert db.check(f"document:d{i}", "view", f"user:u{i}")
        assert not db.check("document:d1", "view", "user:u2")
        assert _replica_reads(db) == served + 1

        cluster.start_standby()
        cluster.wait_replayed()

        def served_again() -> bool:
            assert db.check("document:d3", "view", "user:u3")
            return _replica_reads(db) > served + 1

        _wait_until(served_again)
        status = store.replica_status()[0]
        assert status.available
        assert status.error is None


def test_an_unreachable_replica_does_not_stop_the_database_from_opening(
    cluster: Cluster,
) -> None:
    with clove.open(cluster.primary_url, replicas=["postgresql://postgres@127.0.0.1:1/x"]) as db:
        assert db.check("document:d1", "view", "user:u1")
        store = db.store
        assert isinstance(store, ReplicatedStore)
        status = store.replica_status()[0]
        assert not status.available
        assert status.reads == 0
        assert "127.0.0.1:1" in status.where


def test_replicas_can_be_named_in_the_url(cluster: Cluster) -> None:
    url = f"{cluster.primary_url}?replica=127.0.0.1:{cluster.standby_port}"
    with clove.open(url, max_replica_lag=3600) as db:
        assert db.check("document:d1", "view", "user:u1")
        assert _replica_reads(db) == 1


def test_split_replica_urls() -> None:
    primary, replicas = split_replica_urls(
        "postgresql://app:pw@db1:5432/authz?schema=s&replica=db2&replica=db3:5433"
        "&replica=postgresql%3A%2F%2Fother%40db4%2Fauthz"
    )
    assert primary == "postgresql://app:pw@db1:5432/authz?schema=s"
    assert replicas == [
        "postgresql://app:pw@db2/authz?schema=s",
        "postgresql://app:pw@db3:5433/authz?schema=s",
        "postgresql://other@db4/authz",
    ]
    assert split_replica_urls("postgresql://db1/authz") == ("postgresql://db1/authz", [])


def test_replicas_need_postgres() -> None:
    with pytest.raises(clove.InvalidInputError, match="postgresql"):
        clove.open("memory", replicas=["postgresql://db2/authz"])


def test_watch_and_garbage_collection_go_to_the_primary(cluster: Cluster) -> None:
    with _open(cluster) as db:
        start = db.write_relationships([])
        token = db.write_relationships(["document:w1#viewer@user:alice"])
        with db.watch(after=start, timeout=0.3, poll_interval=0.02) as watch:
            events = list(watch)
        assert [event.token for event in events] == [token]
        assert [str(update.relationship) for update in events[0].updates] == [
            "document:w1#viewer@user:alice"
        ]
        report = db.collect_garbage()
        assert report.oldest_revision <= db.store.head_revision()
