"""The JSON bodies of the AuthZEN Authorization API 1.0, as msgspec types.

Requests decode straight into these (unknown members are ignored, as the specification asks
of extensible objects); responses encode from them with empty members left out. The OpenAPI
document is generated from the same types.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from clove.relationships import CAVEAT_PATTERN, ID_PATTERN, RELATION_PATTERN, TYPE_PATTERN

Properties = dict[str, Any]

# Opaque tokens a client can only get from an earlier response (OpenAPI `format`s).
CONSISTENCY_TOKEN_FORMAT = "clove-consistency-token"
PAGE_TOKEN_FORMAT = "clove-page-token"

# Names and ids as the server parses them: the same patterns validate requests (msgspec checks
# them while decoding) and appear in the OpenAPI document.
_SUBJECT_ID = rf"(?:{ID_PATTERN}|\*)"
# A wildcard subject (`user:*`) has no subject relation.
SUBJECT_TEXT = rf"{TYPE_PATTERN}:(?:{ID_PATTERN}(?:#(?:{RELATION_PATTERN}|\.\.\.))?|\*(?:#\.\.\.)?)"
_TYPE_NAME = f"^{TYPE_PATTERN}$"
_OBJECT_ID = f"^{ID_PATTERN}$"
_SUBJECT_ID_ONLY = f"^{_SUBJECT_ID}$"
_RELATION_NAME = f"^{RELATION_PATTERN}$"
_CAVEAT_NAME = f"^{CAVEAT_PATTERN}$"
_OBJECT_TEXT = f"^{TYPE_PATTERN}:{ID_PATTERN}$"
SUBJECT_PATTERN = f"^{SUBJECT_TEXT}$"

TypeName = Annotated[
    str, msgspec.Meta(pattern=_TYPE_NAME, description="A definition name, e.g. `user`.")
]
ObjectId = Annotated[str, msgspec.Meta(pattern=_OBJECT_ID, description="An object id.")]
SubjectId = Annotated[
    str, msgspec.Meta(pattern=_SUBJECT_ID_ONLY, description="An object id, or `*` for all.")
]
RelationName = Annotated[
    str, msgspec.Meta(pattern=_RELATION_NAME, description="A relation or permission name.")
]
CaveatName = Annotated[str, msgspec.Meta(pattern=_CAVEAT_NAME, description="A caveat name.")]
ObjectText = Annotated[str, msgspec.Meta(pattern=_OBJECT_TEXT, description="`type:id`")]
SubjectText = Annotated[
    str,
    msgspec.Meta(
        pattern=SUBJECT_PATTERN,
        description="`type:id` or `type:id#relation` (`type:*` for every object of the type)",
    ),
]

_NAME_RULE = "lowercase letters, digits and _, 3 to 64 characters"
_ID_RULE = "1 to 1024 letters, digits or /_|-=+"
# What a value failing each pattern should have been, for error messages (see ``_errors``).
PATTERN_MEANINGS: dict[str, str] = {
    _TYPE_NAME: f"a definition name ({_NAME_RULE}, after optional `namespace/`s)",
    _OBJECT_ID: f"an object id ({_ID_RULE})",
    _SUBJECT_ID_ONLY: f"an object id ({_ID_RULE}) or `*`",
    _RELATION_NAME: f"a relation or permission name ({_NAME_RULE})",
    _CAVEAT_NAME: "a caveat name (lowercase letters, digits and _, after optional `namespace/`s)",
    _OBJECT_TEXT: f"`type:id` (the id {_ID_RULE})",
    SUBJECT_PATTERN: "`type:id`, `type:id#relation` or `type:*`",
}

Semantic = Literal["execute_all", "deny_on_first_deny", "permit_on_first_permit"]


class Subject(msgspec.Struct, omit_defaults=True):
    """A user or machine principal: a Clove object ``type:id``."""

    type: TypeName
    id: SubjectId
    properties: Annotated[
        Properties | None,
        msgspec.Meta(description="Attributes; merged into the caveat context."),
    ] = None


class SubjectKind(msgspec.Struct, omit_defaults=True):
    """The subjects a subject search looks for: their type (an id is ignored)."""

    type: TypeName
    id: str | None = None
    properties: Annotated[
        Properties | None,
        msgspec.Meta(description="Attributes; merged into the caveat context."),
    ] = None


class Resource(msgspec.Struct, omit_defaults=True):
    """The target of an action: a Clove object ``type:id``."""

    type: TypeName
    id: ObjectId
    properties: Annotated[
        Properties | None,
        msgspec.Meta(description="Attributes; merged into the caveat context."),
    ] = None


class ResourceKind(msgspec.Struct, omit_defaults=True):
    """The resources a resource search looks for: their type (an id is ignored)."""

    type: TypeName
    id: str | None = None
    properties: Annotated[
        Properties | None,
        msgspec.Meta(description="Attributes; merged into the caveat context."),
    ] = None


class Action(msgspec.Struct, omit_defaults=True):
    """What the subject wants to do: a permission (or relation) of the resource's type."""

    name: RelationName
    properties: Annotated[
        Properties | None,
        msgspec.Meta(description="Attributes; merged into the caveat context."),
    ] = None


class EvaluationRequest(msgspec.Struct, omit_defaults=True):
    subject: Subject
    action: Action
    resource: Resource
    context: Properties | None = None


class Decision(msgspec.Struct, omit_defaults=True):
    """``decision`` is true only for a definite permit; ``context`` says why not, if not."""

    decision: bool
    context: Properties | None = None


class EvaluationItem(msgspec.Struct, omit_defaults=True):
    """One evaluation of a batch; members left out are taken from the request's defaults."""

    subject: Subject | None = None
    action: Action | None = None
    resource: Resource | None = None
    context: Properties | None = None


class EvaluationsOptions(msgspec.Struct, omit_defaults=True):
    evaluations_semantic: Semantic = "execute_all"


class EvaluationsRequest(msgspec.Struct, omit_defaults=True):
    subject: Subject | None = None
    action: Action | None = None
    resource: Resource | None = None
    context: Properties | None = None
    evaluations: list[EvaluationItem] | None = None
    options: EvaluationsOptions | None = None


def _given_by_default_or_every_item(member: str) -> dict[str, Any]:
    present = {"required": [member], "properties": {member: {"type": "object"}}}
    return {
        "anyOf": [
            present,
            {
                "required": ["evaluations"],
                "properties": {"evaluations": {"type": "array", "minItems": 1, "items": present}},
            },
        ]
    }


# What the handlers require across members, which the types alone cannot say; the OpenAPI
# document adds these to the types' schemas.
CROSS_FIELD_RULES: dict[type, dict[str, Any]] = {
    EvaluationsRequest: {
        "allOf": [
            _given_by_default_or_every_item(member) for member in ("subject", "action", "resource")
        ]
    },
}


class EvaluationsResponse(msgspec.Struct, omit_defaults=True):
    evaluations: list[Decision]
    context: Properties | None = None


class PageRequest(msgspec.Struct, omit_defaults=True):
    token: (
        Annotated[
            str,
            msgspec.Meta(
                description="The `next_token` of the previous page.",
                extra_json_schema={"format": PAGE_TOKEN_FORMAT},
            ),
        ]
        | None
    ) = None
    # JSON does not tell 5 from 5.0 (nor does the OpenAPI document, which says integer), so
    # whole-number floats are counts too; ``__post_init__`` makes them ints.
    limit: (
        Annotated[int, msgspec.Meta(ge=1, description="At most this many results.")]
        | Annotated[float, msgspec.Meta(ge=1)]
        | None
    ) = None

    def __post_init__(self) -> None:
        if isinstance(self.limit, float):
            if not self.limit.is_integer():
                raise ValueError(f"limit must be a whole number, not {self.limit}")
            self.limit = int(self.limit)


class PageResponse(msgspec.Struct):
    next_token: Annotated[
        str, msgspec.Meta(description="Send it as `page.token` for the next page; empty at end.")
    ]
    count: Annotated[int, msgspec.Meta(description="Results in this page.")]


class SubjectSearchRequest(msgspec.Struct, omit_defaults=True):
    subject: SubjectKind
    action: Action
    resource: Resource
    context: Properties | None = None
    page: PageRequest | None = None


class ResourceSearchRequest(msgspec.Struct, omit_defaults=True):
    subject: Subject
    action: Action
    resource: ResourceKind
    context: Properties | None = None
    page: PageRequest | None = None


class ActionSearchRequest(msgspec.Struct, omit_defaults=True):
    subject: Subject
    resource: Resource
    context: Properties | None = None
    page: PageRequest | None = None


class SubjectSearchResponse(msgspec.Struct, omit_defaults=True):
    results: list[Subject]
    page: PageResponse
    context: Properties | None = None


class ResourceSearchResponse(msgspec.Struct, omit_defaults=True):
    results: list[Resource]
    page: PageResponse
    context: Properties | None = None


class ActionSearchResponse(msgspec.Struct, omit_defaults=True):
    results: list[Action]
    page: PageResponse
    context: Properties | None = None


class Configuration(msgspec.Struct, omit_defaults=True):
    """Policy decision point metadata (``/.well-known/authzen-configuration``)."""

    policy_decision_point: str
    access_evaluation_endpoint: str
    access_evaluations_endpoint: str
    search_subject_endpoint: str
    search_resource_endpoint: str
    search_action_endpoint: str
