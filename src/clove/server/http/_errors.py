"""The one mapper from Clove's errors to HTTP statuses and JSON error bodies.

Domain errors know nothing of HTTP; this module decides the status, a stable ``code`` and
the one-line message a client sees. Anything unexpected becomes a 500 whose message reveals
nothing of the cause (the cause is logged).
"""

from __future__ import annotations

import logging
import math
import re
from typing import Any

import msgspec

from clove.errors import (
    CaveatCostExceededError,
    CaveatEvaluationError,
    DeadlineExceededError,
    InvalidInputError,
    PermissionDeniedError,
    PreconditionFailedError,
    RelationshipExistsError,
    RequestCancelledError,
    ResourceExhaustedError,
    RevisionUnavailableError,
    SchemaError,
    StorageError,
    UnauthenticatedError,
    UnknownTypeError,
    ValidationError,
)
from clove.server.http import _api_wire, _authzen_wire
from clove.server.http._api_wire import ErrorBody

_log = logging.getLogger("clove.server.http")


class HttpError(Exception):
    """A response that ends a request early: status, error body and extra headers."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: tuple[tuple[bytes, bytes], ...] = (),
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = ErrorBody(code=code, message=message, line=line, column=column)
        self.headers = headers


def bad_request(message: str) -> HttpError:
    return HttpError(400, "invalid_argument", message)


# msgspec's message for a string failing a pattern, keyed to what the value should have been.
_PATTERN_FAILURES = {
    f"Expected `str` matching regex {pattern!r}": meaning
    for pattern, meaning in (_authzen_wire.PATTERN_MEANINGS | _api_wire.PATTERN_MEANINGS).items()
}
_MISSING = re.compile(r"Object missing required field `(?P<name>[^`]+)`")
_STEP = re.compile(r"\.(?P<key>[^.\[]+)|\[(?P<index>[0-9]+)\]")
_SHOWN = 100  # characters of a refused value quoted back


def invalid_body(error: msgspec.ValidationError, body: bytes) -> HttpError:
    """A 400 for a body that decoded as JSON but not as the request type, naming the field.

    msgspec says ``Expected `str` matching regex '...' - at `$.subject.id```; a client is
    told ``invalid subject.id 'al ice': expected an object id (...)`` instead, and
    ``subject.id is required`` for a missing member.
    """
    detail, marker, where = str(error).partition(" - at `$")
    path = where.rstrip("`") if marker else ""  # `.subject.id`, `[0].resource`
    field = path.lstrip(".")
    missing = _MISSING.fullmatch(detail)
    if missing is not None:
        name = f"{field}.{missing['name']}" if field else missing["name"]
        return bad_request(f"{name} is required")
    meaning = _PATTERN_FAILURES.get(detail)
    if meaning is not None:
        shown = _value_at(body, path)
        value = f" {shown}" if shown else ""
        return bad_request(f"invalid {field}{value}: expected {meaning}")
    where = f"{field}: " if field else ""
    return bad_request(f"invalid request: {where}{detail}")


def _value_at(body: bytes, path: str) -> str:
    """The value at ``path`` (``.updates[0].relationship``) of ``body``, quoted and shortened."""
    value: Any = msgspec.json.decode(body)
    for step in _STEP.finditer(path):
        try:
            value = value[step["key"]] if step["key"] is not None else value[int(step["index"])]
        except (KeyError, IndexError, TypeError):
            return ""
    shown = repr(value)
    return shown if len(shown) <= _SHOWN else shown[: _SHOWN - 4] + "...'"


def http_error(error: BaseException) -> HttpError:
    """The HTTP answer for ``error``, raised while serving a request."""
    match error:
        case HttpError():
            return error
        case SchemaError():
            line, column = error.line or None, error.column or None
            return HttpError(400, "invalid_schema", str(error), line=line, column=column)
        case InvalidInputError():
            return HttpError(400, "invalid_argument", str(error))
        case UnknownTypeError():
            return HttpError(404, "not_found", str(error))
        case ValidationError():
            return HttpError(400, "failed_precondition", str(error))
        case PreconditionFailedError():
            return HttpError(409, "precondition_failed", str(error))
        case RelationshipExistsError():
            return HttpError(409, "already_exists", str(error))
        case CaveatCostExceededError():
            return HttpError(400, "caveat_cost_exceeded", str(error))
        case CaveatEvaluationError():
            return HttpError(400, "caveat_evaluation_failed", str(error))
        case UnauthenticatedError():
            challenge = ((b"www-authenticate", b'Bearer realm="clove"'),)
            return HttpError(401, "unauthenticated", str(error), headers=challenge)
        case PermissionDeniedError():
            return HttpError(403, "permission_denied", str(error))
        case ResourceExhaustedError():
            retry = _retry_after(error)
            return HttpError(429, "resource_exhausted", str(error), headers=retry)
        case RevisionUnavailableError():
            return HttpError(400, "revision_unavailable", str(error))
        case DeadlineExceededError():
            return HttpError(504, "deadline_exceeded", str(error))
        case RequestCancelledError():  # the client has gone: nobody reads this
            return HttpError(499, "cancelled", str(error))
        case StorageError():
            _log.warning("storage failed: %s", error)
            return HttpError(503, "unavailable", "the datastore is unavailable; retry later")
        case _:
            _log.error("internal error while serving a request", exc_info=error)
            return HttpError(500, "internal", "internal error (this is a bug in Clove)")


def _retry_after(error: ResourceExhaustedError) -> tuple[tuple[bytes, bytes], ...]:
    """``Retry-After`` in whole seconds: the gate's ``retry_after`` hint, else one second."""
    hint = getattr(error, "retry_after", None)
    seconds = math.ceil(hint) if isinstance(hint, int | float) and hint > 0 else 1
    return ((b"retry-after", str(seconds).encode()),)
