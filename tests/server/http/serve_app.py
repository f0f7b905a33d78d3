"""Serve ``create_app`` with uvicorn on a free loopback port (run by the HTTP tests).

Usage: ``python serve_app.py DB_URL``. Prints ``listening PORT`` once the socket is bound.
Keys: ``alice``/``alice-key`` (unlimited), ``bob``/``bob-key`` (unlimited), ``flood`` /
``flood-key`` with a bucket of 5 tokens that never refills.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import uvicorn

sys.path.insert(0, str(Path(__file__).parent))

from http_support import CountingMetrics, KeyGate

import clove
from clove.server.http import HttpSettings, create_app

KEYS = {"alice": "alice-key", "bob": "bob-key", "flood": "flood-key"}


def main() -> None:
    database = clove.open(sys.argv[1])
    gate = KeyGate(KEYS, rates={"flood": (5, 0)})
    settings = HttpSettings(max_body_bytes=64 * 1024, max_batch=50, max_page_size=200)
    app = create_app(database, gate=gate, metrics=CountingMetrics(), settings=settings)
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say TCP, and
    # without it a response written in two parts waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    print(f"listening {sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
