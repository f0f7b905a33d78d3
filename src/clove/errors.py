"""Clove's one exception tree.

::

    CloveError                      every error Clove raises on purpose
    ├── InvalidInputError           the caller sent something malformed
    │   ├── SchemaError             schema text that does not parse or type-check (line:column)
    │   ├── RelationshipSyntaxError a relationship string that does not parse
    │   ├── ContextError            caveat context of the wrong shape or type
    │   ├── TokenError              a consistency token that is malformed or from another store
    │   └── SchemaConversionError   a schema construct the target language cannot express
    ├── ValidationError             well-formed input that breaks the schema
    │   ├── UnknownTypeError        a definition, relation, permission or caveat that does not exist
    │   ├── RelationshipTypeError   a relationship the schema does not allow
    │   └── CycleError              an answer that depends on its own negation (data cycle)
    ├── PreconditionFailedError     a write precondition did not hold; nothing was written
    ├── RelationshipExistsError     a CREATE of a relationship that already exists
    ├── CaveatEvaluationError       a caveat expression failed at run time
    │   └── CaveatCostExceededError the evaluation would cost more than the caveat's budget
    ├── UnauthenticatedError        a request without a valid key (server surfaces)
    ├── PermissionDeniedError       a valid key without the scope a request needs (server surfaces)
    ├── ResourceExhaustedError      a per-client limit (rate, concurrency, size) was exceeded
    │   └── MaxDepthExceededError   a check or lookup needs more nested steps than allowed
    ├── DeadlineExceededError       a request ran past its deadline; its work was stopped
    ├── RequestCancelledError       a request was cancelled (its client went away)
    ├── StorageError                the backend failed or refused (locked, corrupt, closed)
    │   ├── RevisionUnavailableError a token names a revision this store cannot serve
    │   └── WriteTimeoutError       a write waited too long for the writers before it
    └── CloveInternalError          a bug in Clove; the message says so

Errors carry structured fields (``line``, ``column``, ``source`` ...) so that every API surface
can map them to its own wire format without parsing messages.
"""

from __future__ import annotations


class CloveError(Exception):
    """Base of every error Clove raises on purpose."""


class InvalidInputError(CloveError):
    """The caller sent something malformed."""


class SchemaError(InvalidInputError):
    """Schema text that does not parse or does not type-check.

    ``line`` and ``column`` are 1-based positions in the schema text (0 when unknown);
    ``file`` names the source file when a schema spans several (OpenFGA modules), else "".
    """

    def __init__(self, message: str, *, line: int = 0, column: int = 0, file: str = "") -> None:
        self.message = message
        self.line = line
        self.column = column
        self.file = file
        where = f"{line}:{column}: " if line else ""
        if file:
            where = f"{file}:{where}" if line else f"{file}: "
        super().__init__(f"{where}{message}")


class RelationshipSyntaxError(InvalidInputError):
    """A relationship (or check) string that does not parse."""

    def __init__(self, message: str, *, text: str) -> None:
        self.message = message
        self.text = text
        super().__init__(f"{message}: {text!r}")


class ContextError(InvalidInputError):
    """Caveat context that has the wrong shape or a value of the wrong type."""


class TokenError(InvalidInputError):
    """A consistency token that is malformed or belongs to another store."""


class SchemaConversionError(InvalidInputError):
    """A schema uses a construct that the language it is converted to cannot express.

    ``construct`` names the construct (``wildcard subject type``, ``nil`` ...), ``where`` the
    place in the schema (``document#viewer``) and ``target`` the language.
    """

    def __init__(self, message: str, *, construct: str, where: str, target: str) -> None:
        self.message = message
        self.construct = construct
        self.where = where
        self.target = target
        super().__init__(message)


class ValidationError(CloveError):
    """Well-formed input that the current schema does not allow."""


class UnknownTypeError(ValidationError):
    """A definition, relation, permission or caveat that does not exist in the schema."""


class RelationshipTypeError(ValidationError):
    """A relationship whose subject type, caveat or expiration the relation does not allow."""


class CycleError(ValidationError):
    """The answer depends on its own negation: a cycle in the data runs through an exclusion.

    ``view = viewer - banned`` where ``banned`` reaches ``view`` again has no consistent
    answer (SpiceDB's dispatch gives up at its depth limit on such data); Clove says so.
    """

    def __init__(self) -> None:
        super().__init__(
            "the answer depends on itself through an exclusion (a cycle in the relationships "
            "runs through `-`), so it has no consistent value; break the cycle in the data"
        )


class PreconditionFailedError(CloveError):
    """A write precondition did not hold; nothing was written."""


class RelationshipExistsError(CloveError):
    """A CREATE named a relationship that already exists; nothing was written."""


class CaveatEvaluationError(CloveError):
    """A caveat expression failed while evaluating (for example, a type mismatch at run time)."""


class CaveatCostExceededError(CaveatEvaluationError):
    """Evaluating a caveat over this context could cost more than its budget allows, so it
    was not run. ``cost`` is the bound computed from the context's sizes, ``limit`` the
    budget (both in cost units); a smaller context, or a larger budget, lets it run."""

    def __init__(self, *, caveat: str, cost: int, limit: int) -> None:
        super().__init__(
            f"evaluation of caveat `{caveat}` over this context could cost {cost} units, "
            f"more than the limit of {limit}: the context's strings, lists or maps are too "
            "large for this expression"
        )
        self.caveat = caveat
        self.cost = cost
        self.limit = limit


class UnauthenticatedError(CloveError):
    """A server request without a valid bearer key."""


class PermissionDeniedError(CloveError):
    """A server request whose key is valid but lacks the scope the request needs.

    ``client`` names the key's client, ``operation`` what it called, ``scope`` the scope that
    would have allowed it.
    """

    def __init__(self, message: str, *, client: str, operation: str, scope: str) -> None:
        super().__init__(message)
        self.client = client
        self.operation = operation
        self.scope = scope


class ResourceExhaustedError(CloveError):
    """A per-client limit (rate, concurrency, request size) was exceeded; retry later."""


class MaxDepthExceededError(ResourceExhaustedError):
    """A check or lookup needs more nested steps than ``max_depth`` allows.

    Retrying does not help: the data (a long or cyclic chain of groups) is deeper than the
    database's ``max_depth``, as SpiceDB's dispatch depth limit reports.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"max depth exceeded: the evaluation needs more than {limit} nested steps, which "
            "usually means a recursive or too deep data dependency"
        )
        self.limit = limit


class DeadlineExceededError(CloveError):
    """A request ran past its deadline (``timeout=`` or the caller's); its work was stopped."""


class RequestCancelledError(CloveError):
    """A request was cancelled (its client went away); its work was stopped."""


class StorageError(CloveError):
    """The storage backend failed or refused the operation."""


class RevisionUnavailableError(StorageError):
    """A consistency token names a revision this store cannot serve."""


class WriteTimeoutError(StorageError):
    """A write waited longer than its bound for the writers before it; nothing was written.

    ``timeout`` is that bound in seconds. The store is busy, not broken: retry later.
    """

    def __init__(self, message: str, *, timeout: float) -> None:
        super().__init__(message)
        self.timeout = timeout


class CloveInternalError(CloveError):
    """A bug in Clove. Please report it; the message says what went wrong."""

    def __init__(self, message: str) -> None:
        super().__init__(f"internal error (this is a bug in Clove): {message}")
