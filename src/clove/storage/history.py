"""What a store keeps of its past: the change log that Watch reads, and garbage collection.

Every backend keeps old versions of relationships so that readers at older revisions see
their exact snapshot. The same versions are the change log: a version created at revision
``r`` was written by ``r``, a version retired at ``r`` was removed or replaced by ``r``.
Garbage collection bounds how far back both reach: it picks the newest revision committed
before the window (``oldest``), deletes every version retired at or before it and the
bookkeeping of older revisions, and from then on refuses readers and watchers before it.

Expiration is not a change: a relationship that expires just stops being visible, and no
event says so. Removing expired relationships (``delete_expired``, or garbage collection)
removes them from the history too, so a watcher that replays the past after that sees
neither their creation nor a deletion.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from clove.errors import RevisionUnavailableError, StorageError
from clove.relationships import (
    Operation,
    Relationship,
    RelationshipFilter,
    RelationshipUpdate,
)
from clove.storage.protocol import RelationshipKey

# SpiceDB's default: a day of history.
DEFAULT_GC_WINDOW = timedelta(hours=24)


@dataclass(frozen=True, slots=True, kw_only=True)
class RevisionChanges:
    """What one committed write changed, as the store recorded it.

    ``updates`` are net changes, in ``Relationship.key`` order: CREATE for a relationship
    that was not stored before the write, TOUCH for one the write replaced (even with
    identical attributes), DELETE for one it removed. ``schema_text`` is the schema the
    write stored, if it stored one.
    """

    revision: int
    committed_at: datetime
    updates: tuple[RelationshipUpdate, ...]
    schema_text: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class GarbageReport:
    """What one garbage collection removed, and the oldest revision still served."""

    oldest_revision: int
    versions: int
    revisions: int
    schemas: int
    expired: int


@runtime_checkable
class ChangeLog(Protocol):
    """An optional store capability: the committed changes between two revisions."""

    def changes(
        self, after: int, upto: int, filter: RelationshipFilter | None = None
    ) -> list[RevisionChanges]:
        """The writes at revisions in ``(after, upto]``, oldest first, one per revision.

        With ``filter``, only updates it matches are listed, and a revision left with no
        update and no schema is left out. Raises RevisionUnavailableError when ``after`` is
        older than ``oldest_revision()``, and when ``upto`` is not committed yet.
        """
        ...

    def oldest_revision(self) -> int:
        """The oldest revision readers and watchers may start from (0 until the first GC)."""
        ...


@runtime_checkable
class GarbageCollector(Protocol):
    """An optional store capability: forgetting history older than a window."""

    @property
    def gc_window(self) -> timedelta:
        """How much history garbage collection keeps."""
        ...

    def collect_garbage(self, now: datetime) -> GarbageReport:
        """Delete history older than ``gc_window`` before ``now``, and relationships expired
        at ``now``. Readers at revisions kept are unaffected."""
        ...


class HistoryPassThrough:
    """``ChangeLog`` and ``GarbageCollector`` for a store wrapper, answered by the store it wraps.

    A wrapper (the read cache, the replica router) sets ``_history_store`` to the store whose
    history it passes through; a wrapped store without that capability raises StorageError.
    """

    _history_store: object

    @property
    def gc_window(self) -> timedelta:
        return self._collector().gc_window

    def oldest_revision(self) -> int:
        return self._change_log().oldest_revision()

    def changes(
        self, after: int, upto: int, filter: RelationshipFilter | None = None
    ) -> list[RevisionChanges]:
        return self._change_log().changes(after, upto, filter)

    def collect_garbage(self, now: datetime) -> GarbageReport:
        return self._collector().collect_garbage(now)

    def _change_log(self) -> ChangeLog:
        store = self._history_store
        if not isinstance(store, ChangeLog):
            raise StorageError(f"{type(store).__name__} keeps no change log")
        return store

    def _collector(self) -> GarbageCollector:
        store = self._history_store
        if not isinstance(store, GarbageCollector):
            raise StorageError(f"{type(store).__name__} does not collect garbage")
        return store


def changes_from_versions(
    revision: int,
    committed_at: datetime,
    created: Iterable[Relationship],
    retired: Iterable[Relationship],
    schema_text: str | None,
) -> RevisionChanges:
    """The net updates of one revision from the versions it created and the ones it retired.

    A key both retired and created was replaced: one TOUCH, never a DELETE and a CREATE.
    """
    put = {rel.key: rel for rel in created}
    removed = {rel.key: rel for rel in retired}
    updates: list[tuple[RelationshipKey, RelationshipUpdate]] = []
    for key, rel in put.items():
        operation = Operation.TOUCH if key in removed else Operation.CREATE
        updates.append((key, RelationshipUpdate(operation=operation, relationship=rel)))
    for key, rel in removed.items():
        if key not in put:
            updates.append((key, RelationshipUpdate(operation=Operation.DELETE, relationship=rel)))
    updates.sort(key=lambda item: item[0])
    return RevisionChanges(
        revision=revision,
        committed_at=committed_at,
        updates=tuple(update for _, update in updates),
        schema_text=schema_text,
    )


def require_retained(revision: int, oldest: int, window: timedelta) -> None:
    """Raise RevisionUnavailableError if garbage collection has passed ``revision``."""
    if revision < oldest:
        message = (
            f"revision {revision} is older than the garbage-collection window"
            f" ({describe_window(window)}); the oldest revision kept is {oldest}:"
            " read the current state again and continue from a fresh token"
        )
        raise RevisionUnavailableError(message)


def describe_window(window: timedelta) -> str:
    """``window`` for people: ``24h``, ``90m``, ``2.5s``."""
    seconds = window.total_seconds()
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        # Days only from two on: "24h" reads better than "1d".
        if seconds >= max(size, 2 * size if unit == "d" else size) and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


class RetentionGuard:
    """Whether a revision is surely still kept, from what this process has seen: no I/O.

    Garbage collection at time ``t`` keeps every revision from the newest one committed at
    or before ``t - window``. A head ``h`` seen at time ``s`` means revision ``h + 1`` was
    committed after ``s``; so while ``s`` is younger than the window, no collection can
    have passed ``h`` nor any later revision. The guard keeps a few such sightings and
    trusts them for half the window, a margin for clock differences between the machines
    and processes sharing a store, which must all collect with (about) the same window.
    When the guard cannot vouch for a revision, the store asks the database.
    """

    __slots__ = ("_oldest_head", "_oldest_until", "_sightings", "_spacing", "_trust")

    def __init__(self, window: timedelta) -> None:
        self._trust = window.total_seconds() / 2
        # One sighting per 1/64 of the trusted span is plenty: the oldest fresh one matters.
        self._spacing = self._trust / 64
        self._sightings: collections.deque[tuple[int, float]] = collections.deque()
        # The oldest sighting and until when it is trusted: ``retained``'s fast path.
        self._oldest_head = 0
        self._oldest_until = float("-inf")

    def saw_head(self, head: int, since: float) -> None:
        """``head`` was the newest revision at some moment after ``since`` (monotonic)."""
        sightings = self._sightings
        if sightings and (since - sightings[-1][1] < self._spacing or head < sightings[-1][0]):
            return
        sightings.append((head, since))
        if len(sightings) == 1:
            self._oldest_head, self._oldest_until = head, since + self._trust

    def retained(self, revision: int) -> bool:
        if revision >= self._oldest_head and time.monotonic() < self._oldest_until:
            return True
        sightings = self._sightings
        deadline = time.monotonic() - self._trust
        while sightings and sightings[0][1] <= deadline:
            sightings.popleft()
        if not sightings:
            self._oldest_until = float("-inf")
            return False
        self._oldest_head, since = sightings[0]
        self._oldest_until = since + self._trust
        return self._oldest_head <= revision

    def forget(self) -> None:
        """Drop every sighting (after a collection by this process, whose clock may differ)."""
        self._sightings.clear()
        self._oldest_until = float("-inf")


def filtered(
    changes: Sequence[RevisionChanges], filter: RelationshipFilter
) -> list[RevisionChanges]:
    """``changes`` with only the updates ``filter`` matches; empty revisions left out."""
    kept: list[RevisionChanges] = []
    for change in changes:
        updates = tuple(u for u in change.updates if filter.matches(u.relationship))
        if updates or change.schema_text is not None:
            kept.append(
                RevisionChanges(
                    revision=change.revision,
                    committed_at=change.committed_at,
                    updates=updates,
                    schema_text=change.schema_text,
                )
            )
    return kept
