"""The OpenAPI 3.1 document of the HTTP surface, generated from the route table.

Body schemas come from the same msgspec types that decode requests and encode responses,
so the document cannot drift from what the server accepts.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

import msgspec

from clove.server.http import _api_wire, _authzen_wire
from clove.server.http._api_wire import ErrorBody
from clove.server.http._consistency import MODE_HEADER, MODES, TOKEN_HEADER
from clove.server.http._routes import Route
from clove.server.http._settings import HttpSettings

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
        "description": (
            "minimize_latency (default) or full, without a token; at_least_as_fresh or "
            "at_exact_snapshot, with Clove-Consistency-Token."
        ),
        "schema": {"type": "string", "enum": list(MODES)},
    },
    {
        "name": "Clove-Consistency-Token",
        "in": "header",
        "required": False,
        "description": (
            "A token from an earlier response (of this server); alone it means "
            "at_least_as_fresh. Not with minimize_latency or full."
        ),
        "schema": {"type": "string", "format": _authzen_wire.CONSISTENCY_TOKEN_FORMAT},
    },
]

_REQUEST_ID = {
    "name": "X-Request-ID",
    "in": "header",
    "required": False,
    "description": "Echoed in the response.",
    "schema": {"type": "string"},
}


def openapi_document(routes: tuple[Route, ...], settings: HttpSettings) -> dict[str, Any]:
    """The document; ``settings`` bound page sizes and batches as the server does."""
    types: list[Any] = [ErrorBody]
    for route in routes:
        types.extend(kind for kind in (route.request, route.response) if kind is not None)
    unique = list(dict.fromkeys(types))
    refs, components = msgspec.json.schema_components(unique, ref_template=_REF)
    for rules in (_api_wire.CROSS_FIELD_RULES, _authzen_wire.CROSS_FIELD_RULES):
        for kind, rule in rules.items():
            components[kind.__name__].update(rule)
    _apply_limits(components, settings)
    schema_of = dict(zip(unique, refs, strict=True))
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


# The batches the server bounds by ``HttpSettings.max_batch``: (component, array member).
_BATCHES = (
    ("WriteRelationshipsRequest", "updates"),
    ("BulkCheckRequest", "items"),
    ("EvaluationsRequest", "evaluations"),
)


def _apply_limits(components: dict[str, Any], settings: HttpSettings) -> None:
    """The server's limits, in the schemas of the members they bound.

    ``page.limit`` decodes as an int or a whole float (JSON does not tell 5 from 5.0); JSON
    Schema's ``integer`` means exactly that.
    """
    limit = components["PageRequest"]["properties"]["limit"]
    limit["anyOf"] = [
        {"type": "integer", "minimum": 1, "maximum": settings.max_page_size},
        {"type": "null"},
    ]
    limit["description"] = (
        f"At most this many results (at most {settings.max_page_size}; "
        f"{settings.default_page_size} when left out)."
    )
    for component, member in _BATCHES:
        batch = components[component]["properties"][member]
        array = next(
            (choice for choice in batch.get("anyOf", [batch]) if choice.get("type") == "array"),
        )
        array["maxItems"] = settings.max_batch


def _operation(route: Route, schema_of: dict[Any, Any]) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": _operation_id(route),
        "summary": route.summary,
        "tags": [route.tag],
        "parameters": [_REQUEST_ID, *(_CONSISTENCY_PARAMETERS if route.reads else ())],
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
