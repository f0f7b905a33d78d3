"""The interceptor every authzed call passes: authenticate, authorize, admit, time, log, map errors.

It is the gRPC surface's one place for the ``Gate``, the ``Metrics`` and the error mapper, so
no servicer deals with keys, scopes, limits or status codes. Each method needs the scope
``clove.server.scopes.GRPC_SCOPES`` gives it (a method missing there is refused). Health
checks pass unauthenticated, as load balancers expect.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import grpc

from clove.errors import CloveError, ResourceExhaustedError
from clove.server.grpc.calls import current_client
from clove.server.grpc.errors import status_for
from clove.server.logs import log
from clove.server.protocols import Gate, Metrics, Tab, current_tab
from clove.server.scopes import GRPC_SCOPES, OPEN_GRPC_PREFIXES, Scope

# Calls that stream for as long as the client likes: admitted against the rate limit when they
# open, then counted as streams rather than holding a concurrency slot (see ``Gate.stream``).
_LONG_LIVED = frozenset({"Watch"})


class Guard(grpc.ServerInterceptor):
    def __init__(self, gate: Gate, metrics: Metrics) -> None:
        self._gate = gate
        self._metrics = metrics

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(details)
        if handler is None or details.method.startswith(OPEN_GRPC_PREFIXES):
            return handler
        method = details.method.rsplit("/", 1)[-1]
        scope = GRPC_SCOPES.get(details.method)
        authorization = None
        for key, value in details.invocation_metadata or ():
            if key == "authorization":
                authorization = value if isinstance(value, str) else value.decode()
        call = _Call(self._gate, self._metrics, method, scope, authorization)
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                call.unary(handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                call.streaming(handler.unary_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                call.unary(handler.stream_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_stream is not None:
            return grpc.stream_stream_rpc_method_handler(
                call.streaming(handler.stream_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler


class _Call:
    """One call's authentication, admission and accounting."""

    def __init__(
        self,
        gate: Gate,
        metrics: Metrics,
        method: str,
        scope: Scope | None,
        authorization: str | None,
    ):
        self._gate = gate
        self._metrics = metrics
        self._method = method
        self._scope = scope
        self._authorization = authorization
        self._client = "-"
        self._admitted = False

    def unary(self, behavior: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        def run(request: Any, context: grpc.ServicerContext) -> Any:
            started = time.perf_counter()
            code = grpc.StatusCode.OK
            try:
                client = self._enter()
                with self._gate.admit(client) as tab:
                    self._admitted = True
                    current_client.set(client)
                    current_tab.set(tab)
                    return behavior(request, context)
            except Exception as error:
                code, message = self._status(error, context)
                context.abort(code, message)
                raise  # unreachable: abort raises
            finally:
                self._finish(code, started)

        return run

    def streaming(
        self, behavior: Callable[[Any, Any], Iterator[Any]]
    ) -> Callable[[Any, Any], Iterator[Any]]:
        def run(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            started = time.perf_counter()
            code = grpc.StatusCode.OK
            try:
                client = self._enter()
                holding: AbstractContextManager[Tab | None]
                if self._method in _LONG_LIVED:
                    with self._gate.admit(client):
                        pass
                    holding = self._gate.stream(client)
                else:
                    holding = self._gate.admit(client)
                with holding as tab:
                    self._admitted = True
                    current_client.set(client)
                    current_tab.set(tab)
                    yield from behavior(request, context)
            except GeneratorExit:
                code = grpc.StatusCode.CANCELLED
                raise
            except Exception as error:
                code, message = self._status(error, context)
                context.abort(code, message)
            finally:
                self._finish(code, started)

        return run

    def _enter(self) -> str:
        self._client = self._gate.authenticate(self._authorization)
        self._gate.authorize(self._client, self._scope, operation=self._method)
        return self._client

    def _status(
        self, error: Exception, context: grpc.ServicerContext
    ) -> tuple[grpc.StatusCode, str]:
        """The status to abort with; a servicer's own ``context.abort`` passes through."""
        # grpc's stubs omit ServicerContext.code(); it is set once a servicer has aborted.
        if not isinstance(error, CloveError) and getattr(context, "code")() is not None:  # noqa: B009
            raise error
        if isinstance(error, TimeoutError):
            code, message = grpc.StatusCode.DEADLINE_EXCEEDED, "the deadline passed"
        else:
            code, message = status_for(error)
        if isinstance(error, ResourceExhaustedError) and not self._admitted:
            self._metrics.throttled(client=self._client)
        if code is grpc.StatusCode.INTERNAL:
            log(
                logging.ERROR,
                "internal error",
                method=self._method,
                client=self._client,
                error=repr(error),
            )
        return code, message

    def _finish(self, code: grpc.StatusCode, started: float) -> None:
        seconds = time.perf_counter() - started
        name = code.name
        self._metrics.observe(
            surface="grpc", method=self._method, client=self._client, code=name, seconds=seconds
        )
        log(
            logging.DEBUG,
            "request",
            surface="grpc",
            method=self._method,
            client=self._client,
            code=name,
            ms=round(seconds * 1000, 3),
        )
