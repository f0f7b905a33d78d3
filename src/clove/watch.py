"""Watch: every committed change, in revision order, as it commits.

A watch follows the store's change log (``storage.history``): one ``WatchEvent`` per
committed write, carrying all of that write's updates together and a token to resume from.
Resuming with ``Database.watch(after=event.token)`` continues with the next write, so a
consumer that records the token of each event it has handled sees every change exactly
once across reconnects, as long as it comes back within the garbage-collection window.

Updates are net changes, read from the stored versions: CREATE for a relationship that was
not stored before the write, TOUCH for one it replaced (a TOUCH of an existing relationship
is one TOUCH, never a DELETE and a CREATE), DELETE for one it removed. The operation a
client sent is not recorded: a TOUCH of a new relationship reads as CREATE. Expiration is
not a change and produces no event.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType

from clove.consistency import encode_token
from clove.errors import InvalidInputError, StorageError
from clove.relationships import RelationshipFilter, RelationshipUpdate
from clove.storage.history import ChangeLog, RevisionChanges

# How many revisions one poll reads at most: bounds memory when catching up on a backlog.
_REVISIONS_PER_READ = 256


@dataclass(frozen=True, slots=True, kw_only=True)
class WatchEvent:
    """One committed write, as far as the watch's filter selects it.

    ``token`` names ``revision``: pass it as ``after`` to resume just after this write, or
    read at it with ``Consistency.at_exact_snapshot``. ``schema_text`` is the schema the
    write stored, if it stored one (and the watch reports schema changes).
    """

    revision: int
    token: str
    committed_at: datetime
    updates: tuple[RelationshipUpdate, ...]
    schema_text: str | None = None


class Watch:
    """A blocking iterator of ``WatchEvent``; ``Database.watch`` opens one.

    Iteration waits for new commits, polling the head every ``poll_interval`` seconds, and
    ends when ``close()`` is called (from any thread), when ``stop`` is set, or when no
    event has come for ``timeout`` seconds (None: never). Storage errors, such as a
    resume point that garbage collection has passed, raise from ``next``.
    """

    def __init__(
        self,
        log: ChangeLog,
        head: Callable[[], int],
        store_id: str,
        *,
        after: int,
        filter: RelationshipFilter | None,
        schema_changes: bool,
        poll_interval: float,
        timeout: float | None,
        stop: threading.Event | None,
    ) -> None:
        if poll_interval <= 0:
            raise InvalidInputError(f"poll_interval must be positive, not {poll_interval}")
        if timeout is not None and timeout < 0:
            raise InvalidInputError(f"timeout must not be negative, not {timeout}")
        self._log = log
        self._head = head
        self._store_id = store_id
        self._after = after
        self._filter = filter
        self._schema_changes = schema_changes
        self._poll_interval = poll_interval
        self._timeout = timeout
        self._stop = stop
        self._closed = threading.Event()
        self._pending: collections.deque[WatchEvent] = collections.deque()
        self._idle_since = time.monotonic()

    @property
    def revision(self) -> int:
        """The revision up to which this watch has handed out every event it will ever give.

        Past the last event's revision when later writes had nothing the filter selects.
        """
        return self._pending[0].revision - 1 if self._pending else self._after

    @property
    def token(self) -> str:
        """A token for ``revision``: resuming from it skips nothing not yet handed out.

        A filtered watch over a quiet stretch should save this rather than its last event's
        token, which may grow older than the garbage-collection window.
        """
        return encode_token(self._store_id, self.revision)

    def close(self) -> None:
        """End the iteration; a ``next`` waiting in another thread returns promptly."""
        self._closed.set()

    def __enter__(self) -> Watch:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __iter__(self) -> Watch:
        return self

    def __next__(self) -> WatchEvent:
        while not self._pending:
            if self._stopped():
                raise StopIteration
            try:
                head = self._head()
                if head > self._after:
                    self._read(min(head, self._after + _REVISIONS_PER_READ))
                    continue
            except StorageError:
                if self._closed.is_set():
                    raise StopIteration from None
                raise
            wait = self._poll_interval
            if self._timeout is not None:
                left = self._idle_since + self._timeout - time.monotonic()
                if left <= 0:
                    raise StopIteration
                wait = min(wait, left)
            self._closed.wait(wait)
        self._idle_since = time.monotonic()
        return self._pending.popleft()

    def _stopped(self) -> bool:
        return self._closed.is_set() or (self._stop is not None and self._stop.is_set())

    def _read(self, upto: int) -> None:
        for change in self._log.changes(self._after, upto, self._filter):
            event = self._event(change)
            if event is not None:
                self._pending.append(event)
        self._after = upto

    def _event(self, change: RevisionChanges) -> WatchEvent | None:
        schema_text = change.schema_text if self._schema_changes else None
        if not change.updates and schema_text is None:
            return None
        return WatchEvent(
            revision=change.revision,
            token=encode_token(self._store_id, change.revision),
            committed_at=change.committed_at,
            updates=change.updates,
            schema_text=schema_text,
        )
