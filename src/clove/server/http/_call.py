"""What a handler gets (the database, settings, a few request headers) and what it returns."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

import msgspec

from clove.database import ConsistencyArg, Database
from clove.engine.budget import Budget
from clove.server.http._consistency import MODE_HEADER, TOKEN_HEADER, requested
from clove.server.http._settings import HttpSettings
from clove.server.protocols import Tab


@dataclass(frozen=True, slots=True)
class Call:
    """One request as a handler sees it; ``headers`` has lower-case names.

    ``abandoned`` is set when the client has gone away and nobody waits for the answer any
    more. Handlers run on a thread that cannot be interrupted, so work that may take long
    (an evaluation, a paged lookup) should stop when it is set; this is where a request's
    evaluation budget takes its cancellation from (``budget``). ``tab`` is what the request
    has cost so far, charged to its client as the evaluation runs (None: a public route).
    """

    database: Database
    settings: HttpSettings
    headers: Mapping[str, str]
    base_url: str
    tab: Tab | None = None
    abandoned: threading.Event = field(default_factory=threading.Event)

    def budget(self) -> Budget:
        """The evaluation's budget: stopped when the client goes, charged to its tab."""
        tab = self.tab
        return Budget(cancelled=self.abandoned, on_check=None if tab is None else tab.charge)

    def header_consistency(self) -> ConsistencyArg:
        """The consistency asked for in the ``Clove-Consistency[-Token]`` headers."""
        return requested(self.headers.get(MODE_HEADER), self.headers.get(TOKEN_HEADER))


@dataclass(frozen=True, slots=True)
class Raw:
    """A body that is not JSON from a msgspec type (metrics, the OpenAPI document)."""

    content: bytes
    content_type: str


@dataclass(frozen=True, slots=True)
class Reply:
    """A JSON body and, for answers tied to a revision, that revision's token."""

    body: msgspec.Struct | Raw
    token: str | None = None
    status: int = 200
