"""Run the HTTP surface (``clove.server.http.create_app``, an ASGI app) inside one worker.

Uvicorn with uvloop and httptools serves it on a socket bound with SO_REUSEPORT, so every
worker listens on the same HTTP port as it does for gRPC. Uvicorn runs on its own thread with
its own event loop; the worker's main thread keeps the signals and tells it when to stop.
Connections get a deadline to deliver each request and a cap per peer (``http_connections``).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clove.database import Database
from clove.server.config import ServeConfig, split_address
from clove.server.metrics import PrometheusMetrics
from clove.server.protocols import Gate

if TYPE_CHECKING:
    from clove.server.http import HttpApp


class HttpSurface:
    """A running uvicorn server on its own thread."""

    def __init__(self, app: HttpApp, listener: socket.socket, config: ServeConfig) -> None:
        import uvicorn

        self._app = app
        self._listener = listener
        self._files: list[Path] = []
        options: dict[str, Any] = {}
        if config.tls_cert is not None and config.tls_key is not None:
            options = {
                "ssl_certfile": str(self._private_file(config.tls_cert)),
                "ssl_keyfile": str(self._private_file(config.tls_key)),
                "ssl_version": ssl.PROTOCOL_TLS_SERVER,
            }
        from clove.server.http_connections import PeerConnections, guarded_protocol

        protocol = guarded_protocol(
            read_timeout=config.read_timeout,
            peers=PeerConnections(config.max_connections_per_peer),
        )
        self._server = uvicorn.Server(
            uvicorn.Config(
                app,
                loop="uvloop",
                http=protocol,
                lifespan="off",
                access_log=False,
                log_level="warning",
                timeout_graceful_shutdown=int(config.grace) or 1,
                limit_concurrency=config.threads * 64,
                **options,
            )
        )
        self._thread = threading.Thread(target=self._run, name="clove-http", daemon=True)
        self._thread.start()

    def _private_file(self, content: bytes) -> Path:
        handle = tempfile.NamedTemporaryFile(delete=False, prefix="clove-tls-")  # noqa: SIM115
        with handle:
            handle.write(content)
        path = Path(handle.name)
        path.chmod(0o600)
        self._files.append(path)
        return path

    def _run(self) -> None:
        # Signals belong to the worker's main thread; this loop only serves.
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(self._server.serve(sockets=[self._listener]))

    def stop(self, grace: float) -> None:
        self._server.should_exit = True
        self._thread.join(grace + 5)
        self._listener.close()
        self._app.close()
        for path in self._files:
            path.unlink(missing_ok=True)


def start_http(
    database: Database, *, config: ServeConfig, gate: Gate, metrics: PrometheusMetrics
) -> HttpSurface:
    """Start the HTTP surface on ``config.http_addr``."""
    from clove.server.http import HttpSettings, create_app

    assert config.http_addr is not None
    host, port = split_address(config.http_addr)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted sockets only when the listener
    # names its protocol, and without it every response waits ~40 ms for a delayed ACK.
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    listener.bind((host, port))
    listener.listen(1024)
    listener.set_inheritable(True)
    limits = config.limits
    settings = HttpSettings(
        max_body_bytes=limits.max_message_bytes,
        max_batch=limits.max_batch,
        max_page_size=limits.max_page,
        default_page_size=min(100, limits.max_page),
        threads=config.threads,
    )
    app = create_app(database, gate=gate, metrics=metrics, settings=settings)
    return HttpSurface(app, listener, config)
