"""A small, real Gate and Metrics for the HTTP tests, and a client over real HTTP.

The gate compares bearer keys in constant time and keeps, per client, a token bucket and a
concurrency count; the metrics count requests and throttles and render Prometheus text.
"""

from __future__ import annotations

import hmac
import http.client
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from clove.errors import PermissionDeniedError, ResourceExhaustedError, UnauthenticatedError
from clove.server.scopes import SCOPES, Scope


class LimitedError(ResourceExhaustedError):
    """Carries the ``retry_after`` hint the HTTP surface turns into ``Retry-After``."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class Bucket:
    capacity: float
    refill_per_second: float
    tokens: float = field(init=False)
    stamp: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.tokens = self.capacity

    def take(self, cost: int) -> float | None:
        """None when taken, else the seconds until ``cost`` tokens will be there."""
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.refill_per_second)
        self.stamp = now
        if self.tokens >= cost:
            self.tokens -= cost
            return None
        if self.refill_per_second <= 0:
            return 60.0
        return (cost - self.tokens) / self.refill_per_second


class KeyGate:
    """Bearer keys (``client -> key``), their scopes (all unless given), buckets and limits."""

    def __init__(
        self,
        keys: Mapping[str, str],
        *,
        rates: Mapping[str, tuple[float, float]] | None = None,
        concurrency: int = 64,
        scopes: Mapping[str, frozenset[Scope]] | None = None,
    ) -> None:
        self._keys = [(client, key.encode()) for client, key in keys.items()]
        self._scopes = dict(scopes or {})
        self._buckets = {client: Bucket(*rate) for client, rate in (rates or {}).items()}
        self._concurrency = concurrency
        self._in_flight: Counter[str] = Counter()
        self._lock = threading.Lock()

    def authenticate(self, authorization: str | None) -> str:
        if not authorization or not authorization.startswith("Bearer "):
            raise UnauthenticatedError("missing bearer key (Authorization: Bearer <key>)")
        offered = authorization[len("Bearer ") :].strip().encode()
        found = None
        for client, key in self._keys:  # every key is compared, in constant time
            if hmac.compare_digest(offered, key):
                found = client
        if found is None:
            raise UnauthenticatedError("unknown bearer key")
        return found

    def authorize(self, client: str, scope: Scope | None, *, operation: str) -> None:
        if scope is None or scope not in self._scopes.get(client, frozenset(SCOPES)):
            raise PermissionDeniedError(
                f"{operation} needs the {scope!r} scope",
                client=client,
                operation=operation,
                scope=scope or "",
            )

    @contextmanager
    def admit(self, client: str, *, cost: int = 1) -> Iterator[None]:
        with self._lock:
            bucket = self._buckets.get(client)
            wait = bucket.take(cost) if bucket is not None else None
            if wait is not None:
                raise LimitedError(f"client {client!r} is over its rate limit", wait)
            if self._in_flight[client] >= self._concurrency:
                raise LimitedError(f"client {client!r} has too many requests in flight", 1)
            self._in_flight[client] += 1
        try:
            yield
        finally:
            with self._lock:
                self._in_flight[client] -= 1


class CountingMetrics:
    def __init__(self) -> None:
        self.requests: Counter[tuple[str, str, str, str]] = Counter()
        self.throttles: Counter[str] = Counter()
        self.seconds = 0.0

    def observe(self, *, surface: str, method: str, client: str, code: str, seconds: float) -> None:
        self.requests[(surface, method, client, code)] += 1
        self.seconds += seconds

    def throttled(self, *, client: str) -> None:
        self.throttles[client] += 1

    def render(self) -> tuple[bytes, str]:
        lines = ["# TYPE clove_requests_total counter"]
        for (surface, method, client, code), count in sorted(self.requests.items()):
            labels = f'surface="{surface}",method="{method}",client="{client}",code="{code}"'
            lines.append(f"clove_requests_total{{{labels}}} {count}")
        lines.append("# TYPE clove_throttled_total counter")
        for client, count in sorted(self.throttles.items()):
            lines.append(f'clove_throttled_total{{client="{client}"}} {count}')
        return ("\n".join(lines) + "\n").encode(), "text/plain; version=0.0.4"


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class HttpClient:
    """Requests over one keep-alive connection to a real server."""

    def __init__(self, port: int, key: str | None) -> None:
        self._port = port
        self._key = key
        self._connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def close(self) -> None:
        self._connection.close()

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        key: str | None = "",
    ) -> Response:
        sent = dict(headers or {})
        chosen = self._key if key == "" else key
        if chosen is not None:
            sent["Authorization"] = f"Bearer {chosen}"
        payload = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        if payload is not None:
            sent.setdefault("Content-Type", "application/json")
        try:
            self._connection.request(method, path, body=payload, headers=sent)
            reply = self._connection.getresponse()
        except (http.client.HTTPException, ConnectionError):
            self._connection.close()
            self._connection = http.client.HTTPConnection("127.0.0.1", self._port, timeout=30)
            raise
        content = reply.read()
        if reply.getheader("connection", "").lower() == "close":
            self._connection.close()
        return Response(reply.status, {k.lower(): v for k, v in reply.getheaders()}, content)

    def post(self, path: str, body: Any, **options: Any) -> Response:
        return self.request("POST", path, body, **options)

    def get(self, path: str, **options: Any) -> Response:
        return self.request("GET", path, **options)
