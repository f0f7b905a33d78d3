"""The one mapper from Clove's errors to gRPC status codes, with SpiceDB's choices of code.

SpiceDB answers a request naming a definition or relation that the schema lacks, and a write
whose precondition fails, with FAILED_PRECONDITION; malformed input with INVALID_ARGUMENT; a
CREATE of an existing relationship with ALREADY_EXISTS. Anything unexpected is INTERNAL with a
message that names no internals (the cause goes to the log).
"""

from __future__ import annotations

import grpc

from clove.errors import (
    CaveatEvaluationError,
    CloveError,
    CloveInternalError,
    DeadlineExceededError,
    InvalidInputError,
    PermissionDeniedError,
    PreconditionFailedError,
    RelationshipExistsError,
    RelationshipTypeError,
    RequestCancelledError,
    ResourceExhaustedError,
    RevisionUnavailableError,
    StorageError,
    UnauthenticatedError,
    UnknownTypeError,
    ValidationError,
)

INTERNAL_MESSAGE = "internal error; the server logged the cause"


def status_for(error: BaseException) -> tuple[grpc.StatusCode, str]:
    """The status code and client-facing message for ``error``."""
    if not isinstance(error, CloveError) or isinstance(error, CloveInternalError):
        return grpc.StatusCode.INTERNAL, INTERNAL_MESSAGE
    match error:
        case UnauthenticatedError():
            code = grpc.StatusCode.UNAUTHENTICATED
        case PermissionDeniedError():
            code = grpc.StatusCode.PERMISSION_DENIED
        case ResourceExhaustedError():
            code = grpc.StatusCode.RESOURCE_EXHAUSTED
        case DeadlineExceededError():
            code = grpc.StatusCode.DEADLINE_EXCEEDED
        case RequestCancelledError():
            code = grpc.StatusCode.CANCELLED
        case RelationshipTypeError() | InvalidInputError() | CaveatEvaluationError():
            code = grpc.StatusCode.INVALID_ARGUMENT
        case UnknownTypeError() | ValidationError() | PreconditionFailedError():
            code = grpc.StatusCode.FAILED_PRECONDITION
        case RelationshipExistsError():
            code = grpc.StatusCode.ALREADY_EXISTS
        case RevisionUnavailableError():
            code = grpc.StatusCode.FAILED_PRECONDITION
        case StorageError():
            code = grpc.StatusCode.UNAVAILABLE
        case _:
            code = grpc.StatusCode.UNKNOWN
    return code, str(error)
