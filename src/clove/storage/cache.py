"""A read cache in front of a store whose reads cost I/O (SQLite, later Postgres).

Zanzibar's serving lesson: hot objects read their whole set once. The cache keeps, for the
newest revision it has caught up with, the full relationship set of each
``(resource_type, resource_id, relation)`` it was asked about, and answers ``subjects``,
``find`` and ``subject_sets`` from memory. Moving to a newer revision asks the store which
sets changed in between (``ChangeFeed``) and forgets only those, so a write to one document
does not cool the cache for every other. Readers at older revisions go to the store.
Expiration is judged at the reader's instant, as in every backend.

A reader sees exactly one revision even while the cache moves on under it: every entry
records the revision it was read at, and a reader at ``R`` uses only entries read at or
before ``R``. An entry still in the cache has not changed since it was read (the move to a
newer revision drops every set written in between), so it holds at every revision from the
one it was read at up to the cache's; one read later, after a write, is left to the store.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Protocol

from clove.relationships import (
    Precondition,
    Relationship,
    RelationshipFilter,
    RelationshipUpdate,
)
from clove.schema.ir import ELLIPSIS
from clove.storage.history import HistoryPassThrough
from clove.storage.protocol import Reader, RelationshipKey, SchemaRecord, Store

SetKey = tuple[str, str, str]
_SubjectKey = tuple[str, str, str]


class ChangeFeed(Protocol):
    """An optional store capability: which relationship sets changed between two revisions."""

    def changed_sets(self, after: int, upto: int) -> set[SetKey] | None:
        """``(resource_type, resource_id, relation)`` of every relationship written or deleted
        at a revision in ``(after, upto]``; None if the store cannot tell (then forget all)."""
        ...


class CachedStore(HistoryPassThrough):
    """Wraps ``store`` (which must also be a ``ChangeFeed``) with a shared read cache."""

    def __init__(
        self, store: Store, feed: ChangeFeed, *, max_sets: int = 200_000, max_set_size: int = 5_000
    ) -> None:
        self._store = store
        self._history_store = store  # Watch and GC pass through; see changed_sets for why
        self._feed = feed
        self._max_sets = max_sets
        self._max_set_size = max_set_size
        self._lock = threading.Lock()
        self._revision = -1
        self._sets: dict[SetKey, _CachedSet] = {}

    @property
    def store_id(self) -> str:
        return self._store.store_id

    @property
    def inner(self) -> Store:
        return self._store

    def head_revision(self) -> int:
        return self._store.head_revision()

    def reader(self, revision: int, *, now: datetime | None = None) -> Reader:
        inner = self._store.reader(revision, now=now)
        if revision < self._revision:
            return inner
        if revision > self._revision:
            self._advance(revision)
        if revision != self._revision:
            return inner
        return _CachedReader(self, inner)

    def _advance(self, revision: int) -> None:
        with self._lock:
            if revision <= self._revision:
                return
            changed = (
                None if self._revision < 0 else self._feed.changed_sets(self._revision, revision)
            )
            if changed is None:
                self._sets = {}
            else:
                for key in changed:
                    self._sets.pop(key, None)
            self._revision = revision

    def write(
        self,
        updates: Sequence[RelationshipUpdate],
        *,
        preconditions: Sequence[Precondition] = (),
        delete_filters: Sequence[RelationshipFilter] = (),
        schema_text: str | None = None,
        now: datetime | None = None,
    ) -> int:
        return self._store.write(
            updates,
            preconditions=preconditions,
            delete_filters=delete_filters,
            schema_text=schema_text,
            now=now,
        )

    def delete_expired(self, now: datetime) -> int:
        return self._store.delete_expired(now)

    def close(self) -> None:
        self._sets = {}
        self._store.close()

    def _set(self, reader: Reader, key: SetKey) -> _CachedSet | None:
        """The set ``key`` as ``reader`` sees it; None: too big to keep, ask the store."""
        entry = self._sets.get(key)
        if entry is not None and entry.revision <= reader.revision:
            return entry
        rels = reader.subjects(*key)
        if len(rels) > self._max_set_size:
            return None
        entry = _CachedSet(rels, reader.revision)
        if entry.revision < self._revision:
            return entry  # the cache moved on meanwhile: serve this read, keep nothing
        with self._lock:
            # Keep it only if the cache has not moved past the revision it was read at.
            if reader.revision == self._revision:
                if len(self._sets) >= self._max_sets:
                    self._sets.clear()
                self._sets[key] = entry
        return entry


class _CachedSet:
    """One relationship set as read at ``revision``, indexed by subject; includes
    relationships that may expire (each reader judges them at its own instant)."""

    __slots__ = ("all", "by_subject", "expiring", "revision", "subject_sets")

    def __init__(self, rels: Sequence[Relationship], revision: int) -> None:
        self.revision = revision
        self.all = tuple(rels)
        self.by_subject: dict[_SubjectKey, Relationship] = {
            (r.subject_type, r.subject_id, r.subject_relation): r for r in rels
        }
        self.subject_sets = tuple(r for r in rels if r.subject_relation != ELLIPSIS)
        self.expiring = any(r.expiration is not None for r in rels)


def _live(rels: tuple[Relationship, ...], now: datetime) -> list[Relationship]:
    return [r for r in rels if r.expiration is None or r.expiration > now]


class _CachedReader:
    __slots__ = ("_cache", "_inner", "_now")

    def __init__(self, cache: CachedStore, inner: Reader) -> None:
        self._cache = cache
        self._inner = inner
        self._now = inner.now

    @property
    def revision(self) -> int:
        return self._inner.revision

    @property
    def now(self) -> datetime:
        return self._now

    def subjects(
        self, resource_type: str, resource_id: str, relation: str
    ) -> Sequence[Relationship]:
        entry = self._cache._set(self._inner, (resource_type, resource_id, relation))
        if entry is None:
            return self._inner.subjects(resource_type, resource_id, relation)
        return _live(entry.all, self._now) if entry.expiring else entry.all

    def find(
        self,
        resource_type: str,
        resource_id: str,
        relation: str,
        subject_type: str,
        subject_id: str,
        subject_relation: str,
    ) -> Relationship | None:
        entry = self._cache._set(self._inner, (resource_type, resource_id, relation))
        if entry is None:
            return self._inner.find(
                resource_type, resource_id, relation, subject_type, subject_id, subject_relation
            )
        rel = entry.by_subject.get((subject_type, subject_id, subject_relation))
        if rel is not None and rel.expiration is not None and rel.expiration <= self._now:
            return None
        return rel

    def subject_sets(
        self, resource_type: str, resource_id: str, relation: str
    ) -> Sequence[Relationship]:
        entry = self._cache._set(self._inner, (resource_type, resource_id, relation))
        if entry is None:
            return self._inner.subject_sets(resource_type, resource_id, relation)
        return _live(entry.subject_sets, self._now) if entry.expiring else entry.subject_sets

    def resources(
        self,
        subject_type: str,
        subject_id: str,
        subject_relation: str | None,
        resource_type: str,
        relation: str,
    ) -> Sequence[Relationship]:
        return self._inner.resources(
            subject_type, subject_id, subject_relation, resource_type, relation
        )

    def query(
        self,
        filter: RelationshipFilter,
        *,
        after: RelationshipKey | None = None,
        limit: int | None = None,
    ) -> Iterator[Relationship]:
        return self._inner.query(filter, after=after, limit=limit)

    def schema(self) -> SchemaRecord | None:
        return self._inner.schema()
