"""The JSON bodies of Clove's own HTTP API (``/v1/...``), as msgspec types.

Objects are written as Clove writes them everywhere else: ``type:id`` for resources,
``type:id`` or ``type:id#relation`` for subjects. Every response carries the
``consistency_token`` of the revision it was computed at (reads) or wrote (writes).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from clove.relationships import CAVEAT_PATTERN, ID_PATTERN, RELATION_PATTERN, TYPE_PATTERN
from clove.server.http._authzen_wire import (
    CONSISTENCY_TOKEN_FORMAT,
    SUBJECT_TEXT,
    CaveatName,
    ObjectId,
    ObjectText,
    PageRequest,
    PageResponse,
    RelationName,
    SubjectId,
    SubjectText,
    TypeName,
)

Mode = Literal["minimize_latency", "at_least_as_fresh", "at_exact_snapshot", "full"]
Permissionship = Literal["has", "no", "conditional"]


class ConsistencyRequest(msgspec.Struct, omit_defaults=True):
    """How fresh a read must be; ``token`` comes from an earlier response.

    ``at_least_as_fresh`` and ``at_exact_snapshot`` need a token, the other modes take none
    (``CROSS_FIELD_RULES`` says so in the OpenAPI document).
    """

    mode: Mode = "minimize_latency"
    token: (
        Annotated[str, msgspec.Meta(extra_json_schema={"format": CONSISTENCY_TOKEN_FORMAT})] | None
    ) = None


# What the handlers require across members, which the types alone cannot say; the OpenAPI
# document adds these to the types' schemas.
CROSS_FIELD_RULES: dict[type, dict[str, Any]] = {
    ConsistencyRequest: {
        "anyOf": [
            {
                "properties": {
                    "mode": {"enum": ["minimize_latency", "full"]},
                    "token": {"type": "null"},
                }
            },
            {
                "required": ["mode", "token"],
                "properties": {
                    "mode": {"enum": ["at_least_as_fresh", "at_exact_snapshot"]},
                    "token": {"type": "string", "minLength": 1},
                },
            },
        ]
    },
}


# RFC 3339 as the server reads it: a real date (February 29 in leap years only) and time,
# with a zone.
_MONTH_DAY = (
    r"(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    r"|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
    r"|02-(?:0[1-9]|1[0-9]|2[0-8]))"
)
_LEAP_YEAR = r"(?:[1-9][0-9](?:0[48]|[2468][048]|[13579][26])|(?:[2468][048]|[13579][26])00)"
_RFC3339 = (
    rf"(?:[1-9][0-9]{{3}}-{_MONTH_DAY}|{_LEAP_YEAR}-02-29)"
    r"[Tt](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,6})?"
    r"(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
)


def _json_object(value: str) -> str:
    member = rf"{_JSON_STRING}{_WS}:{_WS}{value}"
    return rf"\{{{_WS}(?:{member}(?:{_WS},{_WS}{member})*{_WS})?\}}"


def _json_array(value: str) -> str:
    return rf"\[{_WS}(?:{value}(?:{_WS},{_WS}{value})*{_WS})?\]"


# A caveat context in relationship text: a JSON object whose members are scalars, or arrays or
# objects of scalars. A regular expression cannot follow deeper nesting; the object form of a
# relationship takes any context. Strings exclude control characters and escaped surrogates
# (a request body holds no unescaped lone one: msgspec refuses it); numbers are those a float
# or a 64-bit integer holds.
_WS = r"[ \t\n\r]*"
_JSON_STRING = (
    r'"(?:[^"\\\x00-\x1f]'
    r'|\\(?:["\\/bfnrt]|u(?:[0-9a-cA-Ce-fE-F][0-9a-fA-F]{3}|[dD][0-7][0-9a-fA-F]{2})))*"'
)
_JSON_NUMBER = r"-?(?:0|[1-9][0-9]{0,17})(?:\.[0-9]{1,17})?(?:[eE][+-]?[0-9]{1,2})?"
_JSON_SCALAR = rf"(?:{_JSON_STRING}|{_JSON_NUMBER}|true|false|null)"
_JSON_VALUE = rf"(?:{_JSON_SCALAR}|{_json_object(_JSON_SCALAR)}|{_json_array(_JSON_SCALAR)})"
_CAVEAT_CONTEXT = _json_object(_JSON_VALUE)

_TIMESTAMP = f"^{_RFC3339}$"
Timestamp = Annotated[
    str, msgspec.Meta(pattern=_TIMESTAMP, description="RFC 3339 time, with a zone")
]
_RELATIONSHIP_TEXT = (
    rf"^{TYPE_PATTERN}:{ID_PATTERN}#{RELATION_PATTERN}@{SUBJECT_TEXT}"
    rf"(?:\[{CAVEAT_PATTERN}(?::{_CAVEAT_CONTEXT})?\])?"
    rf"(?:\[expiration:{_RFC3339}\])?$"
)
RelationshipText = Annotated[
    str,
    msgspec.Meta(
        pattern=_RELATIONSHIP_TEXT,
        description=(
            "Relationship text (`doc:1#viewer@user:alice[caveat:{json}][expiration:RFC3339]`); "
            "the context a JSON object of scalars, or of arrays and objects of scalars (deeper "
            "contexts in the object form)."
        ),
    ),
]
_SUBJECT_RELATION_FILTER = rf"^(?:{RELATION_PATTERN}|\.\.\.)$"
# What a value failing each pattern should have been, for error messages (see ``_errors``).
PATTERN_MEANINGS: dict[str, str] = {
    _TIMESTAMP: "an RFC 3339 time with a zone, e.g. `2030-01-02T03:04:05Z`",
    _RELATIONSHIP_TEXT: (
        "relationship text, `type:id#relation@type:id[#relation][caveat[:{json}]]"
        "[expiration:RFC3339]`"
    ),
    _SUBJECT_RELATION_FILTER: "a relation name or `...`",
}


class Caveat(msgspec.Struct, omit_defaults=True):
    name: CaveatName
    context: dict[str, Any] | None = None


class RelationshipBody(msgspec.Struct, omit_defaults=True):
    resource: ObjectText
    relation: RelationName
    subject: SubjectText
    caveat: Caveat | None = None
    expiration: Timestamp | None = None


RelationshipArg = RelationshipText | RelationshipBody


class Update(msgspec.Struct):
    operation: Literal["create", "touch", "delete"]
    relationship: RelationshipArg


class FilterBody(msgspec.Struct, omit_defaults=True):
    """Selects relationships; members left out match anything."""

    resource_type: TypeName
    resource_id: ObjectId | None = None
    resource_id_prefix: ObjectId | None = None  # a prefix of ids is an id itself
    relation: RelationName | None = None
    subject_type: TypeName | None = None
    subject_id: SubjectId | None = None
    subject_relation: (
        Annotated[
            str,
            msgspec.Meta(
                pattern=_SUBJECT_RELATION_FILTER, description="`...` selects plain subjects."
            ),
        ]
        | None
    ) = None


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
    resource: ObjectText
    permission: RelationName
    subject: SubjectText
    context: dict[str, Any] | None = None
    consistency: ConsistencyRequest | None = None


class CheckItem(msgspec.Struct, omit_defaults=True):
    resource: ObjectText
    permission: RelationName
    subject: SubjectText
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
    resource_type: TypeName
    permission: RelationName
    subject: SubjectText
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
    resource: ObjectText
    permission: RelationName
    subject_type: TypeName
    subject_relation: RelationName | None = None
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
    resource: ObjectText
    permission: RelationName
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
