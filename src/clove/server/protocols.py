"""What every API surface of the server shares: who is calling, whether they may, what it cost.

The gRPC and HTTP surfaces depend on these protocols only; ``clove serve`` wires in the
implementations (bearer keys, per-client limits, Prometheus metrics).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

from clove.server.scopes import Scope


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

    def admit(self, client: str, *, cost: int = 1) -> AbstractContextManager[None]:
        """Hold one of the client's concurrency slots and ``cost`` rate tokens for a request.

        Raises ``ResourceExhaustedError`` at once when the client is over its rate or
        concurrency limit; other clients are unaffected.
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
