"""What one request may spend: a deadline, a cancellation flag and an allowance of steps.

The engine charges a budget for every evaluation step (a question evaluated, a node of a
lookup expanded) and, every few steps, checks it: past the deadline the work stops with
DeadlineExceededError, once cancelled with RequestCancelledError, past the allowance with
ResourceExhaustedError. A request's work therefore stops within a few steps of its limit,
wherever it is in the walk, instead of running to the end for an answer nobody reads.
``spent`` is the request's cost, which servers charge to the client that asked.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from clove.errors import (
    DeadlineExceededError,
    InvalidInputError,
    RequestCancelledError,
    ResourceExhaustedError,
)

# Steps between checks of the clock and the flag: a check costs about as much as a step.
CHECK_EVERY = 32


class Budget:
    """A request's limits; share one across everything the request evaluates."""

    __slots__ = (
        "_cancelled",
        "_charged",
        "_clock",
        "_deadline",
        "_max_steps",
        "_next_check",
        "_on_check",
        "spent",
    )

    def __init__(
        self,
        *,
        timeout: float | None = None,
        cancelled: threading.Event | None = None,
        max_steps: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_check: Callable[[int], None] | None = None,
    ) -> None:
        """``on_check`` is called at every check with the steps spent since the last one: a
        server charges them to the client and may pause the request there (fair sharing)."""
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout >= 0
        ):  # not a number, negative or NaN
            raise InvalidInputError(f"timeout must be a number of seconds >= 0, not {timeout!r}")
        if max_steps is not None and (
            isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 0
        ):
            raise InvalidInputError(f"max_steps must be a whole number >= 0, not {max_steps!r}")
        self._clock = clock
        self._deadline = None if timeout is None else clock() + timeout
        self._cancelled = cancelled
        self._max_steps = max_steps
        self._next_check = 0
        self._on_check = on_check
        self._charged = 0
        self.spent = 0

    @property
    def deadline(self) -> float | None:
        """The instant (of ``clock``) at which the work stops (None: no deadline)."""
        return self._deadline

    def remaining(self) -> float | None:
        """Seconds left before the deadline (None: no deadline)."""
        if self._deadline is None:
            return None
        return max(0.0, self._deadline - self._clock())

    def settle(self) -> None:
        """Report the steps not yet passed to ``on_check`` (call once the work is done)."""
        if self._on_check is not None and self.spent > self._charged:
            steps, self._charged = self.spent - self._charged, self.spent
            self._on_check(steps)

    def spend(self, steps: int = 1) -> None:
        """Charge ``steps``; raises when a limit has been passed (checked every few steps)."""
        self.spent += steps
        if self.spent >= self._next_check:
            self._next_check = self.spent + CHECK_EVERY
            if self._max_steps is not None:  # the allowance is exact, not every few steps
                self._next_check = min(self._next_check, self._max_steps + 1)
            self.check()

    def check(self) -> None:
        """Raise if the request was cancelled, is past its deadline or has spent too much."""
        self.settle()
        if self._cancelled is not None and self._cancelled.is_set():
            raise RequestCancelledError("the request was cancelled; its work was stopped")
        if self._deadline is not None and self._clock() >= self._deadline:
            raise DeadlineExceededError("the request ran past its deadline; its work was stopped")
        if self._max_steps is not None and self.spent > self._max_steps:
            raise ResourceExhaustedError(
                f"the request needs more than {self._max_steps} evaluation steps"
            )
