"""Build one worker's gRPC server: the authzed services, health, reflection, limits, TLS."""

from __future__ import annotations

import threading
from concurrent import futures
from dataclasses import dataclass

import grpc
from authzed.api.v1 import (
    permission_service_pb2,
    permission_service_pb2_grpc,
    schema_service_pb2,
    schema_service_pb2_grpc,
    watch_service_pb2,
    watch_service_pb2_grpc,
)
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from clove.database import Database
from clove.server.dedup import InflightRequests
from clove.server.grpc.calls import Services
from clove.server.grpc.guard import Guard
from clove.server.grpc.permissions import PermissionsServicer
from clove.server.grpc.schema import SchemaServicer
from clove.server.grpc.watch import WatchServicer
from clove.server.limits import Limits
from clove.server.metrics import PrometheusMetrics
from clove.server.protocols import Gate


@dataclass(frozen=True, slots=True, kw_only=True)
class GrpcSurface:
    """A worker's gRPC server and what its shutdown must tell first."""

    server: grpc.Server
    health: health.HealthServicer
    watches: WatchServicer

    def drain(self, grace: float) -> threading.Event:
        """Stop taking calls, end the open watches, and let other calls finish for ``grace``."""
        self.health.enter_graceful_shutdown()
        self.watches.shutdown()
        return self.server.stop(grace)


@dataclass(frozen=True, slots=True, kw_only=True)
class Tls:
    """PEM certificate chain and private key (bytes, read at start-up)."""

    certificate_chain: bytes
    private_key: bytes


def build_grpc_server(
    database: Database,
    *,
    address: str,
    gate: Gate,
    metrics: PrometheusMetrics,
    limits: Limits,
    threads: int,
    tls: Tls | None = None,
    handshake_timeout: float = 120.0,
) -> GrpcSurface:
    """A bound, not yet started server; SO_REUSEPORT lets every worker bind ``address``.

    ``handshake_timeout`` (seconds) is how long a new connection may take to get through
    TLS and HTTP/2's opening; gRPC closes those that sit there longer.
    """
    services = Services(
        database=database, limits=limits, metrics=metrics, inflight=InflightRequests()
    )
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="clove-grpc"),
        interceptors=[Guard(gate, metrics)],
        options=[
            ("grpc.so_reuseport", 1),
            ("grpc.max_receive_message_length", limits.max_message_bytes),
            ("grpc.max_send_message_length", 64 * 1024 * 1024),
            ("grpc.server_handshake_timeout_ms", max(1, round(handshake_timeout * 1000))),
        ],
        # Past this many calls in flight the server answers RESOURCE_EXHAUSTED at once
        # instead of queueing without bound.
        maximum_concurrent_rpcs=threads * 8,
    )
    permission_service_pb2_grpc.add_PermissionsServiceServicer_to_server(
        PermissionsServicer(services), server
    )
    schema_service_pb2_grpc.add_SchemaServiceServicer_to_server(SchemaServicer(services), server)
    # A watch holds a request thread while it streams: half the threads stay for the rest.
    watches = WatchServicer(services, max_streams=max(1, threads // 2))
    watch_service_pb2_grpc.add_WatchServiceServicer_to_server(watches, server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = [
        permission_service_pb2.DESCRIPTOR.services_by_name["PermissionsService"].full_name,
        schema_service_pb2.DESCRIPTOR.services_by_name["SchemaService"].full_name,
        watch_service_pb2.DESCRIPTOR.services_by_name["WatchService"].full_name,
        health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
        reflection.SERVICE_NAME,
    ]
    reflection.enable_server_reflection(names, server)
    for name in [*names[:3], ""]:
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    if tls is None:
        port = server.add_insecure_port(address)
    else:
        credentials = grpc.ssl_server_credentials([(tls.private_key, tls.certificate_chain)])
        port = server.add_secure_port(address, credentials)
    if port == 0:
        raise OSError(f"cannot listen for gRPC on {address}")
    return GrpcSurface(server=server, health=health_servicer, watches=watches)
