"""Clove: a Zanzibar-style authorization engine you can embed in Python."""

from clove.consistency import Consistency
from clove.database import (
    CheckResult,
    Database,
    Permissionship,
    ResourceResult,
    SubjectResult,
    open,
)
from clove.engine.expand import ExpandNode
from clove.errors import (
    CaveatEvaluationError,
    CloveError,
    CloveInternalError,
    ContextError,
    InvalidInputError,
    MaxDepthExceededError,
    PreconditionFailedError,
    RelationshipExistsError,
    RelationshipSyntaxError,
    RelationshipTypeError,
    ResourceExhaustedError,
    RevisionUnavailableError,
    SchemaConversionError,
    SchemaError,
    StorageError,
    TokenError,
    UnknownTypeError,
    ValidationError,
)
from clove.migrations import MigrationStatus
from clove.relationships import (
    Operation,
    Precondition,
    PreconditionKind,
    Relationship,
    RelationshipFilter,
    RelationshipUpdate,
    parse_relationship,
)
from clove.storage.history import GarbageReport
from clove.watch import Watch, WatchEvent

__all__ = [
    "CaveatEvaluationError",
    "CheckResult",
    "CloveError",
    "CloveInternalError",
    "Consistency",
    "ContextError",
    "Database",
    "ExpandNode",
    "GarbageReport",
    "InvalidInputError",
    "MaxDepthExceededError",
    "MigrationStatus",
    "Operation",
    "Permissionship",
    "Precondition",
    "PreconditionFailedError",
    "PreconditionKind",
    "Relationship",
    "RelationshipExistsError",
    "RelationshipFilter",
    "RelationshipSyntaxError",
    "RelationshipTypeError",
    "RelationshipUpdate",
    "ResourceExhaustedError",
    "ResourceResult",
    "RevisionUnavailableError",
    "SchemaConversionError",
    "SchemaError",
    "StorageError",
    "SubjectResult",
    "TokenError",
    "UnknownTypeError",
    "ValidationError",
    "Watch",
    "WatchEvent",
    "open",
    "parse_relationship",
]
