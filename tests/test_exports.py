"""The public API is curated: adding a name to it must be deliberate."""

from __future__ import annotations

import clove

EXPECTED = {
    "Budget",
    "CaveatCostExceededError",
    "CaveatEvaluationError",
    "CheckResult",
    "CloveError",
    "CloveInternalError",
    "Consistency",
    "ContextError",
    "CycleError",
    "Database",
    "DeadlineExceededError",
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
    "RequestCancelledError",
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
    "WriteTimeoutError",
    "open",
    "parse_relationship",
}


def test_public_names_are_exactly_the_curated_set() -> None:
    assert set(clove.__all__) == EXPECTED
    assert sorted(clove.__all__) == clove.__all__
    for name in clove.__all__:
        assert hasattr(clove, name)
