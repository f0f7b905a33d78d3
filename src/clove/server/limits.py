"""The per-client and per-request limits that keep one client from starving the others."""

from __future__ import annotations

from dataclasses import dataclass

from clove.errors import ResourceExhaustedError


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """Limits every surface enforces; the defaults suit one machine serving many services.

    ``rate`` and ``burst`` size each client's token bucket (requests per second, and how many
    may arrive at once); ``concurrency`` is how many of a client's requests may run at one time.
    ``max_batch`` bounds the items of one bulk check, write, delete or import batch;
    ``max_page`` the page size of reads and lookups; ``max_message_bytes`` one request message.
    ``max_streams`` is how many watches a client may keep open (they do not hold concurrency
    slots). ``max_depth`` bounds how many nested steps one check or lookup may take (None:
    unbounded). ``cost_rate`` and ``cost_burst`` size each client's second bucket, of
    evaluation steps (Zanzibar's per-client CPU quota): a request charges the steps it takes
    as it runs, a client in debt is refused, and a request that runs its client's bucket dry
    is stopped (None: steps are counted and shared fairly, but not capped).
    """

    rate: float = 5_000.0
    burst: int = 10_000
    concurrency: int = 32
    max_message_bytes: int = 4 * 1024 * 1024
    max_batch: int = 1_000
    max_page: int = 1_000
    max_streams: int = 8
    max_depth: int | None = 50
    cost_rate: float | None = None
    cost_burst: float = 1_000_000.0

    def require_batch(self, count: int, what: str) -> None:
        if count > self.max_batch:
            raise ResourceExhaustedError(
                f"{what}: {count} items exceed the limit of {self.max_batch} per request"
            )

    def require_page(self, limit: int, what: str) -> None:
        if limit > self.max_page:
            raise ResourceExhaustedError(
                f"{what}: a limit of {limit} exceeds the maximum page size of {self.max_page}"
            )
