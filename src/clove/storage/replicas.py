"""Read replicas: reads that tolerate staleness, served by PostgreSQL standbys that caught up.

A standby streams the primary's WAL, so revision ``r`` on a standby that has replayed it holds
exactly what ``r`` holds on the primary: MVCC makes any replica that has *reached* a revision
as good as the primary for reading it. ``ReplicatedStore`` therefore routes a read at
"revision ``r`` or newer" to a replica whose replayed head (its ``head`` row, probed at most
every ``probe_interval`` seconds and cached) is at least ``r``, and everything else (writes,
fully consistent reads, and reads no replica can serve yet) to the primary.

A replica that cannot be reached, or fails mid-read, is closed and skipped for a while
(doubling from ``retry_after`` up to ``max_retry_after`` seconds), and the read carries on
against the primary at the same revision: a request never fails because a replica did.

Connections: a replica's store only reads, so it holds only a readers' pool (a PostgreSQL
store opens its writers' pool on its first write); reads that fall back to the primary use
the primary's readers' pool, which its writers never take from, so queued writes on the
primary cannot starve them either.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from clove.errors import InvalidInputError, StorageError
from clove.relationships import (
    Precondition,
    Relationship,
    RelationshipFilter,
    RelationshipUpdate,
)
from clove.storage.history import HistoryPassThrough
from clove.storage.protocol import Reader, RelationshipKey, SchemaRecord, Store

__all__ = ["ReplicaRouting", "ReplicaStatus", "ReplicatedStore", "split_replica_urls"]

_log = logging.getLogger("clove.replicas")


class ReplicaProbe(Protocol):
    """What a replica's store must tell: its head revision and how far replay trails."""

    def replay_status(self) -> tuple[int, float]: ...


# Opens one replica by its URL: the store to read through (perhaps cached) and its probe.
ReplicaOpener = Callable[[str], tuple[Store, ReplicaProbe]]


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplicaStatus:
    """One replica as the router sees it now."""

    where: str
    available: bool  # False while it is skipped after a failure
    revision: int | None  # its replayed head at the last probe (None: never reached)
    lag: float | None  # seconds its replay trailed the WAL it had received, at that probe
    reads: int  # readers it has served
    error: str | None  # why it was last skipped


@runtime_checkable
class ReplicaRouting(Protocol):
    """A store that can serve a read from a replica (what ``Database`` asks for)."""

    def replica_reader(self, at_least: int, *, exact: bool, max_lag: float | None) -> Reader | None:
        """A reader on a replica that has replayed revision ``at_least``, or None.

        ``exact`` reads at ``at_least`` itself, else at the replica's head. ``max_lag``
        (seconds) skips replicas whose replay trails further behind than that.
        """
        ...


class _Replica:
    """One replica's connection and what the router last learned about it."""

    def __init__(self, url: str, where: str) -> None:
        self.url = url
        self.where = where
        self.store: Store | None = None
        self.probe: ReplicaProbe | None = None
        self.revision = -1
        self.lag = float("inf")
        self.probed_at = float("-inf")
        self.skip_until = float("-inf")
        self.backoff = 0.0
        self.reads = 0
        self.error: str | None = None
        self.lock = threading.Lock()


class ReplicatedStore(HistoryPassThrough):
    """``primary`` for writes and fresh reads, plus replicas for reads that allow staleness.

    ``replica_urls`` are opened lazily with ``open_replica`` (and reopened after a failure),
    so an unreachable replica never stops the store from opening.
    """

    def __init__(
        self,
        primary: Store,
        replica_urls: Sequence[str],
        *,
        open_replica: ReplicaOpener,
        describe: Callable[[str], str] = lambda url: url,
        probe_interval: float = 0.05,
        retry_after: float = 1.0,
        max_retry_after: float = 30.0,
    ) -> None:
        self._primary = primary
        self._history_store = primary  # Watch and GC: the primary's
        self._open_replica = open_replica
        self._replicas = tuple(_Replica(url, describe(url)) for url in replica_urls)
        self._probe_interval = probe_interval
        self._retry_after = retry_after
        self._max_retry_after = max_retry_after
        self._turn = itertools.count()
        self._closed = False

    # --- the Store protocol: the primary's ----------------------------------------------

    @property
    def store_id(self) -> str:
        return self._primary.store_id

    @property
    def inner(self) -> Store:
        return self._primary

    def head_revision(self) -> int:
        return self._primary.head_revision()

    def reader(self, revision: int, *, now: datetime | None = None) -> Reader:
        return self._primary.reader(revision, now=now)

    def write(
        self,
        updates: Sequence[RelationshipUpdate],
        *,
        preconditions: Sequence[Precondition] = (),
        delete_filters: Sequence[RelationshipFilter] = (),
        schema_text: str | None = None,
        now: datetime | None = None,
    ) -> int:
        return self._primary.write(
            updates,
            preconditions=preconditions,
            delete_filters=delete_filters,
            schema_text=schema_text,
            now=now,
        )

    def delete_expired(self, now: datetime) -> int:
        return self._primary.delete_expired(now)

    def close(self) -> None:
        self._closed = True
        for replica in self._replicas:
            with replica.lock:
                self._close_replica(replica)
        self._primary.close()

    # --- routing -------------------------------------------------------------------------

    def replica_reader(self, at_least: int, *, exact: bool, max_lag: float | None) -> Reader | None:
        if self._closed or not self._replicas:
            return None
        now = time.monotonic()
        count = len(self._replicas)
        start = next(self._turn) % count
        for index in range(start, start + count):
            replica = self._replicas[index % count]
            if now < replica.skip_until:
                continue
            if now - replica.probed_at >= self._probe_interval and not self._probe(replica, now):
                continue
            store = replica.store
            if store is None or replica.revision < at_least:
                continue
            if max_lag is not None and replica.lag > max_lag:
                continue
            revision = at_least if exact else replica.revision
            try:
                inner = store.reader(revision)
            except StorageError as error:
                self.skip(replica, error)
                continue
            replica.reads += 1
            return _FailoverReader(self, replica, inner)
        return None

    def replica_status(self) -> list[ReplicaStatus]:
        """What the router knows of each replica, in the order they were given."""
        now = time.monotonic()
        return [
            ReplicaStatus(
                where=replica.where,
                available=now >= replica.skip_until,
                revision=None if replica.revision < 0 else replica.revision,
                lag=None if replica.revision < 0 else replica.lag,
                reads=replica.reads,
                error=replica.error,
            )
            for replica in self._replicas
        ]

    def _probe(self, replica: _Replica, now: float) -> bool:
        """Refresh what ``replica`` has replayed; False if it is unusable now.

        One thread probes at a time; the others go on with the previous answer meanwhile.
        """
        if not replica.lock.acquire(blocking=False):
            return replica.store is not None
        try:
            if self._closed:
                return False
            if replica.store is None:
                replica.store, replica.probe = self._open_replica(replica.url)
                if replica.store.store_id != self._primary.store_id:
                    self._close_replica(replica)
                    message = f"replica {replica.where} holds another store, not this primary's"
                    raise StorageError(message)
            assert replica.probe is not None
            replica.revision, replica.lag = replica.probe.replay_status()
            replica.probed_at = now
            replica.backoff = 0.0
            replica.error = None
            return True
        except StorageError as error:
            self._skip_locked(replica, error)
            return False
        finally:
            replica.lock.release()

    def skip(self, replica: _Replica, error: Exception) -> None:
        """Stop using ``replica`` for a while after ``error``."""
        with replica.lock:
            self._skip_locked(replica, error)

    def _skip_locked(self, replica: _Replica, error: Exception) -> None:
        if time.monotonic() < replica.skip_until:
            return  # another reader already reported it
        replica.backoff = min(self._max_retry_after, max(self._retry_after, replica.backoff * 2))
        replica.skip_until = time.monotonic() + replica.backoff
        replica.error = str(error)
        replica.probed_at = float("-inf")
        self._close_replica(replica)
        _log.warning("replica %s skipped for %.1fs: %s", replica.where, replica.backoff, error)

    def _close_replica(self, replica: _Replica) -> None:
        store, replica.store, replica.probe = replica.store, None, None
        if store is not None:
            with contextlib.suppress(StorageError):
                store.close()

    def _primary_reader(self, revision: int, now: datetime) -> Reader:
        return self._primary.reader(revision, now=now)


class _FailoverReader:
    """A replica's reader that moves to the primary, at the same revision, if the replica
    fails: the primary has every revision a replica has replayed."""

    __slots__ = ("_inner", "_on_replica", "_replica", "_router")

    def __init__(self, router: ReplicatedStore, replica: _Replica, inner: Reader) -> None:
        self._router = router
        self._replica = replica
        self._inner = inner
        self._on_replica = True

    @property
    def revision(self) -> int:
        return self._inner.revision

    @property
    def now(self) -> datetime:
        return self._inner.now

    @property
    def served_by(self) -> str:
        """Where the reads go now: the replica's address, or "primary"."""
        return self._replica.where if self._on_replica else "primary"

    def _fail_over(self, error: StorageError) -> Reader:
        if not self._on_replica:
            raise error
        self._router.skip(self._replica, error)
        # The same snapshot on the primary: its revision, and the instant expiration is judged at.
        self._inner = self._router._primary_reader(self._inner.revision, self._inner.now)
        self._on_replica = False
        return self._inner

    def subjects(
        self, resource_type: str, resource_id: str, relation: str
    ) -> Sequence[Relationship]:
        try:
            return self._inner.subjects(resource_type, resource_id, relation)
        except StorageError as error:
            return self._fail_over(error).subjects(resource_type, resource_id, relation)

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
        try:
            return self._inner.find(*key)
        except StorageError as error:
            return self._fail_over(error).find(*key)

    def subject_sets(
        self, resource_type: str, resource_id: str, relation: str
    ) -> Sequence[Relationship]:
        try:
            return self._inner.subject_sets(resource_type, resource_id, relation)
        except StorageError as error:
            return self._fail_over(error).subject_sets(resource_type, resource_id, relation)

    def resources(
        self,
        subject_type: str,
        subject_id: str,
        subject_relation: str | None,
        resource_type: str,
        relation: str,
    ) -> Sequence[Relationship]:
        args = (subject_type, subject_id, subject_relation, resource_type, relation)
        try:
            return self._inner.resources(*args)
        except StorageError as error:
            return self._fail_over(error).resources(*args)

    def query(
        self,
        filter: RelationshipFilter,
        *,
        after: RelationshipKey | None = None,
        limit: int | None = None,
    ) -> Iterator[Relationship]:
        # Resume on the primary after the last relationship the replica gave, if it fails.
        last = after
        given = 0
        try:
            for rel in self._inner.query(filter, after=after, limit=limit):
                yield rel
                last = rel.key
                given += 1
            return
        except StorageError as error:
            primary = self._fail_over(error)
        remaining = None if limit is None else limit - given
        yield from primary.query(filter, after=last, limit=remaining)

    def schema(self) -> SchemaRecord | None:
        try:
            return self._inner.schema()
        except StorageError as error:
            return self._fail_over(error).schema()


def split_replica_urls(url: str) -> tuple[str, list[str]]:
    """``url`` without its ``replica`` query parameters, and the replica URLs they name.

    A parameter holds a full (percent-encoded) ``postgresql://`` URL, or just
    ``host[:port]``: the primary's URL with that host and port, same user, database and
    parameters (``postgresql://app@db1/authz?replica=db2&replica=db3:5433``).
    """
    base, question, query = url.partition("?")
    if not question:
        return url, []
    kept: list[str] = []
    named: list[str] = []
    for part in query.split("&"):
        name, _, value = part.partition("=")
        if name == "replica":
            named.append(urllib.parse.unquote(value))
        elif part:
            kept.append(part)
    primary = f"{base}?{'&'.join(kept)}" if kept else base
    return primary, [_replica_url(primary, value) for value in named]


def _replica_url(primary: str, value: str) -> str:
    if not value:
        raise InvalidInputError("an empty replica parameter in the PostgreSQL URL")
    if "://" in value:
        return value
    parts = urllib.parse.urlsplit(primary)
    userinfo, at, _ = parts.netloc.rpartition("@")
    netloc = f"{userinfo}{at}{value}"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))
