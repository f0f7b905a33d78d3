"""Per-client limit state shared by every worker process of one ``clove serve``.

Without it each worker keeps its own token bucket and in-flight count, so ``--workers N``
gives every client N times its limits. The supervisor creates one shared-memory block with a
slot per client and a lock per slot; each worker attaches to it, so a client's rate and
concurrency are bounded across the whole server.

A slot holds float64 values: the bucket's tokens, when it was last refilled
(``time.monotonic``, one clock for every process on the host), the same two for the bucket
of evaluation steps (the client's cost quota), then per worker the client's requests in
flight and its open streams. Counts are kept per worker so that when a worker
dies with requests in flight, the supervisor zeroes its column before restarting it and the
client does not lose those slots for good. A worker killed while holding a slot's lock (a
window of a few microseconds) would leave that client's slot locked: admission then times
out after ``LOCK_TIMEOUT`` seconds and refuses with a clear message instead of hanging.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing import shared_memory
from typing import Protocol

from clove.errors import ResourceExhaustedError

LOCK_TIMEOUT = 1.0
_TOKENS = 0
_UPDATED = 1
_COST_TOKENS = 2
_COST_UPDATED = 3
_COUNTS = 4  # then ``workers`` in-flight counts, then ``workers`` open-stream counts
_FLOAT = 8


@dataclass(frozen=True, slots=True)
class LedgerHandle:
    """What a worker needs to attach: picklable, so spawned workers receive it as an argument."""

    name: str
    clients: tuple[str, ...]
    workers: int
    locks: tuple[SlotLock, ...]


class SlotLock(Protocol):
    """A lock per client slot: ``multiprocessing``'s across processes, else ``threading``'s."""

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool: ...

    def release(self) -> None: ...


class ClientLedger:
    """Token buckets and in-flight counts per client, in memory every worker shares."""

    def __init__(
        self,
        memory: shared_memory.SharedMemory | None,
        handle: LedgerHandle,
        worker: int,
        owner: bool,
    ) -> None:
        self._memory = memory
        self._handle = handle
        self._owner = owner
        self._worker = worker
        self._width = _COUNTS + 2 * handle.workers
        buffer = None if memory is None else memory.buf
        if buffer is None:
            buffer = memoryview(bytearray(len(handle.clients) * self._width * _FLOAT))
        self._values = buffer.cast("d")
        self._index = {client: number for number, client in enumerate(handle.clients)}

    @classmethod
    def create(
        cls,
        clients: Sequence[str],
        *,
        burst: int,
        cost_burst: float = 0.0,
        workers: int = 1,
        shared: bool = True,
    ) -> ClientLedger:
        """A new ledger (owned: ``close`` frees it), every bucket full, nothing in flight.

        ``shared`` False keeps it in this process's memory, with thread locks: for a server
        that is one process, where it costs less per admission.
        """
        width = _COUNTS + 2 * workers
        memory = None
        locks: tuple[SlotLock, ...] = tuple(threading.Lock() for _ in clients)
        if shared:
            memory = shared_memory.SharedMemory(
                create=True, size=max(1, len(clients)) * width * _FLOAT
            )
            context = multiprocessing.get_context("spawn")
            locks = tuple(context.Lock() for _ in clients)
        handle = LedgerHandle(
            name="" if memory is None else memory.name,
            clients=tuple(clients),
            workers=workers,
            locks=locks,
        )
        ledger = cls(memory, handle, 0, owner=True)
        now = time.monotonic()
        for slot in range(len(clients)):
            base = slot * width
            ledger._values[base + _TOKENS] = float(burst)
            ledger._values[base + _UPDATED] = now
            ledger._values[base + _COST_TOKENS] = cost_burst
            ledger._values[base + _COST_UPDATED] = now
            for column in range(_COUNTS, width):
                ledger._values[base + column] = 0.0
        return ledger

    @classmethod
    def attach(cls, handle: LedgerHandle, *, worker: int) -> ClientLedger:
        """The shared ledger ``handle`` names, as seen by worker number ``worker``."""
        if not handle.name:
            raise ValueError("this ledger lives in one process's memory; it cannot be attached")
        if not 0 <= worker < handle.workers:
            raise ValueError(f"worker {worker} is outside the ledger's {handle.workers} workers")
        # Workers are spawned by the supervisor and share its resource tracker, so the
        # registration this adds is the owner's own and nothing is unlinked when one exits.
        memory = shared_memory.SharedMemory(name=handle.name)
        return cls(memory, handle, worker, owner=False)

    @property
    def handle(self) -> LedgerHandle:
        return self._handle

    def knows(self, client: str) -> bool:
        return client in self._index

    def take(
        self,
        client: str,
        *,
        cost: float,
        rate: float,
        burst: float,
        concurrency: int,
        cost_rate: float | None = None,
        cost_burst: float = 0.0,
    ) -> None:
        """Take ``cost`` tokens and one in-flight slot, or raise ResourceExhaustedError.

        With a ``cost_rate``, a client whose bucket of steps is empty is refused too.
        """
        slot = self._index[client]
        lock = self._handle.locks[slot]
        if not lock.acquire(timeout=LOCK_TIMEOUT):
            raise ResourceExhaustedError(f"client {client!r}: its limits are busy; retry later")
        try:
            values = self._values
            base = slot * self._width
            now = time.monotonic()
            tokens = min(burst, values[base + _TOKENS] + (now - values[base + _UPDATED]) * rate)
            values[base + _UPDATED] = now
            values[base + _TOKENS] = tokens
            first = base + _COUNTS
            running = sum(values[first : first + self._handle.workers])
            if running >= concurrency:
                raise ResourceExhaustedError(
                    f"client {client!r} has {running:.0f} requests in flight, its limit; "
                    "retry later"
                )
            if tokens < cost:
                raise ResourceExhaustedError(
                    f"client {client!r} exceeded its rate limit of {rate:g} requests/s; retry later"
                )
            if cost_rate is not None and self._refill_cost(base, now, cost_rate, cost_burst) <= 0:
                raise ResourceExhaustedError(
                    f"client {client!r} used up its quota of {cost_rate:g} evaluation steps/s; "
                    "retry later"
                )
            values[base + _TOKENS] = tokens - cost
            values[first + self._worker] += 1
        finally:
            lock.release()

    def charge(self, client: str, steps: float, *, rate: float, burst: float) -> float:
        """Take ``steps`` from ``client``'s bucket of steps; return what is left (may be < 0)."""
        slot = self._index[client]
        lock = self._handle.locks[slot]
        if not lock.acquire(timeout=LOCK_TIMEOUT):
            raise ResourceExhaustedError(f"client {client!r}: its limits are busy; retry later")
        try:
            base = slot * self._width
            left = self._refill_cost(base, time.monotonic(), rate, burst) - steps
            self._values[base + _COST_TOKENS] = left
            return left
        finally:
            lock.release()

    def _refill_cost(self, base: int, now: float, rate: float, burst: float) -> float:
        values = self._values
        tokens = values[base + _COST_TOKENS] + (now - values[base + _COST_UPDATED]) * rate
        tokens = min(burst, tokens)
        values[base + _COST_TOKENS] = tokens
        values[base + _COST_UPDATED] = now
        return tokens

    def release(self, client: str) -> None:
        """Give back the in-flight slot ``take`` took."""
        self._add(client, _COUNTS + self._worker, -1)

    def open_stream(self, client: str, *, limit: int) -> None:
        """Count one more open stream of ``client``, or raise ResourceExhaustedError."""
        slot = self._index[client]
        lock = self._handle.locks[slot]
        if not lock.acquire(timeout=LOCK_TIMEOUT):
            raise ResourceExhaustedError(f"client {client!r}: its limits are busy; retry later")
        try:
            first = slot * self._width + _COUNTS + self._handle.workers
            streams = sum(self._values[first : first + self._handle.workers])
            if streams >= limit:
                raise ResourceExhaustedError(
                    f"client {client!r} has {streams:.0f} watches open, its limit; "
                    "close one or retry later"
                )
            self._values[first + self._worker] += 1
        finally:
            lock.release()

    def close_stream(self, client: str) -> None:
        self._add(client, _COUNTS + self._handle.workers + self._worker, -1)

    def forget_worker(self, worker: int) -> None:
        """Zero what worker ``worker`` held: called before a dead worker is restarted."""
        for slot, lock in enumerate(self._handle.locks):
            base = slot * self._width + _COUNTS
            lock.acquire()
            try:
                self._values[base + worker] = 0.0
                self._values[base + self._handle.workers + worker] = 0.0
            finally:
                lock.release()

    def close(self) -> None:
        """Detach; the owner also frees the memory (workers must have stopped by then)."""
        self._values.release()
        if self._memory is not None:
            self._memory.close()
            if self._owner:
                self._memory.unlink()

    def _add(self, client: str, column: int, amount: float) -> None:
        slot = self._index[client]
        lock = self._handle.locks[slot]
        # Giving back must not fail: wait for the lock as long as it takes.
        lock.acquire()
        try:
            self._values[slot * self._width + column] += amount
        finally:
            lock.release()
