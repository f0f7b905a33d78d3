"""Connection-level defences of the HTTP surface, before any request is authenticated.

Uvicorn closes a keep-alive connection that stays idle after an answer, and answers 503 once
``limit_concurrency`` connections are open; but it waits forever for the first request of a
new connection, and for the rest of a request that has begun. So a few thousand connections
that never finish a request (slowloris) hold every slot and every newcomer gets 503. Two
bounds close that, both enforced by ``guarded_protocol``'s subclass of uvicorn's protocol:

- **a read deadline**: a connection has ``read_timeout`` seconds to deliver a whole request,
  headers and body, counted from when it opens or when its previous answer was sent; it is
  closed when it misses it. Time spent answering is not counted.
- **connections per peer**: one client address may hold at most ``per_peer`` connections of
  this worker at once; a connection over the cap is closed as soon as it opens, so that one
  peer cannot hold the slots everybody else needs.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_log = logging.getLogger("clove.http")


class PeerConnections:
    """Open connections per peer address, in one event loop (so without a lock)."""

    def __init__(self, per_peer: int) -> None:
        self.per_peer = per_peer
        self._open: Counter[str] = Counter()

    def admit(self, peer: str) -> bool:
        """Count a new connection from ``peer``; False (not counted) when it has too many."""
        if self._open[peer] >= self.per_peer:
            return False
        self._open[peer] += 1
        return True

    def release(self, peer: str) -> None:
        self._open[peer] -= 1
        if self._open[peer] <= 0:
            del self._open[peer]


def guarded_protocol(*, read_timeout: float, peers: PeerConnections) -> type[HttpToolsProtocol]:
    """Uvicorn's httptools protocol with a read deadline and a cap on connections per peer."""

    class GuardedHttpToolsProtocol(HttpToolsProtocol):
        _deadline: asyncio.TimerHandle | None = None
        _peer: str | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            peer = self.client[0] if self.client else None
            if peer is not None and not peers.admit(peer):
                _log.debug("closing a connection over the per-peer cap from %s", peer)
                transport.close()
                return
            self._peer = peer
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            if self._peer is not None:
                peers.release(self._peer)
                self._peer = None
            super().connection_lost(exc)

        def on_message_complete(self) -> None:
            super().on_message_complete()
            # The request is in: the app answers it at its own pace, and the answer re-arms.
            # An answer sent before the body was all read has re-armed already: keep that.
            if self.cycle is None or not self.cycle.response_complete:
                self._disarm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm()

        def _arm(self) -> None:
            self._disarm()
            self._deadline = self.loop.call_later(read_timeout, self._read_timed_out)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _read_timed_out(self) -> None:
            self._deadline = None
            cycle: Any = self.cycle
            if cycle is not None and not cycle.response_complete and not cycle.more_body:
                return  # a pipelined request that is whole, waiting for its turn
            if not self.transport.is_closing():
                _log.debug("closing a connection that sent no whole request in time")
                self.transport.close()

    return GuardedHttpToolsProtocol
