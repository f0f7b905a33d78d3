"""What a servicer knows about its call: the client, the deadline, the shared state."""

from __future__ import annotations

import threading
from contextvars import ContextVar
from dataclasses import dataclass

import grpc

from clove.database import Database
from clove.engine.budget import Budget
from clove.errors import DeadlineExceededError, UnknownTypeError
from clove.schema import ir
from clove.server.dedup import InflightRequests
from clove.server.limits import Limits
from clove.server.metrics import PrometheusMetrics
from clove.server.protocols import current_tab

# Set by the guard interceptor before the servicer runs, on the thread that runs it.
current_client: ContextVar[str] = ContextVar("clove_grpc_client", default="")


@dataclass(frozen=True, slots=True, kw_only=True)
class Services:
    """The state every servicer of one worker shares."""

    database: Database
    limits: Limits
    metrics: PrometheusMetrics
    inflight: InflightRequests[object]


# gRPC reports a call without a deadline as ~9.2e18 seconds left (its infinite deadline);
# past this many seconds (about 31 years) a deadline is taken to be none at all.
NO_DEADLINE_BEYOND = 1e9


def require_time(context: grpc.ServicerContext) -> float | None:
    """The seconds left before the call's deadline (None: no deadline); raises when none are."""
    remaining = context.time_remaining()
    if remaining is None or remaining > NO_DEADLINE_BEYOND:
        return None
    if remaining <= 0:
        raise DeadlineExceededError("the deadline passed before the request finished")
    return remaining


def call_budget(context: grpc.ServicerContext) -> Budget:
    """The call's budget: its deadline, and cancelled as soon as the call ends or is cancelled.

    The evaluation checks it as it runs, so a call whose client has gone, or whose deadline
    has passed, stops within a few steps instead of computing an answer nobody reads.
    """
    cancelled = threading.Event()
    if not context.add_callback(cancelled.set):  # the call has already ended
        cancelled.set()
    tab = current_tab.get()
    return Budget(
        timeout=require_time(context),
        cancelled=cancelled,
        on_check=None if tab is None else tab.charge,
    )


def require_definition(schema: ir.Schema, name: str, relation: str | None = None) -> None:
    """SpiceDB's FAILED_PRECONDITION for a filter naming what the schema lacks."""
    definition = schema.definition(name)
    if definition is None:
        raise UnknownTypeError(f"object definition `{name}` not found")
    if relation is not None and definition.relation(relation) is None:
        raise UnknownTypeError(
            f"relation/permission `{relation}` not found under definition `{name}`"
        )
