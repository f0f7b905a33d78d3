"""Clove's own JSON API (``/v1/...``): schema, relationships, checks and lookups.

Thin: each handler turns its body into one ``Database`` call. Reads resolve their consistency
(body ``consistency``, else the ``Clove-Consistency[-Token]`` headers) to one snapshot, and
every answer carries the token it was computed at; writes return the token of the write.
"""

from __future__ import annotations

import json
from typing import Any

from clove.consistency import Consistency
from clove.database import ConsistencyArg
from clove.engine.expand import ExpandNode
from clove.errors import InvalidInputError
from clove.relationships import (
    Operation,
    Precondition,
    PreconditionKind,
    Relationship,
    RelationshipFilter,
    RelationshipUpdate,
    parse_relationship,
)
from clove.schema.ir import ELLIPSIS
from clove.server.http._api_wire import (
    BulkCheckRequest,
    BulkCheckResponse,
    BulkCheckResult,
    Caveat,
    CheckRequest,
    CheckResponse,
    ConsistencyRequest,
    DeleteRelationshipsRequest,
    ExpandRequest,
    ExpandResponse,
    ExpandTree,
    FilterBody,
    FoundResource,
    FoundSubject,
    Health,
    LookupResourcesRequest,
    LookupResourcesResponse,
    LookupSubjectsRequest,
    LookupSubjectsResponse,
    PreconditionBody,
    ReadRelationshipsRequest,
    ReadRelationshipsResponse,
    RelationshipBody,
    SchemaBody,
    SchemaResponse,
    WriteRelationshipsRequest,
    WriteResponse,
)
from clove.server.http._call import Call, Reply
from clove.server.http._consistency import requested, snapshot
from clove.server.http._errors import bad_request
from clove.server.http._paging import (
    collect,
    fingerprint,
    page_limit,
    page_response,
    start_listing,
)

# --- shared pieces --------------------------------------------------------------------------


def _wanted(call: Call, body: ConsistencyRequest | None) -> ConsistencyArg:
    if body is None:
        return call.header_consistency()
    return requested(body.mode, body.token)


def _read_at(call: Call, body: ConsistencyRequest | None) -> tuple[Consistency, str]:
    return snapshot(call.database, _wanted(call, body))


def _relationship(value: str | RelationshipBody, where: str) -> Relationship:
    """A relationship from its text or its object form (validated by one parser)."""
    if isinstance(value, str):
        return parse_relationship(value)
    text = f"{value.resource}#{value.relation}@{value.subject}"
    if value.caveat is not None:
        context = value.caveat.context
        text += f"[{value.caveat.name}" + (f":{json.dumps(context)}]" if context else "]")
    if value.expiration is not None:
        text += f"[expiration:{value.expiration}]"
    try:
        return parse_relationship(text)
    except InvalidInputError as error:
        raise bad_request(f"{where}: {error}") from None


def relationship_body(rel: Relationship) -> RelationshipBody:
    caveat = None
    if rel.caveat_name is not None:
        context = dict(rel.caveat_context) if rel.caveat_context else None
        caveat = Caveat(name=rel.caveat_name, context=context)
    expiration = None
    if rel.expiration is not None:
        expiration = rel.expiration.isoformat().replace("+00:00", "Z")
    return RelationshipBody(
        resource=rel.resource,
        relation=rel.relation,
        subject=rel.subject,
        caveat=caveat,
        expiration=expiration,
    )


def _filter(body: FilterBody) -> RelationshipFilter:
    return RelationshipFilter(
        resource_type=body.resource_type,
        resource_id=body.resource_id,
        resource_id_prefix=body.resource_id_prefix,
        relation=body.relation,
        subject_type=body.subject_type,
        subject_id=body.subject_id,
        subject_relation=body.subject_relation,
    )


def _preconditions(bodies: list[PreconditionBody]) -> list[Precondition]:
    return [
        Precondition(kind=PreconditionKind(body.kind), filter=_filter(body.filter))
        for body in bodies
    ]


# --- health ---------------------------------------------------------------------------------


def healthz(call: Call, _: None) -> Reply:
    return Reply(Health(status="ok"))


def readyz(call: Call, _: None) -> Reply:
    """Ready when the store answers: a snapshot needs the store's head revision."""
    call.database.snapshot(consistency="full")
    return Reply(Health(status="ready"))


# --- schema ---------------------------------------------------------------------------------


def read_schema(call: Call, _: None) -> Reply:
    consistency, token = _read_at(call, None)
    text = call.database.read_schema(consistency=consistency)
    return Reply(SchemaResponse(schema=text, consistency_token=token), token)


def write_schema(call: Call, request: SchemaBody) -> Reply:
    token = call.database.write_schema(request.schema)
    return Reply(WriteResponse(consistency_token=token), token)


# --- relationships --------------------------------------------------------------------------


def write_relationships_cost(request: WriteRelationshipsRequest) -> int:
    return max(1, len(request.updates))


def write_relationships(call: Call, request: WriteRelationshipsRequest) -> Reply:
    if len(request.updates) > call.settings.max_batch:
        raise bad_request(f"at most {call.settings.max_batch} updates are allowed a request")
    updates = [
        RelationshipUpdate(
            operation=Operation(update.operation),
            relationship=_relationship(update.relationship, f"updates[{index}].relationship"),
        )
        for index, update in enumerate(request.updates)
    ]
    token = call.database.write_relationships(
        updates, preconditions=_preconditions(request.preconditions)
    )
    return Reply(WriteResponse(consistency_token=token), token)


def delete_relationships(call: Call, request: DeleteRelationshipsRequest) -> Reply:
    token = call.database.delete_relationships(
        _filter(request.filter), preconditions=_preconditions(request.preconditions)
    )
    return Reply(WriteResponse(consistency_token=token), token)


def read_relationships(call: Call, request: ReadRelationshipsRequest) -> Reply:
    selected = _filter(request.filter)
    query = fingerprint("relationships", request.filter)
    limit = page_limit(request.page, call.settings)
    consistency, token, after = start_listing(
        call.database, request.page, lambda: _wanted(call, request.consistency), query
    )
    if after is not None and not (isinstance(after, list) and len(after) == 6):
        raise bad_request("page.token is not a page token this server issued")

    def fetch(position: Any, count: int) -> list[Relationship]:
        start = None if position is None else _key_relationship(position)
        return list(
            call.database.read_relationships(
                selected, consistency=consistency, after=start, limit=count
            )
        )

    found, next_after = collect(fetch, after=after, limit=limit, cursor=lambda rel: list(rel.key))
    body = ReadRelationshipsResponse(
        relationships=[relationship_body(rel) for rel in found],
        page=page_response(token, next_after, len(found), query),
        consistency_token=token,
    )
    return Reply(body, token)


def _key_relationship(key: list[str]) -> Relationship:
    rtype, rid, relation, stype, sid, srel = key
    return Relationship(
        resource_type=rtype,
        resource_id=rid,
        relation=relation,
        subject_type=stype,
        subject_id=sid,
        subject_relation=srel or ELLIPSIS,
    )


# --- questions ------------------------------------------------------------------------------


def check(call: Call, request: CheckRequest) -> Reply:
    consistency, token = _read_at(call, request.consistency)
    result = call.database.check(
        request.resource,
        request.permission,
        request.subject,
        context=request.context,
        consistency=consistency,
        budget=call.budget(),
    )
    body = CheckResponse(
        permissionship=result.permissionship.value,
        missing_context=list(result.missing_context),
        consistency_token=token,
    )
    return Reply(body, token)


def check_bulk_cost(request: BulkCheckRequest) -> int:
    return max(1, len(request.items))


def check_bulk(call: Call, request: BulkCheckRequest) -> Reply:
    if len(request.items) > call.settings.max_batch:
        raise bad_request(f"at most {call.settings.max_batch} checks are allowed a request")
    consistency, token = _read_at(call, request.consistency)
    results = call.database.check_bulk(
        [(item.resource, item.permission, item.subject, item.context) for item in request.items],
        consistency=consistency,
        budget=call.budget(),
    )
    body = BulkCheckResponse(
        results=[
            BulkCheckResult(
                permissionship=result.permissionship.value,
                missing_context=list(result.missing_context),
            )
            for result in results
        ],
        consistency_token=token,
    )
    return Reply(body, token)


def expand(call: Call, request: ExpandRequest) -> Reply:
    consistency, token = _read_at(call, request.consistency)
    tree = call.database.expand(
        request.resource, request.permission, consistency=consistency, budget=call.budget()
    )
    return Reply(ExpandResponse(tree=_tree(tree), consistency_token=token), token)


def _tree(node: ExpandNode) -> ExpandTree:
    return ExpandTree(
        object=node.object,
        relation=node.relation,
        operation=node.operation,
        children=[_tree(child) for child in node.children],
        subjects=list(node.subjects),
    )


def lookup_resources(call: Call, request: LookupResourcesRequest) -> Reply:
    query = fingerprint(
        "resources", request.resource_type, request.permission, request.subject, request.context
    )
    limit = page_limit(request.page, call.settings)
    consistency, token, after = start_listing(
        call.database, request.page, lambda: _wanted(call, request.consistency), query
    )

    def fetch(position: Any, count: int) -> list[Any]:
        return call.database.lookup_resources(
            request.resource_type,
            request.permission,
            request.subject,
            context=request.context,
            consistency=consistency,
            after=position,
            limit=count,
            budget=call.budget(),
        )

    found, next_after = collect(
        fetch, after=after, limit=limit, cursor=lambda result: result.resource_id
    )
    body = LookupResourcesResponse(
        resources=[
            FoundResource(
                id=result.resource_id,
                permissionship=result.permissionship.value,
                missing_context=list(result.missing_context),
            )
            for result in found
        ],
        page=page_response(token, next_after, len(found), query),
        consistency_token=token,
    )
    return Reply(body, token)


def lookup_subjects(call: Call, request: LookupSubjectsRequest) -> Reply:
    query = fingerprint(
        "subjects",
        request.resource,
        request.permission,
        request.subject_type,
        request.subject_relation,
        request.context,
    )
    limit = page_limit(request.page, call.settings)
    consistency, token, after = start_listing(
        call.database, request.page, lambda: _wanted(call, request.consistency), query
    )

    def fetch(position: Any, count: int) -> list[Any]:
        return call.database.lookup_subjects(
            request.resource,
            request.permission,
            request.subject_type,
            subject_relation=request.subject_relation,
            context=request.context,
            consistency=consistency,
            after=position,
            limit=count,
            budget=call.budget(),
        )

    found, next_after = collect(
        fetch, after=after, limit=limit, cursor=lambda result: result.subject_id
    )
    body = LookupSubjectsResponse(
        subjects=[
            FoundSubject(
                id=result.subject_id,
                permissionship=result.permissionship.value,
                excluded_ids=list(result.excluded_subject_ids),
                missing_context=list(result.missing_context),
            )
            for result in found
        ],
        page=page_response(token, next_after, len(found), query),
        consistency_token=token,
    )
    return Reply(body, token)
