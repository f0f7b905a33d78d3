"""Claim the server's ports for its whole life, so that no other server can share them.

Workers listen with SO_REUSEPORT so that the kernel spreads connections over them; but then
any other process of the same user that sets SO_REUSEPORT may join the same ports and take a
share of the traffic, answering it from another store or with revoked keys. So before any
worker starts, the supervisor binds one *claim* socket per address, never listening on it:

- it binds without SO_REUSEPORT, which fails while anything else is bound to the port (a
  running server, orphaned workers, any other program): the new server refuses to start;
- then it switches SO_REUSEPORT on, so that this server's own workers (same user, also with
  SO_REUSEPORT) can join, now and whenever a crashed worker is restarted;
- it binds with SO_REUSEADDR, so that a restart is not refused for the connections a previous
  server left in TIME_WAIT, and switches it off again after, so that another claim with
  SO_REUSEADDR cannot slip in beside it while no worker happens to be listening.

A claim socket is not listening, so the kernel gives it no connections.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from clove.server.config import split_address


class AddressInUseError(OSError):
    """Another process holds a port this server was told to serve on."""


@contextmanager
def claimed_ports(addresses: dict[str, str]) -> Iterator[None]:
    """Hold ``{flag: HOST:PORT}`` until the block ends; ``AddressInUseError`` if one is held."""
    with ExitStack() as claims:
        for flag, address in addresses.items():
            for claim in _claim(flag, address):
                claims.callback(claim.close)
        yield


def _claim(flag: str, address: str) -> list[socket.socket]:
    host, port = split_address(address)
    if port == 0:
        return []  # every bind picks its own port: nothing to share
    try:
        found = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as error:
        raise AddressInUseError(f"cannot serve on {address} ({flag}): {error.strerror}") from None
    claims: list[socket.socket] = []
    unusable: OSError | None = None
    try:
        for family, kind, protocol, _, where in dict.fromkeys(found):
            claim = socket.socket(family, kind, protocol)
            try:
                claim.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                claim.bind(where)
                claim.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 0)
                claim.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            except OSError as error:
                claim.close()
                if error.errno == errno.EADDRINUSE:
                    raise AddressInUseError(
                        f"cannot serve on {address} ({flag}): another process already uses "
                        f"port {port} (another `clove serve`?); stop it or choose another {flag}"
                    ) from None
                unusable = error  # e.g. ::1 on a host without IPv6; gRPC skips it too
                continue
            claims.append(claim)
        if not claims:
            reason = unusable.strerror if unusable is not None else "no address"
            raise AddressInUseError(f"cannot serve on {address} ({flag}): {reason}")
    except BaseException:
        for claim in claims:
            claim.close()
        raise
    return claims
