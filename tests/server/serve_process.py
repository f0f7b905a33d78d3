"""A real ``clove serve`` subprocess on free loopback ports, and official clients for it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from authzed.api.v1 import AsyncClient, Client
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpcutil import insecure_bearer_token_credentials

KEYS = {"alice": "alice-key-0123456789abcdef", "bob": "bob-key-0123456789abcdef"}
# Clients whose keys hold one scope each (alice and bob hold all, given as `client=key`).
SCOPED = {"reader": "read", "writer": "write", "operator": "admin"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    """A running ``clove serve``; ``address`` is its gRPC HOST:PORT."""

    process: subprocess.Popen[bytes]
    address: str
    http_address: str
    log_path: Path
    keys: dict[str, str] = field(
        default_factory=lambda: {**KEYS, **{client: scoped_key(client) for client in SCOPED}}
    )

    def client(self, who: str = "alice") -> Client:
        return Client(self.address, insecure_bearer_token_credentials(self.keys[who]))

    def async_client(self, who: str = "alice") -> AsyncClient:
        return AsyncClient(self.address, insecure_bearer_token_credentials(self.keys[who]))

    def client_with_key(self, key: str) -> Client:
        return Client(self.address, insecure_bearer_token_credentials(key))

    def log(self) -> str:
        return self.log_path.read_text()

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)


def scoped_key(client: str) -> str:
    return f"{client}-key-0123456789abcdef"


def serve_command(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "clove.cli.main", "serve", *arguments]


def serve_environment() -> dict[str, str]:
    environment = dict(os.environ)
    entries = [f"{client}={key}" for client, key in KEYS.items()]
    entries += [f"{client}:{scope}={scoped_key(client)}" for client, scope in SCOPED.items()]
    environment["CLOVE_KEYS"] = ",".join(entries)
    for name in list(environment):
        if name.startswith("CLOVE_") and name not in ("CLOVE_KEYS", "CLOVE_TEST_POSTGRES"):
            del environment[name]
    return environment


@contextmanager
def running_server(
    db: str = "memory", *, workers: int = 1, extra: Sequence[str] = ()
) -> Iterator[Server]:
    """Start ``clove serve``, wait until every worker answers health checks, stop it after."""
    grpc_address = f"127.0.0.1:{free_port()}"
    http_address = f"127.0.0.1:{free_port()}"
    with tempfile.TemporaryDirectory(prefix="clove-serve-test-") as folder:
        log_path = Path(folder) / "serve.log"
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                serve_command(
                    "--db",
                    db,
                    "--grpc-addr",
                    grpc_address,
                    "--http-addr",
                    http_address,
                    "--workers",
                    str(workers),
                    *extra,
                ),
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=serve_environment(),
            )
        server = Server(process, grpc_address, http_address, log_path)
        try:
            _wait_until_serving(server, workers)
            yield server
        finally:
            if server.alive():
                server.process.send_signal(signal.SIGTERM)
                try:
                    server.process.wait(30)
                except subprocess.TimeoutExpired:
                    server.process.kill()
                    server.process.wait()


def _wait_until_serving(server: Server, workers: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not server.alive():
            raise RuntimeError(f"clove serve exited early:\n{server.log()}")
        if server.log().count('"event": "serving"') >= workers and _healthy(server.address):
            return
        time.sleep(0.1)
    raise RuntimeError(f"clove serve did not start in {timeout}s:\n{server.log()}")


def _healthy(address: str) -> bool:
    with grpc.insecure_channel(address) as channel:
        try:
            answer = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=2
            )
        except grpc.RpcError:
            return False
    return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)
