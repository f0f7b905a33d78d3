"""The knobs of the HTTP surface: request limits and the threads engine calls run on."""

from __future__ import annotations

from dataclasses import dataclass

from clove.errors import InvalidInputError


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpSettings:
    """Limits and execution policy for one HTTP app.

    Every handler that reads or writes the database runs on a pool of ``threads`` threads,
    never on the event loop: one slow check, lookup or write waiting for a lock would
    otherwise stall every other connection of the process. The hop to a thread costs tens
    of microseconds; a pool of fixed size also bounds the store connections it opens (the
    SQLite store keeps one per thread).

    ``base_url`` is the ``policy_decision_point`` published at
    ``/.well-known/authzen-configuration``; when None it is derived from each request's
    scheme and ``Host`` header.
    """

    max_body_bytes: int = 1 << 20
    max_batch: int = 1000
    max_page_size: int = 1000
    default_page_size: int = 100
    threads: int = 32
    base_url: str | None = None

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_batch", "max_page_size", "default_page_size"):
            if getattr(self, name) < 1:
                raise InvalidInputError(f"HttpSettings.{name} must be at least 1")
        if self.threads < 1:
            raise InvalidInputError("HttpSettings.threads must be at least 1")
        if self.default_page_size > self.max_page_size:
            raise InvalidInputError("HttpSettings.default_page_size cannot exceed max_page_size")
