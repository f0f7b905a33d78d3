"""Zanzibar's lock table: identical checks in flight at once are evaluated once.

Keys include the client, so one client's requests never wait on, or learn timing from,
another's; and the exact revision, so a shared answer is the answer every waiter asked for.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import Generic, TypeVar

from clove.errors import DeadlineExceededError, RequestCancelledError

T = TypeVar("T")


class InflightRequests(Generic[T]):
    """Runs ``compute`` once per key among concurrent callers; the others share its result."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._table: dict[Hashable, Future[T]] = {}

    def run(
        self, key: Hashable, compute: Callable[[], T], *, timeout: float | None = None
    ) -> tuple[T, bool]:
        """``(result, shared)``: ``shared`` is True when another caller computed it."""
        with self._lock:
            pending = self._table.get(key)
            if pending is None:
                future: Future[T] = Future()
                self._table[key] = future
        if pending is not None:
            try:
                return pending.result(timeout=timeout), True
            except (DeadlineExceededError, RequestCancelledError):
                # The first caller's own deadline or cancellation: this one still has its own.
                return compute(), False
        try:
            result = compute()
        except BaseException as error:
            future.set_exception(error)
            raise
        else:
            future.set_result(result)
            return result, False
        finally:
            with self._lock:
                del self._table[key]
