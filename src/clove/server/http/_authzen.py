"""The AuthZEN Authorization API 1.0 over one Database.

Mapping (documented for clients in README and the OpenAPI document):

- ``subject.type``/``subject.id`` and ``resource.type``/``resource.id`` are Clove objects
  ``type:id``; ``action.name`` is a permission (or relation) of the resource's type.
- The caveat context is the union of ``subject.properties``, ``resource.properties``,
  ``action.properties`` and ``context``; a key given twice with different values is a 400.
- ``context.consistency_token`` (or the ``Clove-Consistency-Token`` header) asks for a read at
  least as fresh as that token; every response returns the token of the snapshot it read, in
  its context and in the ``Clove-Consistency-Token`` header.
- A definite permit is ``decision: true``. A result that depends on caveat context the
  request did not give is a deny whose context says ``reason: conditional`` and names the
  ``missing_context``.
- Searches return definite permits only, in id order, paged with ``page.token`` and
  ``page.limit``; every page of a listing reads the snapshot of its first page.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from clove.consistency import Consistency
from clove.database import CheckResult, ConsistencyArg, Permissionship
from clove.errors import (
    CaveatEvaluationError,
    InvalidInputError,
    UnknownTypeError,
    ValidationError,
)
from clove.server.http._authzen_wire import (
    Action,
    ActionSearchRequest,
    ActionSearchResponse,
    Configuration,
    Decision,
    EvaluationItem,
    EvaluationRequest,
    EvaluationsRequest,
    EvaluationsResponse,
    Resource,
    ResourceKind,
    ResourceSearchRequest,
    ResourceSearchResponse,
    Subject,
    SubjectKind,
    SubjectSearchRequest,
    SubjectSearchResponse,
)
from clove.server.http._call import Call, Reply
from clove.server.http._consistency import MODE_HEADER, requested, snapshot
from clove.server.http._errors import HttpError, bad_request, http_error
from clove.server.http._paging import (
    collect,
    fingerprint,
    page_limit,
    page_response,
    start_listing,
)

_T = TypeVar("_T")

TOKEN_KEY = "consistency_token"

EVALUATION_PATH = "/access/v1/evaluation"
EVALUATIONS_PATH = "/access/v1/evaluations"
SEARCH_SUBJECT_PATH = "/access/v1/search/subject"
SEARCH_RESOURCE_PATH = "/access/v1/search/resource"
SEARCH_ACTION_PATH = "/access/v1/search/action"

# Errors in one item of a batch answer that item with a deny; the rest of the batch goes on.
_ITEM_ERRORS = (HttpError, InvalidInputError, ValidationError, CaveatEvaluationError)


# --- the request's pieces -------------------------------------------------------------------


def _caveat_context(
    subject: Subject | SubjectKind,
    action: Action | None,
    resource: Resource | ResourceKind,
    context: Mapping[str, Any] | None,
) -> dict[str, Any] | None:
    sources = (
        ("subject.properties", subject.properties),
        ("resource.properties", resource.properties),
        ("action.properties", action.properties if action is not None else None),
        ("context", context),
    )
    merged: dict[str, Any] | None = None
    origin: dict[str, str] = {}
    for where, values in sources:
        if not values:
            continue
        if merged is None:
            merged = {}
        for key, value in values.items():
            if where == "context" and key == TOKEN_KEY:
                continue
            if key in merged and merged[key] != value:
                raise bad_request(
                    f"caveat context key {key!r} is given by {origin[key]} and {where} "
                    "with different values"
                )
            merged[key] = value
            origin.setdefault(key, where)
    return merged or None


def _consistency(call: Call, context: Mapping[str, Any] | None) -> ConsistencyArg:
    """``context.consistency_token`` if given, else the headers."""
    token = context.get(TOKEN_KEY) if context else None
    if token is None:
        return call.header_consistency()
    if not isinstance(token, str):
        raise bad_request("context.consistency_token must be a string")
    return requested(call.headers.get(MODE_HEADER), token)


def _object(kind: str, type_: str, id_: str | None) -> str:
    if id_ is None or id_ == "":
        raise bad_request(f"{kind}.id is required")
    return f"{type_}:{id_}"


def _decision(result: CheckResult) -> Decision:
    if result.permissionship is Permissionship.HAS:
        return Decision(decision=True)
    if result.permissionship is Permissionship.NO:
        return Decision(decision=False)
    missing = list(result.missing_context)
    return Decision(decision=False, context={"reason": "conditional", "missing_context": missing})


def _evaluate(
    call: Call,
    consistency: Consistency,
    subject: Subject,
    action: Action,
    resource: Resource,
    context: Mapping[str, Any] | None,
) -> Decision:
    result = call.database.check(
        _object("resource", resource.type, resource.id),
        action.name,
        _object("subject", subject.type, subject.id),
        context=_caveat_context(subject, action, resource, context),
        consistency=consistency,
        budget=call.budget(),
    )
    return _decision(result)


def _with_token(decision: Decision, token: str) -> Decision:
    context = dict(decision.context) if decision.context else {}
    context[TOKEN_KEY] = token
    return Decision(decision=decision.decision, context=context)


# --- evaluations ----------------------------------------------------------------------------


def evaluation(call: Call, request: EvaluationRequest) -> Reply:
    consistency, token = snapshot(call.database, _consistency(call, request.context))
    decision = _evaluate(
        call, consistency, request.subject, request.action, request.resource, request.context
    )
    return Reply(_with_token(decision, token), token)


def evaluations_cost(request: EvaluationsRequest) -> int:
    return max(1, len(request.evaluations or ()))


def evaluations(call: Call, request: EvaluationsRequest) -> Reply:
    items = request.evaluations
    if not items:
        # Without an evaluations array the request is a single evaluation (AuthZEN 7.1).
        single = EvaluationRequest(
            subject=_default(request.subject, "subject"),
            action=_default(request.action, "action"),
            resource=_default(request.resource, "resource"),
            context=request.context,
        )
        return evaluation(call, single)
    if len(items) > call.settings.max_batch:
        raise bad_request(f"at most {call.settings.max_batch} evaluations are allowed a request")
    questions = [_question(request, item, index) for index, item in enumerate(items)]
    consistency, token = snapshot(call.database, _consistency(call, request.context))
    semantic = request.options.evaluations_semantic if request.options else "execute_all"
    decisions: list[Decision] = []
    for subject, action, resource, context in questions:
        try:
            decision = _evaluate(call, consistency, subject, action, resource, context)
        except _ITEM_ERRORS as error:
            mapped = http_error(error)
            failure = {"status": mapped.status, "code": mapped.body.code, "message": str(mapped)}
            decision = Decision(decision=False, context={"error": failure})
        decisions.append(decision)
        if semantic == "deny_on_first_deny" and not decision.decision:
            break
        if semantic == "permit_on_first_permit" and decision.decision:
            break
    body = EvaluationsResponse(evaluations=decisions, context={TOKEN_KEY: token})
    return Reply(body, token)


def _default(value: _T | None, name: str) -> _T:
    if value is None:
        raise bad_request(f"{name} is required")
    return value


def _question(
    request: EvaluationsRequest, item: EvaluationItem, index: int
) -> tuple[Subject, Action, Resource, Mapping[str, Any] | None]:
    """One item with the request's defaults filled in; each member replaces its default."""
    subject = item.subject or request.subject
    action = item.action or request.action
    resource = item.resource or request.resource
    for name, value in (("subject", subject), ("action", action), ("resource", resource)):
        if value is None:
            raise bad_request(f"evaluations[{index}].{name} is required (no default given)")
    assert subject is not None and action is not None and resource is not None
    context = item.context if item.context is not None else request.context
    return subject, action, resource, context


# --- searches -------------------------------------------------------------------------------


def search_subject(call: Call, request: SubjectSearchRequest) -> Reply:
    subject, action, resource = request.subject, request.action, request.resource
    resource_ref = _object("resource", resource.type, resource.id)
    caveats = _caveat_context(subject, action, resource, request.context)
    query = fingerprint("subject", subject.type, action.name, resource_ref, caveats)
    limit = page_limit(request.page, call.settings)
    consistency, token, after = start_listing(
        call.database, request.page, lambda: _consistency(call, request.context), query
    )

    def fetch(position: Any, count: int) -> list[Any]:
        return call.database.lookup_subjects(
            resource_ref,
            action.name,
            subject.type,
            context=caveats,
            consistency=consistency,
            after=position,
            limit=count,
            budget=call.budget(),
        )

    found, next_after = collect(
        fetch,
        after=after,
        limit=limit,
        cursor=lambda result: result.subject_id,
        keep=lambda result: result.permissionship is Permissionship.HAS,
    )
    results = [
        Subject(
            type=subject.type,
            id=result.subject_id,
            properties={"excluded_ids": list(result.excluded_subject_ids)}
            if result.excluded_subject_ids
            else None,
        )
        for result in found
    ]
    body = SubjectSearchResponse(
        results=results,
        page=page_response(token, next_after, len(results), query),
        context={TOKEN_KEY: token},
    )
    return Reply(body, token)


def search_resource(call: Call, request: ResourceSearchRequest) -> Reply:
    subject, action, resource = request.subject, request.action, request.resource
    subject_ref = _object("subject", subject.type, subject.id)
    caveats = _caveat_context(subject, action, resource, request.context)
    query = fingerprint("resource", subject_ref, action.name, resource.type, caveats)
    limit = page_limit(request.page, call.settings)
    consistency, token, after = start_listing(
        call.database, request.page, lambda: _consistency(call, request.context), query
    )

    def fetch(position: Any, count: int) -> list[Any]:
        return call.database.lookup_resources(
            resource.type,
            action.name,
            subject_ref,
            context=caveats,
            consistency=consistency,
            after=position,
            limit=count,
            budget=call.budget(),
        )

    found, next_after = collect(
        fetch,
        after=after,
        limit=limit,
        cursor=lambda result: result.resource_id,
        keep=lambda result: result.permissionship is Permissionship.HAS,
    )
    results = [Resource(type=resource.type, id=result.resource_id) for result in found]
    body = ResourceSearchResponse(
        results=results,
        page=page_response(token, next_after, len(results), query),
        context={TOKEN_KEY: token},
    )
    return Reply(body, token)


def search_action(call: Call, request: ActionSearchRequest) -> Reply:
    """The permissions of the resource's type that the subject definitely has."""
    subject, resource = request.subject, request.resource
    subject_ref = _object("subject", subject.type, subject.id)
    resource_ref = _object("resource", resource.type, resource.id)
    caveats = _caveat_context(subject, None, resource, request.context)
    query = fingerprint("action", subject_ref, resource_ref, caveats)
    limit = page_limit(request.page, call.settings)
    consistency, token, after = start_listing(
        call.database, request.page, lambda: _consistency(call, request.context), query
    )
    definition = call.database.schema(consistency=consistency).definition(resource.type)
    if definition is None:
        raise _unknown_type(resource.type)
    names = sorted(permission.name for permission in definition.permissions)

    def fetch(position: Any, count: int) -> list[tuple[str, bool]]:
        chunk = [name for name in names if position is None or name > position][:count]
        results = call.database.check_bulk(
            [(resource_ref, name, subject_ref, caveats) for name in chunk],
            consistency=consistency,
            budget=call.budget(),
        )
        return [(name, bool(result)) for name, result in zip(chunk, results, strict=True)]

    found, next_after = collect(
        fetch, after=after, limit=limit, cursor=lambda item: item[0], keep=lambda item: item[1]
    )
    results = [Action(name=name) for name, _ in found]
    body = ActionSearchResponse(
        results=results,
        page=page_response(token, next_after, len(results), query),
        context={TOKEN_KEY: token},
    )
    return Reply(body, token)


def _unknown_type(name: str) -> Exception:
    return UnknownTypeError(f"object definition `{name}` not found")


# --- discovery ------------------------------------------------------------------------------


def configuration(call: Call, _: None) -> Reply:
    base = call.base_url
    return Reply(
        Configuration(
            policy_decision_point=base,
            access_evaluation_endpoint=base + EVALUATION_PATH,
            access_evaluations_endpoint=base + EVALUATIONS_PATH,
            search_subject_endpoint=base + SEARCH_SUBJECT_PATH,
            search_resource_endpoint=base + SEARCH_RESOURCE_PATH,
            search_action_endpoint=base + SEARCH_ACTION_PATH,
        )
    )
