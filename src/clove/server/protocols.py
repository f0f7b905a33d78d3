"""What every API surface of the server shares: who is calling, whether they may, what it cost.

The gRPC and HTTP surfaces depend on these protocols only; ``clove serve`` wires in the
implementations (bearer keys, per-client limits, Prometheus metrics).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from contextvars import ContextVar
from typing import Protocol

from clove.server.scopes import Scope


class Tab:
    """What one admitted request has cost: its budget charges the steps as the work runs.

    ``charge`` may pause the request (another client's lighter work goes first) or raise
    ``ResourceExhaustedError`` (the client's quota of steps is used up), which stops it.
    """

    __slots__ = ("_charge", "client", "spent")

    def __init__(self, client: str, charge: Callable[[str, int], None] | None = None) -> None:
        self.client = client
        self.spent = 0
        self._charge = charge

    def charge(self, steps: int) -> None:
        self.spent += steps
        if self._charge is not None:
            self._charge(self.client, steps)


# The tab of the request the current thread serves (set by each surface once admitted).
current_tab: ContextVar[Tab | None] = ContextVar("clove_request_tab", default=None)


class Gate(Protocol):
    """Authentication and per-client isolation, the same on every surface."""

    def authenticate(self, authorization: str | None) -> str:
        """The client named by an ``Authorization`` value (``Bearer <key>``).

        Raises ``UnauthenticatedError`` for a missing or unknown key. Keys are compared in
        constant time.
        """
        ...

    def authorize(self, client: str, scope: Scope | None, *, operation: str) -> None:
        """Pass if the client's key holds ``scope``, which ``operation`` needs.

        Raises ``PermissionDeniedError`` naming the operation and the scope it needs; a
        ``scope`` of None (an operation no scope covers) is refused to every client.
        """
        ...

    def admit(self, client: str, *, cost: int = 1) -> AbstractContextManager[Tab]:
        """Hold one of the client's concurrency slots and ``cost`` rate tokens for a request.

        Raises ``ResourceExhaustedError`` at once when the client is over its rate,
        concurrency or step limit; other clients are unaffected. The ``Tab`` it gives is
        charged with the request's evaluation steps as they are taken.
        """
        ...

    def stream(self, client: str) -> AbstractContextManager[None]:
        """Hold one of the client's stream slots for a long-lived call (a watch).

        A stream is admitted like a request (``admit`` charges its rate token) but then
        counts against the client's stream limit instead of its concurrency limit, which it
        would otherwise hold for as long as it stays open. Raises ``ResourceExhaustedError``
        when the client has its maximum of streams open.
        """
        ...


class Metrics(Protocol):
    """Request counters and latency histograms, rendered for Prometheus at ``/metrics``."""

    def observe(self, *, surface: str, method: str, client: str, code: str, seconds: float) -> None:
        """Record one finished request (``surface`` is ``grpc`` or ``http``)."""
        ...

    def throttled(self, *, client: str) -> None:
        """Record one request refused by the client's limits."""
        ...

    def render(self) -> tuple[bytes, str]:
        """The exposition body and its content type."""
        ...
