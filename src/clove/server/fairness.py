"""Fair sharing of one worker's interpreter between clients, by the work their requests do.

A worker evaluates on one core (the GIL runs one thread at a time), so a client whose
requests are expensive takes that core from everyone else's cheap ones: their latency grows
with the other client's work, whatever the rate limits say. Here each client's recent work
is counted in evaluation steps (decaying by half every ``HALF_LIFE`` seconds), charged as its
requests run. At every checkpoint of its budget, a request whose client has done much more
recent work (past ``HEAVY`` steps, and twice as much) than a client with a request in flight
in this worker pauses (releasing the GIL) until those lighter requests finish, or for at most
``MAX_PAUSE``, then goes on for one more stretch. Clients that all ask cheap questions never
pause.

Requests of heavy clients also take turns in one *lane*: at most one of them runs between
checkpoints at a time (a holder hands the lane on at its next checkpoint when another waits),
so a cheap request competes for the GIL with one heavy thread, not with all of them. Waits
for the lane are bounded (``LANE_WAIT``), so a holder that blocks elsewhere cannot stall the
others. A cheap request of a light client thus waits about one stretch of one heavy request
(a few dozen steps), and heavy requests still progress: they yield, they are never starved.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

HALF_LIFE = 1.0
MAX_PAUSE = 0.002
HEAVY = 20_000.0  # recent steps below which a client never pauses (a few hundred checks)
LANE_WAIT = 0.05


class FairShare:
    """Per worker process: who has requests in flight, and how much each client did lately."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._changed = threading.Condition()
        self._active: dict[str, int] = {}
        self._usage: dict[str, tuple[float, float]] = {}  # client -> (steps, as of when)
        self._lane: int | None = None  # the thread whose heavy request runs now
        self._waiting: deque[int] = deque()  # threads of heavy requests waiting for it

    def enter(self, client: str) -> None:
        """A request of ``client`` starts."""
        with self._changed:
            self._active[client] = self._active.get(client, 0) + 1

    def leave(self, client: str) -> None:
        """A request of ``client`` ends: requests paused for it may go on."""
        with self._changed:
            me = threading.get_ident()
            if me in self._waiting:
                self._waiting.remove(me)
            if self._lane == me:
                self._lane = self._waiting.popleft() if self._waiting else None
            left = self._active.get(client, 0) - 1
            if left > 0:
                self._active[client] = left
            else:
                self._active.pop(client, None)
            self._changed.notify_all()

    def usage(self, client: str) -> float:
        """``client``'s recent work in steps (decayed)."""
        with self._changed:
            return self._decayed(client, self._clock())

    def charge(self, client: str, steps: int) -> float:
        """Count ``steps`` of ``client``'s work, pausing while a lighter client is in flight.

        Returns the seconds paused.
        """
        clock = self._clock
        with self._changed:
            now = clock()
            usage = self._decayed(client, now) + steps
            self._usage[client] = (usage, now)
            waited = usage >= HEAVY and self._take_lane(now)
            if not self._lighter_in_flight(client, usage, now):
                return clock() - now if waited else 0.0
            until = now + MAX_PAUSE
            while True:
                left = until - clock()
                if left <= 0 or not self._changed.wait(left):
                    break
                if not self._lighter_in_flight(client, usage, clock()):
                    break
            return clock() - now

    def _take_lane(self, now: float) -> bool:
        """Run as the one heavy request: hand the lane on if another waits, then wait for it.

        The lane passes first come, first served. True when this had to wait for it.
        """
        me = threading.get_ident()
        if self._lane == me:
            if not self._waiting:
                return False
            self._lane = self._waiting.popleft()  # hand it on, then queue for it again
            self._changed.notify_all()
        elif self._lane is None:
            self._lane = me
            return False
        until = now + LANE_WAIT
        self._waiting.append(me)
        while self._lane != me:
            left = until - self._clock()
            if left <= 0:  # the holder is stuck elsewhere: go on without the lane
                if me in self._waiting:
                    self._waiting.remove(me)
                return True
            self._changed.wait(left)
        return True

    def _lighter_in_flight(self, client: str, usage: float, now: float) -> bool:
        if usage < HEAVY:
            return False
        return any(
            other != client and 2 * self._decayed(other, now) < usage for other in self._active
        )

    def _decayed(self, client: str, now: float) -> float:
        steps, at = self._usage.get(client, (0.0, now))
        return steps * math.exp2(-(now - at) / HALF_LIFE)
