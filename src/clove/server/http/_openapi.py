"""The OpenAPI 3.1 document of the HTTP surface, generated from the route table.

Body schemas come from the same msgspec types that decode requests and encode responses,
so the document cannot drift from what the server accepts.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

import msgspec

from clove.server.http._api_wire import ErrorBody
from clove.server.http._consistency import MODE_HEADER, TOKEN_HEADER
from clove.server.http._routes import Route

_REF = "#/components/schemas/{name}"

_ERRORS = {
    "400": "The request is malformed: bad JSON, a wrong shape (the message names the field), "
    "an invalid id or token.",
    "401": "No valid bearer key.",
    "403": "The key lacks the scope this endpoint needs (the message names it).",
    "404": "An unknown definition, permission or relation.",
    "409": "A write precondition failed, or a created relationship exists.",
    "413": "The request body is over the size limit.",
    "429": "The client is over its rate or concurrency limit; see Retry-After.",
    "500": "A bug in Clove.",
    "503": "The datastore is unavailable.",
}

_CONSISTENCY_PARAMETERS = [
    {
        "name": "Clove-Consistency",
        "in": "header",
        "required": False,
        "description": "minimize_latency (default), full, at_least_as_fresh or at_exact_snapshot.",
        "schema": {"type": "string"},
    },
    {
        "name": "Clove-Consistency-Token",
        "in": "header",
        "required": False,
        "description": "A token from an earlier response; alone it means at_least_as_fresh.",
        "schema": {"type": "string"},
    },
]

_REQUEST_ID = {
    "name": "X-Request-ID",
    "in": "header",
    "required": False,
    "description": "Echoed in the response.",
    "schema": {"type": "string"},
}


def openapi_document(routes: tuple[Route, ...]) -> dict[str, Any]:
    types: list[Any] = [ErrorBody]
    for route in routes:
        types.extend(kind for kind in (route.request, route.response) if kind is not None)
    unique = list(dict.fromkeys(types))
    refs, components = msgspec.json.schema_components(unique, ref_template=_REF)
    schema_of = dict(zip(unique, refs, strict=True))
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, schema_of)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Clove HTTP API",
            "version": _version(),
            "description": (
                "AuthZEN Authorization API 1.0 and Clove's own JSON API. Send "
                "`Authorization: Bearer <key>`. Reads answer at one snapshot and return its "
                f"token in the `{TOKEN_HEADER.title()}` header; send it back (or "
                f"`{MODE_HEADER.title()}`) to choose how fresh a read must be."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


def _operation(route: Route, schema_of: dict[Any, Any]) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": _operation_id(route),
        "summary": route.summary,
        "tags": [route.tag],
        "parameters": [_REQUEST_ID, *_CONSISTENCY_PARAMETERS],
    }
    if route.public:
        operation["security"] = []
    else:
        operation["description"] = f"Needs a key with the `{route.scope}` scope."
    if route.request is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": schema_of[route.request]}},
        }
    body = schema_of[route.response] if route.response is not None else _untyped(route)
    responses: dict[str, Any] = {
        "200": {"description": "OK", "content": {route.content_type: {"schema": body}}}
    }
    for status, description in _ERRORS.items():
        if route.public and status in ("401", "403", "429"):
            continue
        if route.request is None and status == "413":
            continue
        error = {"application/json": {"schema": schema_of[ErrorBody]}}
        responses[status] = {"description": description, "content": error}
    operation["responses"] = responses
    return operation


def _untyped(route: Route) -> dict[str, Any]:
    return {"type": "string"} if route.content_type.startswith("text/") else {"type": "object"}


def _operation_id(route: Route) -> str:
    words = [part for part in route.path.strip("/").replace(".", "").split("/") if part]
    words = [word.replace("-", "_") for word in words]
    return route.method.lower() + "_" + "_".join(words)


def _version() -> str:
    try:
        return version("clove")
    except PackageNotFoundError:
        return "0"
