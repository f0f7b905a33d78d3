"""``clove serve``: start the worker processes, restart any that dies, stop them all gracefully.

Python evaluates on one core per process, so the server runs one worker per core. Workers are
started with ``spawn`` (no state inherited by fork) and share only the store and the ports.
SIGTERM or SIGINT is passed on to every worker, which finishes its requests in flight.

Before anything starts, the supervisor claims the ports (``ports``): a server never starts on
ports another one holds, and its own workers, restarted or not, are the only ones that can
join them. Workers watch the supervisor and stop when it dies, however it dies (``worker``).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import tempfile
import threading
import time
from multiprocessing.process import BaseProcess
from types import FrameType

import clove
from clove.server import logs
from clove.server.config import ServeConfig
from clove.server.ledger import ClientLedger
from clove.server.metrics import MULTIPROCESS_DIR_VARIABLE
from clove.server.ports import claimed_ports
from clove.server.worker import run_worker

_MEMORY_URLS = ("memory", "memory://", ":memory:")
_RESTART_DELAY = 1.0


def serve(config: ServeConfig) -> int:
    """Run the server until SIGTERM/SIGINT; the exit status of ``clove serve``."""
    logs.configure(config.log_level)
    workers = config.workers
    if config.db in _MEMORY_URLS and workers > 1:
        logs.log(
            logging.WARNING,
            "the memory store lives in one process: running 1 worker instead of "
            f"{workers}; use sqlite:// or postgresql:// to serve on all cores",
        )
        workers = 1
    addresses = {"--grpc-addr": config.grpc_addr}
    if config.http_addr is not None:
        addresses["--http-addr"] = config.http_addr
    with claimed_ports(addresses):
        # Create the store's tables once, before workers race to do it.
        clove.open(config.db).close()
        unscoped = [client for client, key in config.keys.items() if not key.scoped]
        if unscoped:
            logs.log(
                logging.WARNING,
                "keys given without scopes may read, write and administer everything; "
                "give `client:read=key` (or read+write, admin) to limit them",
                clients=",".join(unscoped),
            )
        if workers == 1:
            run_worker(config)
            return 0
        # One ledger for all workers, so that each client's limits hold across them.
        ledger = ClientLedger.create(
            list(config.keys),
            burst=config.limits.burst,
            cost_burst=config.limits.cost_burst,
            workers=workers,
        )
        try:
            with tempfile.TemporaryDirectory(prefix="clove-metrics-") as metrics_dir:
                os.environ.setdefault(MULTIPROCESS_DIR_VARIABLE, metrics_dir)
                return _supervise(config, workers, ledger)
        finally:
            ledger.close()


def _supervise(config: ServeConfig, count: int, ledger: ClientLedger) -> int:
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    context = multiprocessing.get_context("spawn")

    def start(number: int) -> BaseProcess:
        process = context.Process(
            target=run_worker,
            args=(config,),
            kwargs={"worker": number, "ledger": ledger.handle, "supervisor": os.getpid()},
            name=f"clove-{number}",
        )
        process.start()
        return process

    processes = [start(number) for number in range(count)]
    logs.log(logging.INFO, "supervising", workers=count, pids=[p.pid for p in processes])
    while not stop.wait(0.2):
        for number, process in enumerate(processes):
            if not process.is_alive() and not stop.is_set():
                logs.log(
                    logging.ERROR,
                    "worker died; restarting it",
                    worker=number,
                    pid=process.pid,
                    exitcode=process.exitcode,
                )
                time.sleep(_RESTART_DELAY)
                ledger.forget_worker(number)
                processes[number] = start(number)
    for process in processes:
        if process.is_alive() and process.pid is not None:
            os.kill(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + config.grace + 5
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            logs.log(logging.ERROR, "worker did not stop in time; killing it", pid=process.pid)
            process.kill()
            process.join()
    logs.log(logging.INFO, "stopped", workers=count)
    return 0
