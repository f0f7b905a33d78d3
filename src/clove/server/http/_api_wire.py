"""The JSON bodies of Clove's own HTTP API (``/v1/...``), as msgspec types.

Objects are written as Clove writes them everywhere else: ``type:id`` for resources,
``type:id`` or ``type:id#relation`` for subjects. Every response carries the
``consistency_token`` of the revision it was computed at (reads) or wrote (writes).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from clove.server.http._authzen_wire import PageRequest, PageResponse

Mode = Literal["minimize_latency", "at_least_as_fresh", "at_exact_snapshot", "full"]
Permissionship = Literal["has", "no", "conditional"]


class ConsistencyRequest(msgspec.Struct, omit_defaults=True):
    """How fresh a read must be; ``token`` comes from an earlier response."""

    mode: Mode = "minimize_latency"
    token: str | None = None


class Caveat(msgspec.Struct, omit_defaults=True):
    name: str
    context: dict[str, Any] | None = None


class RelationshipBody(msgspec.Struct, omit_defaults=True):
    resource: Annotated[str, msgspec.Meta(description="`type:id`")]
    relation: str
    subject: Annotated[str, msgspec.Meta(description="`type:id` or `type:id#relation`")]
    caveat: Caveat | None = None
    expiration: Annotated[str | None, msgspec.Meta(description="RFC 3339 time")] = None


RelationshipArg = Annotated[
    str | RelationshipBody,
    msgspec.Meta(description="Relationship text (`doc:1#viewer@user:alice`) or an object."),
]


class Update(msgspec.Struct):
    operation: Literal["create", "touch", "delete"]
    relationship: RelationshipArg


class FilterBody(msgspec.Struct, omit_defaults=True):
    """Selects relationships; members left out match anything."""

    resource_type: str
    resource_id: str | None = None
    resource_id_prefix: str | None = None
    relation: str | None = None
    subject_type: str | None = None
    subject_id: str | None = None
    subject_relation: Annotated[
        str | None, msgspec.Meta(description="`...` selects plain subjects.")
    ] = None


class PreconditionBody(msgspec.Struct):
    kind: Literal["must_match", "must_not_match"]
    filter: FilterBody


class WriteRelationshipsRequest(msgspec.Struct, omit_defaults=True):
    updates: list[Update]
    preconditions: list[PreconditionBody] = []


class DeleteRelationshipsRequest(msgspec.Struct, omit_defaults=True):
    filter: FilterBody
    preconditions: list[PreconditionBody] = []


class WriteResponse(msgspec.Struct):
    consistency_token: str


class ReadRelationshipsRequest(msgspec.Struct, omit_defaults=True):
    filter: FilterBody
    consistency: ConsistencyRequest | None = None
    page: PageRequest | None = None


class ReadRelationshipsResponse(msgspec.Struct):
    relationships: list[RelationshipBody]
    page: PageResponse
    consistency_token: str


class SchemaBody(msgspec.Struct):
    schema: Annotated[str, msgspec.Meta(description="Schema text in SpiceDB's language.")]


class SchemaResponse(msgspec.Struct):
    schema: str
    consistency_token: str


class CheckRequest(msgspec.Struct, omit_defaults=True):
    resource: Annotated[str, msgspec.Meta(description="`type:id`")]
    permission: str
    subject: Annotated[str, msgspec.Meta(description="`type:id` or `type:id#relation`")]
    context: dict[str, Any] | None = None
    consistency: ConsistencyRequest | None = None


class CheckItem(msgspec.Struct, omit_defaults=True):
    resource: str
    permission: str
    subject: str
    context: dict[str, Any] | None = None


class CheckResponse(msgspec.Struct, omit_defaults=True):
    permissionship: Permissionship
    missing_context: list[str] = []
    consistency_token: str = ""


class BulkCheckRequest(msgspec.Struct, omit_defaults=True):
    items: list[CheckItem]
    consistency: ConsistencyRequest | None = None


class BulkCheckResult(msgspec.Struct, omit_defaults=True):
    permissionship: Permissionship
    missing_context: list[str] = []


class BulkCheckResponse(msgspec.Struct):
    results: list[BulkCheckResult]
    consistency_token: str


class LookupResourcesRequest(msgspec.Struct, omit_defaults=True):
    resource_type: str
    permission: str
    subject: Annotated[str, msgspec.Meta(description="`type:id` or `type:id#relation`")]
    context: dict[str, Any] | None = None
    consistency: ConsistencyRequest | None = None
    page: PageRequest | None = None


class FoundResource(msgspec.Struct, omit_defaults=True):
    id: str
    permissionship: Permissionship
    missing_context: list[str] = []


class LookupResourcesResponse(msgspec.Struct):
    resources: list[FoundResource]
    page: PageResponse
    consistency_token: str


class LookupSubjectsRequest(msgspec.Struct, omit_defaults=True):
    resource: Annotated[str, msgspec.Meta(description="`type:id`")]
    permission: str
    subject_type: str
    subject_relation: str | None = None
    context: dict[str, Any] | None = None
    consistency: ConsistencyRequest | None = None
    page: PageRequest | None = None


class FoundSubject(msgspec.Struct, omit_defaults=True):
    id: Annotated[str, msgspec.Meta(description="`*` is the wildcard, less `excluded_ids`.")]
    permissionship: Permissionship
    excluded_ids: list[str] = []
    missing_context: list[str] = []


class LookupSubjectsResponse(msgspec.Struct):
    subjects: list[FoundSubject]
    page: PageResponse
    consistency_token: str


class ExpandRequest(msgspec.Struct, omit_defaults=True):
    resource: Annotated[str, msgspec.Meta(description="`type:id`")]
    permission: str
    consistency: ConsistencyRequest | None = None


class ExpandTree(msgspec.Struct, omit_defaults=True):
    """A node of the userset tree; a ``leaf`` lists subjects, other nodes combine children."""

    object: str
    relation: str
    operation: Literal["union", "intersection", "exclusion", "leaf"]
    children: list[ExpandTree] = []
    subjects: Annotated[
        list[str],
        msgspec.Meta(description="`type:id`, `type:id#relation` or `type:*`, `[caveat]` if so."),
    ] = []


class ExpandResponse(msgspec.Struct):
    tree: ExpandTree
    consistency_token: str


class ErrorBody(msgspec.Struct, omit_defaults=True):
    """Every error response: a stable ``code`` and a one-line ``message``."""

    code: str
    message: str
    line: int | None = None
    column: int | None = None


class Health(msgspec.Struct):
    status: str
