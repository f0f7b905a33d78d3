"""Bearer-key authentication and per-client isolation (token bucket + concurrency slots)."""

from __future__ import annotations

import hmac
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from clove.errors import ResourceExhaustedError, UnauthenticatedError
from clove.server.limits import Limits


class _ClientState:
    """One client's token bucket and running-request count, guarded by one lock."""

    __slots__ = ("lock", "running", "tokens", "updated")

    def __init__(self, burst: int) -> None:
        self.lock = threading.Lock()
        self.tokens = float(burst)
        self.updated = time.monotonic()
        self.running = 0


class KeyGate:
    """The ``Gate`` of ``clove serve``: keys name clients; each client has its own limits.

    Every key is compared with ``hmac.compare_digest`` and all keys are always compared, so the
    time taken says nothing about which key, or how much of one, matched.
    """

    def __init__(self, keys: Mapping[str, str], limits: Limits) -> None:
        if not keys:
            raise ValueError("KeyGate needs at least one client key")
        self._keys = [(client, key.encode()) for client, key in keys.items()]
        self._limits = limits
        self._clients = {client: _ClientState(limits.burst) for client in keys}

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

    @contextmanager
    def admit(self, client: str, *, cost: int = 1) -> Iterator[None]:
        state = self._clients.get(client)
        if state is None:
            raise UnauthenticatedError(f"unknown client {client!r}")
        limits = self._limits
        with state.lock:
            now = time.monotonic()
            state.tokens = min(
                float(limits.burst), state.tokens + (now - state.updated) * limits.rate
            )
            state.updated = now
            if state.running >= limits.concurrency:
                raise ResourceExhaustedError(
                    f"client {client!r} has {state.running} requests in flight, its limit; "
                    "retry later"
                )
            if state.tokens < cost:
                raise ResourceExhaustedError(
                    f"client {client!r} exceeded its rate limit of {limits.rate:g} requests/s; "
                    "retry later"
                )
            state.tokens -= cost
            state.running += 1
        try:
            yield
        finally:
            with state.lock:
                state.running -= 1
