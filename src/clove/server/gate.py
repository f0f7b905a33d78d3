"""Bearer-key authentication, scopes, and per-client isolation (token bucket + concurrency).

Each key names a client and the scopes it holds (``clove.server.scopes`` says which scope
each method needs). The limit state lives in a ``ClientLedger``: with several workers the
supervisor creates one in shared memory, so each client's limits hold across all workers.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from clove.errors import PermissionDeniedError, ResourceExhaustedError, UnauthenticatedError
from clove.server.fairness import FairShare
from clove.server.ledger import ClientLedger
from clove.server.limits import Limits
from clove.server.protocols import Tab
from clove.server.scopes import SCOPES, Scope


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientKey:
    """A client's bearer key and the scopes it holds.

    ``scoped`` is False for a key configured without scopes (``client=key``), which holds
    every scope, as keys did before scopes existed.
    """

    key: str
    scopes: frozenset[Scope] = frozenset(SCOPES)
    scoped: bool = False


class KeyGate:
    """The ``Gate`` of ``clove serve``: keys name clients; each client has its own limits.

    Every key is compared with ``hmac.compare_digest`` and all keys are always compared, so the
    time taken says nothing about which key, or how much of one, matched.
    """

    def __init__(
        self, keys: Mapping[str, ClientKey], limits: Limits, *, ledger: ClientLedger | None = None
    ) -> None:
        """``ledger`` (shared by the workers) must know every client; None: a private one."""
        if not keys:
            raise ValueError("KeyGate needs at least one client key")
        self._keys = [(client, entry.key.encode()) for client, entry in keys.items()]
        self._scopes = {client: entry.scopes for client, entry in keys.items()}
        self._limits = limits
        if ledger is None:
            ledger = ClientLedger.create(
                list(keys), burst=limits.burst, cost_burst=limits.cost_burst, shared=False
            )
        missing = [client for client in keys if not ledger.knows(client)]
        if missing:
            raise ValueError(f"the limits ledger lacks clients {', '.join(missing)}")
        self._ledger = ledger
        self._fair = FairShare()

    @property
    def limits(self) -> Limits:
        return self._limits

    def authenticate(self, authorization: str | None) -> str:
        if not authorization:
            raise UnauthenticatedError("missing bearer token: send `authorization: Bearer <key>`")
        scheme, _, presented = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            raise UnauthenticatedError("malformed authorization: expected `Bearer <key>`")
        candidate = presented.strip().encode()
        found: str | None = None
        for client, key in self._keys:
            if hmac.compare_digest(candidate, key) and found is None:
                found = client
        if found is None:
            raise UnauthenticatedError("invalid bearer token")
        return found

    def authorize(self, client: str, scope: Scope | None, *, operation: str) -> None:
        held = self._scopes.get(client, frozenset())
        if scope is not None and scope in held:
            return
        if scope is None:
            # The surfaces pass None for a method that no scope covers: refuse, fail closed.
            raise PermissionDeniedError(
                f"{operation} is not covered by any scope, so no key may call it",
                client=client,
                operation=operation,
                scope="",
            )
        has = "+".join(name for name in SCOPES if name in held) or "no scope"
        raise PermissionDeniedError(
            f"{operation} needs the {scope!r} scope; the key of client {client!r} has {has}",
            client=client,
            operation=operation,
            scope=scope,
        )

    @contextmanager
    def admit(self, client: str, *, cost: int = 1) -> Iterator[Tab]:
        if not self._ledger.knows(client):
            raise UnauthenticatedError(f"unknown client {client!r}")
        limits = self._limits
        self._ledger.take(
            client,
            cost=cost,
            rate=limits.rate,
            burst=float(limits.burst),
            concurrency=limits.concurrency,
            cost_rate=limits.cost_rate,
            cost_burst=limits.cost_burst,
        )
        self._fair.enter(client)
        try:
            yield Tab(client, self._charge)
        finally:
            self._fair.leave(client)
            self._ledger.release(client)

    def _charge(self, client: str, steps: int) -> None:
        """A request of ``client`` took ``steps`` more: share fairly, hold to the quota."""
        self._fair.charge(client, steps)
        rate = self._limits.cost_rate
        if rate is None:
            return
        left = self._ledger.charge(client, steps, rate=rate, burst=self._limits.cost_burst)
        if left < 0:
            raise ResourceExhaustedError(
                f"client {client!r} used up its quota of {rate:g} evaluation steps/s; "
                "the request was stopped (retry later, or ask for less at a time)"
            )

    @contextmanager
    def stream(self, client: str) -> Iterator[None]:
        if not self._ledger.knows(client):
            raise UnauthenticatedError(f"unknown client {client!r}")
        self._ledger.open_stream(client, limit=self._limits.max_streams)
        try:
            yield
        finally:
            self._ledger.close_stream(client)
