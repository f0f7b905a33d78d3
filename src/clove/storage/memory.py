"""The in-memory backend: MVCC over append-only version lists, indexed both ways."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from clove.errors import (
    PreconditionFailedError,
    RelationshipExistsError,
    StorageError,
)
from clove.relationships import (
    Operation,
    Precondition,
    PreconditionKind,
    Relationship,
    RelationshipFilter,
    RelationshipUpdate,
)
from clove.schema.ir import ELLIPSIS
from clove.storage.history import (
    DEFAULT_GC_WINDOW,
    GarbageReport,
    RevisionChanges,
    changes_from_versions,
    filtered,
    require_retained,
)
from clove.storage.protocol import RelationshipKey, SchemaRecord, require_revision

_LIVE = 1 << 62  # "deleted at" of a version nobody deleted yet

_IndexKey = TypeVar("_IndexKey", bound=tuple[str, ...])


class _Version:
    """One relationship between the revision that wrote it and the one that removed it."""

    __slots__ = ("created", "deleted", "rel")

    def __init__(self, rel: Relationship, created: int) -> None:
        self.rel = rel
        self.created = created
        self.deleted = _LIVE


def _visible(versions: list[_Version], revision: int, now: datetime) -> list[Relationship]:
    return [
        v.rel
        for v in versions
        if v.created <= revision < v.deleted
        and (v.rel.expiration is None or v.rel.expiration > now)
    ]


def _aware(moment: datetime) -> datetime:
    """``moment`` with naive times taken as UTC, as ``Relationship`` takes expirations."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class MemoryReader:
    __slots__ = ("_now", "_revision", "_store")

    def __init__(self, store: MemoryStore, revision: int, now: datetime) -> None:
        self._store = store
        self._revision = revision
        # Expiration is judged at one instant for the reader's whole life.
        self._now = now

    @property
    def revision(self) -> int:
        return self._revision

    @property
    def now(self) -> datetime:
        return self._now

    def subjects(
        self, resource_type: str, resource_id: str, relation: str
    ) -> Sequence[Relationship]:
        self._store._check_open()
        versions = self._store._forward.get((resource_type, resource_id, relation))
        if not versions:
            return ()
        return _visible(versions, self._revision, self._now)

    def find(
        self,
        resource_type: str,
        resource_id: str,
        relation: str,
        subject_type: str,
        subject_id: str,
        subject_relation: str,
    ) -> Relationship | None:
        self._store._check_open()
        key = (resource_type, resource_id, relation, subject_type, subject_id, subject_relation)
        versions = self._store._by_key.get(key)
        if versions:
            revision = self._revision
            for version in versions:
                if version.created <= revision < version.deleted:
                    expiration = version.rel.expiration
                    return version.rel if expiration is None or expiration > self._now else None
        return None

    def subject_sets(
        self, resource_type: str, resource_id: str, relation: str
    ) -> Sequence[Relationship]:
        self._store._check_open()
        versions = self._store._forward_sets.get((resource_type, resource_id, relation))
        if not versions:
            return ()
        return _visible(versions, self._revision, self._now)

    def resources(
        self,
        subject_type: str,
        subject_id: str,
        subject_relation: str | None,
        resource_type: str,
        relation: str,
    ) -> Sequence[Relationship]:
        self._store._check_open()
        versions = self._store._reverse.get((subject_type, subject_id, resource_type, relation))
        if not versions:
            return ()
        found = _visible(versions, self._revision, self._now)
        if subject_relation is None:
            return found
        return [rel for rel in found if rel.subject_relation == subject_relation]

    def query(
        self,
        filter: RelationshipFilter,
        *,
        after: RelationshipKey | None = None,
        limit: int | None = None,
    ) -> Iterator[Relationship]:
        store = self._store
        store._check_open()
        if filter.resource_type is not None and filter.resource_id is not None and filter.relation:
            key = (filter.resource_type, filter.resource_id, filter.relation)
            candidates = store._forward.get(key, [])
        else:
            candidates = [v for versions in list(store._forward.values()) for v in versions]
        matched = sorted(
            (
                rel
                for rel in _visible(candidates, self._revision, self._now)
                if filter.matches(rel) and (after is None or rel.key > after)
            ),
            key=lambda rel: rel.key,
        )
        yield from matched if limit is None else matched[:limit]

    def schema(self) -> SchemaRecord | None:
        self._store._check_open()
        found = None
        for record in self._store._schemas:
            if record.revision > self._revision:
                break
            found = record
        return found


class MemoryStore:
    """Relationships kept in process memory; lost when the process ends."""

    def __init__(self, *, gc_window: timedelta = DEFAULT_GC_WINDOW) -> None:
        self._store_id = f"memory-{uuid.uuid4().hex}"
        self._gc_window = gc_window
        # What each revision wrote (the change log), and the oldest revision still served.
        self._commits: dict[int, _Commit] = {}
        self._oldest = 0
        self._lock = threading.Lock()
        self._head = 0
        self._live: dict[RelationshipKey, _Version] = {}
        self._forward: dict[tuple[str, str, str], list[_Version]] = {}
        self._forward_sets: dict[tuple[str, str, str], list[_Version]] = {}
        self._by_key: dict[RelationshipKey, list[_Version]] = {}
        self._reverse: dict[tuple[str, str, str, str], list[_Version]] = {}
        self._schemas: list[SchemaRecord] = []
        self._closed = False

    @property
    def store_id(self) -> str:
        return self._store_id

    def head_revision(self) -> int:
        self._check_open()
        return self._head

    def reader(self, revision: int, *, now: datetime | None = None) -> MemoryReader:
        return self._reader(revision, datetime.now(UTC) if now is None else _aware(now))

    def _reader(self, revision: int, now: datetime) -> MemoryReader:
        self._check_open()
        require_revision(revision, self._head)
        require_retained(revision, self._oldest, self._gc_window)
        return MemoryReader(self, revision, now)

    def write(
        self,
        updates: Sequence[RelationshipUpdate],
        *,
        preconditions: Sequence[Precondition] = (),
        delete_filters: Sequence[RelationshipFilter] = (),
        schema_text: str | None = None,
        now: datetime | None = None,
    ) -> int:
        self._check_open()
        now = datetime.now(UTC) if now is None else _aware(now)
        with self._lock:
            # Preconditions and delete filters see the head as of ``now``, like CREATE does.
            head = self._reader(self._head, now)
            for precondition in preconditions:
                exists = next(head.query(precondition.filter, limit=1), None) is not None
                if exists != (precondition.kind is PreconditionKind.MUST_MATCH):
                    raise PreconditionFailedError(_precondition_message(precondition))
            # Stage the whole write first, so a failure leaves nothing applied.
            removals: dict[RelationshipKey, _Version] = {}
            for filter in delete_filters:
                for rel in head.query(filter):
                    removals[rel.key] = self._live[rel.key]
            additions: dict[RelationshipKey, Relationship] = {}
            for update in updates:
                rel = update.relationship
                key = rel.key
                current = self._live.get(key)
                live = current is not None and key not in removals and not current.rel.expired(now)
                if update.operation is Operation.DELETE:
                    additions.pop(key, None)
                    if current is not None:
                        removals[key] = current
                    continue
                if update.operation is Operation.CREATE and (live or key in additions):
                    raise RelationshipExistsError(f"relationship {rel} already exists")
                if current is not None:
                    removals[key] = current
                additions[key] = rel
            revision = self._head + 1
            commit = _Commit(committed_at=datetime.now(UTC), schema_text=schema_text)
            for key, version in removals.items():
                version.deleted = revision
                del self._live[key]
                commit.retired.append(version)
            for key, rel in additions.items():
                commit.created.append(self._add(key, rel, revision))
            self._commits[revision] = commit
            if schema_text is not None:
                self._schemas.append(SchemaRecord(text=schema_text, revision=revision))
            self._head = revision
            return revision

    def _add(self, key: RelationshipKey, rel: Relationship, revision: int) -> _Version:
        version = _Version(rel, revision)
        self._live[key] = version
        forward = (rel.resource_type, rel.resource_id, rel.relation)
        self._forward.setdefault(forward, []).append(version)
        self._by_key.setdefault(key, []).append(version)
        if rel.subject_relation != ELLIPSIS:
            self._forward_sets.setdefault(forward, []).append(version)
        reverse = (rel.subject_type, rel.subject_id, rel.resource_type, rel.relation)
        self._reverse.setdefault(reverse, []).append(version)
        return version

    def delete_expired(self, now: datetime) -> int:
        """Drop every stored version expired at ``now`` (live or historical); count them."""
        self._check_open()
        now = _aware(now)
        with self._lock:
            for key in [key for key, v in self._live.items() if v.rel.expired(now)]:
                del self._live[key]
            _prune_expired(self._reverse, now)
            _prune_expired(self._forward_sets, now)
            _prune_expired(self._by_key, now)
            for commit in self._commits.values():
                commit.drop_expired(now)
            return _prune_expired(self._forward, now)

    def close(self) -> None:
        self._closed = True

    # --- history: the change log (Watch) and garbage collection ---------------------------

    @property
    def gc_window(self) -> timedelta:
        return self._gc_window

    def oldest_revision(self) -> int:
        self._check_open()
        return self._oldest

    def changes(
        self, after: int, upto: int, filter: RelationshipFilter | None = None
    ) -> list[RevisionChanges]:
        self._check_open()
        with self._lock:
            require_revision(upto, self._head)
            require_retained(after, self._oldest, self._gc_window)
            found = [
                changes_from_versions(
                    revision,
                    commit.committed_at,
                    (v.rel for v in commit.created),
                    (v.rel for v in commit.retired),
                    commit.schema_text,
                )
                for revision in range(after + 1, upto + 1)
                if (commit := self._commits.get(revision)) is not None
            ]
        return found if filter is None else filtered(found, filter)

    def collect_garbage(self, now: datetime) -> GarbageReport:
        self._check_open()
        now = _aware(now)
        before = now - self._gc_window
        with self._lock:
            young = [r for r, commit in self._commits.items() if commit.committed_at > before]
            oldest = max(self._oldest, min(young) - 1 if young else self._head)
            self._oldest = oldest
            versions = _prune_retired(self._forward, oldest)
            _prune_retired(self._forward_sets, oldest)
            _prune_retired(self._by_key, oldest)
            _prune_retired(self._reverse, oldest)
            old = [revision for revision in self._commits if revision < oldest]
            for revision in old:
                del self._commits[revision]
            in_force = [i for i, record in enumerate(self._schemas) if record.revision <= oldest]
            schemas = in_force[-1] if in_force else 0
            del self._schemas[:schemas]
        expired = self.delete_expired(now)
        return GarbageReport(
            oldest_revision=oldest,
            versions=versions,
            revisions=len(old),
            schemas=schemas,
            expired=expired,
        )

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError("the store is closed")


def _prune_expired(index: dict[_IndexKey, list[_Version]], now: datetime) -> int:
    """Drop versions expired at ``now`` from ``index``; return how many were dropped."""
    removed = 0
    for key, versions in list(index.items()):
        kept = [v for v in versions if not v.rel.expired(now)]
        if len(kept) == len(versions):
            continue
        removed += len(versions) - len(kept)
        # Replace the list rather than edit it: readers may be iterating over it.
        if kept:
            index[key] = kept
        else:
            del index[key]
    return removed


def _prune_retired(index: dict[_IndexKey, list[_Version]], oldest: int) -> int:
    """Drop versions retired at or before ``oldest`` from ``index``; return how many."""
    removed = 0
    for key, versions in list(index.items()):
        kept = [v for v in versions if v.deleted > oldest]
        if len(kept) == len(versions):
            continue
        removed += len(versions) - len(kept)
        if kept:
            index[key] = kept
        else:
            del index[key]
    return removed


@dataclass(slots=True, kw_only=True)
class _Commit:
    """What one revision wrote: the versions it created and retired, and its schema."""

    committed_at: datetime
    schema_text: str | None
    created: list[_Version] = field(default_factory=list)
    retired: list[_Version] = field(default_factory=list)

    def drop_expired(self, now: datetime) -> None:
        self.created = [v for v in self.created if not v.rel.expired(now)]
        self.retired = [v for v in self.retired if not v.rel.expired(now)]


def _precondition_message(precondition: Precondition) -> str:
    verb = "matched" if precondition.kind is PreconditionKind.MUST_NOT_MATCH else "did not match"
    return f"precondition failed: filter {precondition.filter} {verb} a relationship"
