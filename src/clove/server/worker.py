"""One worker process: open the store, serve gRPC (and HTTP) until told to stop, then drain.

Workers bind the same ports with SO_REUSEPORT, so the kernel spreads connections over them;
each opens the store itself, and tokens name store revisions, so a write through one worker is
visible, per token, through every other.

A worker never outlives its supervisor: an orphan would keep serving from keys and settings
nobody can change any more. On Linux the kernel sends it SIGTERM when the supervisor dies
(``PR_SET_PDEATHSIG``); everywhere, a thread waits for the end of the pipe that
``multiprocessing`` keeps open from the supervisor and stops the worker when it closes.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from datetime import timedelta
from types import FrameType

import clove
from clove.server import logs
from clove.server.config import ServeConfig
from clove.server.gate import KeyGate
from clove.server.grpc.server import Tls, build_grpc_server
from clove.server.http_surface import HttpSurface, start_http
from clove.server.ledger import ClientLedger, LedgerHandle
from clove.server.metrics import MULTIPROCESS_DIR_VARIABLE, PrometheusMetrics

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
# How long a thread may hold the GIL while another waits for it (Python's default is 5 ms):
# a cheap request waiting behind an expensive one waits at most this long for the core.
_SWITCH_INTERVAL = 0.0005
_ORPHAN_POLL_SECONDS = 0.5


def run_worker(
    config: ServeConfig,
    *,
    worker: int = 0,
    ledger: LedgerHandle | None = None,
    supervisor: int | None = None,
) -> None:
    """Serve until SIGTERM or SIGINT; then finish the requests in flight (up to the grace).

    ``ledger`` names the supervisor's shared per-client limit state; None: this process is
    the whole server and keeps its own. ``supervisor`` is the pid of the process that started
    this one, which it stops with.
    """
    logs.configure(config.log_level)
    sys.setswitchinterval(_SWITCH_INTERVAL)
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    if supervisor is not None:
        _stop_with_supervisor(supervisor, stop, worker=worker)

    database = clove.open(
        config.db,
        max_depth=config.limits.max_depth,
        max_caveat_cost=config.max_caveat_cost,
        gc_window=timedelta(seconds=config.gc_window),
        # One collector is enough: the first worker's.
        gc_interval=(
            timedelta(seconds=config.gc_interval)
            if config.gc_interval is not None and worker == 0
            else None
        ),
    )
    shared = None if ledger is None else ClientLedger.attach(ledger, worker=worker)
    gate = KeyGate(config.keys, config.limits, ledger=shared)  # None: this process's own
    metrics = PrometheusMetrics()
    tls = (
        Tls(certificate_chain=config.tls_cert, private_key=config.tls_key)
        if config.tls_cert is not None and config.tls_key is not None
        else None
    )
    surface = build_grpc_server(
        database,
        address=config.grpc_addr,
        gate=gate,
        metrics=metrics,
        limits=config.limits,
        threads=config.threads,
        tls=tls,
        handshake_timeout=config.read_timeout,
    )
    surface.server.start()
    http: HttpSurface | None = None
    if config.http_addr is not None:
        http = start_http(database, config=config, gate=gate, metrics=metrics)
    logs.log(
        logging.INFO,
        "serving",
        worker=worker,
        grpc=config.grpc_addr,
        http=config.http_addr if http is not None else None,
        db=_redacted(config.db),
    )
    stop.wait()
    logs.log(logging.INFO, "draining", worker=worker, grace_seconds=config.grace)
    stopped = surface.drain(config.grace)
    if http is not None:
        http.stop(config.grace)
    stopped.wait()
    database.close()
    if shared is not None:
        shared.close()
    if os.environ.get(MULTIPROCESS_DIR_VARIABLE):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
    logs.log(logging.INFO, "stopped", worker=worker)


def _stop_with_supervisor(supervisor: int, stop: threading.Event, *, worker: int) -> None:
    """Set ``stop`` as soon as the supervisor process is gone, however it ended."""
    if sys.platform == "linux":
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # no prctl: the watcher below is enough
    parent = multiprocessing.parent_process()

    def watch() -> None:
        if parent is not None:
            parent.join()  # returns when the supervisor's end of the pipe closes
        else:
            while os.getppid() == supervisor:
                time.sleep(_ORPHAN_POLL_SECONDS)
        if not stop.is_set():
            logs.log(logging.ERROR, "supervisor gone; stopping", worker=worker, pid=supervisor)
            stop.set()

    threading.Thread(target=watch, name="clove-supervisor-watch", daemon=True).start()


def _redacted(url: str) -> str:
    """The database URL without a password."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in credentials:
        return url
    return f"{scheme}://{credentials.split(':', 1)[0]}:***@{host}"
