"""Which revision a request reads: from its body or its ``Clove-Consistency`` headers.

A request resolves its consistency once, to one snapshot token, and every read it makes
(all evaluations of a batch, all pages of a listing) happens at that snapshot; the token
goes back to the client, who can send it again for read-after-write.
"""

from __future__ import annotations

from clove.consistency import Consistency
from clove.database import ConsistencyArg, Database
from clove.server.http._errors import bad_request

MODE_HEADER = "clove-consistency"
TOKEN_HEADER = "clove-consistency-token"

MODES = ("minimize_latency", "at_least_as_fresh", "at_exact_snapshot", "full")


def requested(mode: str | None, token: str | None) -> ConsistencyArg:
    """The consistency a client asked for; a token alone means ``at_least_as_fresh``."""
    if mode is None or mode == "":
        return None if not token else Consistency.at_least_as_fresh(token)
    match mode:
        case "minimize_latency" | "full":
            if token:
                raise bad_request(f"consistency {mode} takes no token")
            return mode
        case "at_least_as_fresh" | "at_exact_snapshot":
            if not token:
                raise bad_request(f"consistency {mode} needs a token")
            return Consistency(mode, token)
        case _:
            raise bad_request(f"unknown consistency {mode!r}; expected one of {', '.join(MODES)}")


def snapshot(database: Database, wanted: ConsistencyArg) -> tuple[Consistency, str]:
    """The exact snapshot to read at, and its token."""
    token = database.snapshot(consistency=wanted)
    return Consistency.at_exact_snapshot(token), token
