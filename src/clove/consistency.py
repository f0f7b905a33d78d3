"""Consistency tokens and the read consistency modes (Zanzibar's zookies)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Literal

from clove.errors import TokenError

_PREFIX = "CLV1"

ConsistencyKind = Literal["minimize_latency", "at_least_as_fresh", "at_exact_snapshot", "full"]


def encode_token(store_id: str, revision: int) -> str:
    """An opaque token naming ``revision`` of the store ``store_id``."""
    raw = f"{revision}:{store_id}".encode()
    return _PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str, store_id: str) -> int:
    """The revision in ``token``; TokenError if it is malformed or from another store."""
    if not isinstance(token, str) or not token.startswith(_PREFIX):
        raise TokenError(f"malformed consistency token {token!r}")
    body = token[len(_PREFIX) :]
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
        revision_text, _, token_store = raw.partition(":")
        revision = int(revision_text)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise TokenError(f"malformed consistency token {token!r}") from None
    if token_store != store_id:
        raise TokenError("consistency token was issued by another datastore")
    if revision < 0:
        raise TokenError(f"malformed consistency token {token!r}")
    return revision


@dataclass(frozen=True, slots=True)
class Consistency:
    """How fresh a read must be.

    - ``minimize_latency``: a recent revision shared with other requests (the default).
    - ``at_least_as_fresh``: no older than ``token`` (read-after-write).
    - ``at_exact_snapshot``: exactly the revision of ``token``.
    - ``full``: the newest committed revision.
    """

    kind: ConsistencyKind
    token: str | None = None

    @classmethod
    def minimize_latency(cls) -> Consistency:
        return cls("minimize_latency")

    @classmethod
    def at_least_as_fresh(cls, token: str) -> Consistency:
        return cls("at_least_as_fresh", token)

    @classmethod
    def at_exact_snapshot(cls, token: str) -> Consistency:
        return cls("at_exact_snapshot", token)

    @classmethod
    def full(cls) -> Consistency:
        return cls("full")
