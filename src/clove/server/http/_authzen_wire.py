"""The JSON bodies of the AuthZEN Authorization API 1.0, as msgspec types.

Requests decode straight into these (unknown members are ignored, as the specification asks
of extensible objects); responses encode from them with empty members left out. The OpenAPI
document is generated from the same types.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

Properties = dict[str, Any]

Semantic = Literal["execute_all", "deny_on_first_deny", "permit_on_first_permit"]


class Subject(msgspec.Struct, omit_defaults=True):
    """A user or machine principal: a Clove object ``type:id``."""

    type: Annotated[str, msgspec.Meta(description="A Clove definition name, e.g. `user`.")]
    id: Annotated[
        str | None,
        msgspec.Meta(description="The object id; omitted in a subject search."),
    ] = None
    properties: Annotated[
        Properties | None,
        msgspec.Meta(description="Attributes; merged into the caveat context."),
    ] = None


class Resource(msgspec.Struct, omit_defaults=True):
    """The target of an action: a Clove object ``type:id``."""

    type: Annotated[str, msgspec.Meta(description="A Clove definition name, e.g. `document`.")]
    id: Annotated[
        str | None,
        msgspec.Meta(description="The object id; omitted in a resource search."),
    ] = None
    properties: Annotated[
        Properties | None,
        msgspec.Meta(description="Attributes; merged into the caveat context."),
    ] = None


class Action(msgspec.Struct, omit_defaults=True):
    """What the subject wants to do: a permission (or relation) of the resource's type."""

    name: Annotated[str, msgspec.Meta(description="A permission or relation name, e.g. `view`.")]
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


class EvaluationsResponse(msgspec.Struct, omit_defaults=True):
    evaluations: list[Decision]
    context: Properties | None = None


class PageRequest(msgspec.Struct, omit_defaults=True):
    token: Annotated[
        str | None, msgspec.Meta(description="The `next_token` of the previous page.")
    ] = None
    limit: Annotated[int, msgspec.Meta(ge=1, description="At most this many results.")] | None = (
        None
    )


class PageResponse(msgspec.Struct):
    next_token: Annotated[
        str, msgspec.Meta(description="Send it as `page.token` for the next page; empty at end.")
    ]
    count: Annotated[int, msgspec.Meta(description="Results in this page.")]


class SubjectSearchRequest(msgspec.Struct, omit_defaults=True):
    subject: Subject
    action: Action
    resource: Resource
    context: Properties | None = None
    page: PageRequest | None = None


class ResourceSearchRequest(msgspec.Struct, omit_defaults=True):
    subject: Subject
    action: Action
    resource: Resource
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
