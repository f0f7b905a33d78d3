"""Page tokens and the pager every listing shares.

A page token is opaque to clients: it pins the snapshot the first page was read at (so the
pages of one listing never mix revisions), the cursor after which the next page starts, and
a fingerprint of the query, so that a token sent with a different query is refused instead
of silently paging through the wrong listing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import msgspec

from clove.consistency import Consistency
from clove.database import ConsistencyArg, Database
from clove.server.http._authzen_wire import PageRequest, PageResponse
from clove.server.http._consistency import snapshot
from clove.server.http._errors import bad_request
from clove.server.http._settings import HttpSettings

_VERSION = 1

Item = TypeVar("Item")


def fingerprint(*query: object) -> str:
    """A short digest of everything that defines a listing except its page."""
    canonical = msgspec.json.encode(query, order="sorted")
    return hashlib.blake2b(canonical, digest_size=8).hexdigest()


def encode_page_token(snapshot: str, after: Any, query: str) -> str:
    raw = msgspec.json.encode([_VERSION, snapshot, after, query])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_page_token(token: str, query: str) -> tuple[str, Any]:
    """The snapshot token and cursor in ``token``; 400 if it is malformed or another query's."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        version, snapshot, after, digest = msgspec.json.decode(raw)
    except (binascii.Error, ValueError, TypeError, msgspec.DecodeError):
        raise bad_request("page.token is not a page token this server issued") from None
    if version != _VERSION or not isinstance(snapshot, str):
        raise bad_request("page.token is not a page token this server issued")
    if digest != query:
        raise bad_request("page.token belongs to a different query; send the same query again")
    return snapshot, after


def page_limit(page: PageRequest | None, settings: HttpSettings) -> int:
    if page is None or page.limit is None:
        return settings.default_page_size
    if page.limit > settings.max_page_size:
        raise bad_request(f"page.limit must be at most {settings.max_page_size}")
    return int(page.limit)  # a whole number: PageRequest makes 5.0 an int


def collect(
    fetch: Callable[[Any, int], Sequence[Item]],
    *,
    after: Any,
    limit: int,
    cursor: Callable[[Item], Any],
    keep: Callable[[Item], bool] = lambda _: True,
) -> tuple[list[Item], Any]:
    """Up to ``limit`` kept items after ``after``, and the cursor of the next page (None at end).

    ``fetch(after, n)`` returns up to ``n`` items in cursor order; items that ``keep`` drops
    (conditional results in an AuthZEN search) are skipped, fetching on until the page is full,
    so that a page is only short when the listing ends.
    """
    kept: list[Item] = []
    position = after
    while True:
        chunk = fetch(position, limit + 1)
        for item in chunk:
            if keep(item):
                kept.append(item)
                if len(kept) > limit:
                    return kept[:limit], cursor(kept[limit - 1])
        if len(chunk) <= limit:
            return kept, None
        position = cursor(chunk[-1])


def start_listing(
    database: Database, page: PageRequest | None, wanted: Callable[[], ConsistencyArg], query: str
) -> tuple[Consistency, str, Any]:
    """The snapshot, its token and the cursor of this page.

    A page token carries them; without one the listing starts at a fresh snapshot of the
    consistency the request asks for (``wanted`` is only consulted then).
    """
    if page is not None and page.token:
        token, after = decode_page_token(page.token, query)
        return Consistency.at_exact_snapshot(token), token, after
    consistency, token = snapshot(database, wanted())
    return consistency, token, None


def page_response(token: str, next_after: Any, count: int, query: str) -> PageResponse:
    """``next_token`` is empty at the end of the listing, as AuthZEN asks."""
    next_token = "" if next_after is None else encode_page_token(token, next_after, query)
    return PageResponse(next_token=next_token, count=count)
