"""The ASGI application: dispatch, authentication, admission, limits, metrics, errors.

A bare ASGI callable rather than a framework: the route table is a dict lookup, bodies are
decoded by msgspec straight into typed structs, and nothing else runs per request. Every
request is authenticated (unless its endpoint is public), admitted by the gate at a cost
(rate tokens) known from its body, answered, and recorded in the metrics; every failure is
a JSON error from the one mapper in ``_errors``, never a traceback.

Handlers run on the app's own bounded thread pool, never on the event loop, so a slow
request delays only itself. While a handler runs the app listens for the client's
disconnect; a client that leaves is not waited for (``Call.abandoned`` tells the handler),
though the request keeps its admission slot until its thread is done with it.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any

import msgspec

from clove.database import Database
from clove.errors import ResourceExhaustedError
from clove.server.http._call import Call, Raw, Reply
from clove.server.http._errors import HttpError, bad_request, http_error, invalid_body
from clove.server.http._openapi import openapi_document
from clove.server.http._routes import METRICS_PATH, OPENAPI_PATH, ROUTES, Route
from clove.server.http._settings import HttpSettings
from clove.server.protocols import Gate, Metrics

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# The request headers any handler reads; others are never decoded.
_WANTED = frozenset(
    {
        b"authorization",
        b"content-length",
        b"host",
        b"x-request-id",
        b"clove-consistency",
        b"clove-consistency-token",
    }
)
_JSON = b"application/json"
_ANONYMOUS = "-"
_UNMATCHED = "unmatched"
# Recorded for a request whose client left before its answer (nginx's convention).
_CLIENT_GONE_STATUS = 499


class _ClientGoneError(Exception):
    """The client disconnected while its request was being answered: send nothing."""


class HttpApp:
    """One Database served over HTTP; see ``create_app``."""

    def __init__(
        self, database: Database, *, gate: Gate, metrics: Metrics, settings: HttpSettings
    ) -> None:
        self._database = database
        self._gate = gate
        self._metrics = metrics
        self._settings = settings
        self._routes: dict[str, dict[str, Route]] = {}
        for route in ROUTES:
            self._routes.setdefault(route.path, {})[route.method] = route
        self._decoders: dict[Route, msgspec.json.Decoder[Any]] = {
            route: msgspec.json.Decoder(route.request)
            for route in ROUTES
            if route.request is not None
        }
        self._encoder = msgspec.json.Encoder()
        self._openapi = msgspec.json.encode(openapi_document(ROUTES, settings))
        self._pool = ThreadPoolExecutor(
            max_workers=settings.threads, thread_name_prefix="clove-http"
        )

    def close(self) -> None:
        """Stop the handler threads once the requests they run are done."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._serve(scope, receive, send)
        elif kind == "lifespan":
            await _lifespan(receive, send)
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1008})

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        headers = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in scope["headers"]
            if name in _WANTED
        }
        client = _ANONYMOUS
        label = _UNMATCHED
        token: str | None = None
        try:
            route = self._route(scope["path"], scope["method"])
            label = f"{route.method} {route.path}"
            if not route.public:
                client = self._gate.authenticate(headers.get("authorization"))
                self._gate.authorize(client, route.scope, operation=label)
            request = None
            if route.request is not None:
                body = await _read_body(receive, headers, self._settings.max_body_bytes)
                request = _decode(self._decoders[route], body)
            cost = route.cost(request) if route.cost is not None else 1
            with ExitStack() as admission:
                tab = None
                if not route.public:
                    tab = admission.enter_context(self._gate.admit(client, cost=cost))
                base_url = self._base_url(scope, headers)
                call = Call(self._database, self._settings, headers, base_url, tab=tab)
                reply = await self._answer(route, call, request, receive, admission)
            token = reply.token
            status = reply.status
            if isinstance(reply.body, Raw):
                content, content_type = reply.body.content, reply.body.content_type.encode()
            else:
                content, content_type = self._encoder.encode(reply.body), _JSON
            extra: tuple[tuple[bytes, bytes], ...] = ()
        except _ClientGoneError:
            self._observe(label, client, _CLIENT_GONE_STATUS, started)
            return
        except Exception as error:
            if isinstance(error, ResourceExhaustedError):
                self._metrics.throttled(client=client)
            failure = http_error(error)
            status, content_type = failure.status, _JSON
            content = self._encoder.encode(failure.body)
            extra = failure.headers
        response = [(b"content-type", content_type), (b"content-length", b"%d" % len(content))]
        response.extend(extra)
        if token is not None:
            response.append((b"clove-consistency-token", token.encode()))
        request_id = headers.get("x-request-id")
        if request_id is not None:
            response.append((b"x-request-id", request_id.encode("latin-1")))
        await send({"type": "http.response.start", "status": status, "headers": response})
        await send({"type": "http.response.body", "body": content})
        self._observe(label, client, status, started)

    def _observe(self, label: str, client: str, status: int, started: float) -> None:
        self._metrics.observe(
            surface="http",
            method=label,
            client=client,
            code=str(status),
            seconds=time.perf_counter() - started,
        )

    def _route(self, path: str, method: str) -> Route:
        by_method = self._routes.get(path)
        if by_method is None:
            raise HttpError(404, "not_found", f"no endpoint at {path}")
        route = by_method.get(method)
        if route is None:
            allowed = ", ".join(sorted(by_method))
            raise HttpError(
                405,
                "method_not_allowed",
                f"{path} takes {allowed}, not {method}",
                headers=((b"allow", allowed.encode()),),
            )
        return route

    async def _answer(
        self, route: Route, call: Call, request: Any, receive: Receive, admission: ExitStack
    ) -> Reply:
        """The handler's reply, computed on the pool; ``_ClientGoneError`` if the client left.

        ``admission`` holds what the request was admitted with (its concurrency slot): when
        the client leaves first, it is released only once the handler's thread is done.
        """
        handler = route.handler or functools.partial(self._builtin, route)
        work = self._pool.submit(handler, call, request)
        answer = asyncio.wrap_future(work)
        departure = asyncio.ensure_future(_departure(receive))
        try:
            await asyncio.wait((answer, departure), return_when=asyncio.FIRST_COMPLETED)
            if not answer.done() and not departure.cancelled() and departure.result():
                call.abandoned.set()
                held = admission.pop_all()
                # Called on the handler's thread when it ends, even after the loop has gone.
                work.add_done_callback(lambda finished: _settle(finished, held))
                answer.cancel()  # nobody awaits it; its outcome is dropped in _settle
                raise _ClientGoneError
            return await answer
        finally:
            departure.cancel()

    def _builtin(self, route: Route, call: Call, request: None) -> Reply:
        if route.path == METRICS_PATH:
            content, content_type = self._metrics.render()
            return Reply(Raw(content, content_type))
        if route.path == OPENAPI_PATH:
            return Reply(Raw(self._openapi, "application/json"))
        raise HttpError(404, "not_found", f"no endpoint at {route.path}")

    def _base_url(self, scope: Scope, headers: dict[str, str]) -> str:
        if self._settings.base_url is not None:
            return self._settings.base_url.rstrip("/")
        host = headers.get("host")
        if not host:
            server = scope.get("server")
            host = f"{server[0]}:{server[1]}" if server else "localhost"
        return f"{scope.get('scheme', 'http')}://{host}"


async def _read_body(receive: Receive, headers: dict[str, str], limit: int) -> bytes:
    """The whole body, refusing (413) anything over ``limit`` bytes before reading it all."""
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise HttpError(400, "invalid_argument", "the client went away mid-request")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _departure(receive: Receive) -> bool:
    """Whether the client disconnected; ASGI's ``receive`` waits for that once the body is in.

    A body nobody read (a GET's empty one) is skipped first. False: the server cannot tell.
    """
    drained = False
    while True:
        try:
            message = await receive()
        except Exception:
            return False
        if message["type"] == "http.disconnect":
            return True
        if message["type"] != "http.request" or drained:
            return False
        drained = not message.get("more_body", False)


def _settle(work: Future[Reply], held: ExitStack) -> None:
    """The end of an abandoned request's handler: free its admission slot."""
    held.close()


def _too_large(limit: int) -> HttpError:
    return HttpError(413, "payload_too_large", f"the request body is over {limit} bytes")


def _decode(decoder: msgspec.json.Decoder[Any], body: bytes) -> Any:
    if not body.strip():
        raise bad_request("the request body must be a JSON object")
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as error:
        raise invalid_body(error, body) from None
    except msgspec.DecodeError as error:
        raise bad_request(f"the request body is not valid JSON: {error}") from None
    except RecursionError:
        raise bad_request("the request body nests too deeply") from None


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
