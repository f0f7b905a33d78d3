"""Every HTTP endpoint in one table: path, method, handler, body types and costs.

The ASGI app dispatches from this table and the OpenAPI document is generated from it, so
an endpoint cannot exist without being documented. The scope each endpoint needs comes from
``clove.server.scopes.HTTP_SCOPES``; an endpoint missing there stops the import.

Public endpoints (no bearer key): ``/healthz`` and ``/readyz`` for orchestrator probes,
``/.well-known/authzen-configuration`` for AuthZEN discovery and ``/openapi.json``; none of
them reveals data. Everything else needs a key with its scope; ``/metrics`` (it names
clients) needs ``admin``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from clove.errors import CloveInternalError
from clove.server.http import _api, _api_wire, _authzen, _authzen_wire
from clove.server.http._call import Call, Reply
from clove.server.scopes import HTTP_SCOPES, Scope

Handler = Callable[[Call, Any], Reply]

WELL_KNOWN_PATH = "/.well-known/authzen-configuration"
METRICS_PATH = "/metrics"
OPENAPI_PATH = "/openapi.json"


@dataclass(frozen=True, slots=True, kw_only=True)
class Route:
    method: str
    path: str
    handler: Handler | None  # None: served by the app itself (metrics, OpenAPI)
    request: type | None
    response: type | None
    summary: str
    tag: str
    cost: Callable[[Any], int] | None = None  # rate tokens a request takes (default 1)
    # Answers at a snapshot the Clove-Consistency[-Token] headers may choose (documented so).
    reads: bool = False
    content_type: str = "application/json"

    @property
    def scope(self) -> Scope | None:
        """The scope a key needs to call this endpoint; None: public."""
        return HTTP_SCOPES[(self.method, self.path)]

    @property
    def public(self) -> bool:
        return self.scope is None


ROUTES: tuple[Route, ...] = (
    # --- AuthZEN 1.0 ----------------------------------------------------------------------
    Route(
        method="POST",
        path=_authzen.EVALUATION_PATH,
        handler=_authzen.evaluation,
        reads=True,
        request=_authzen_wire.EvaluationRequest,
        response=_authzen_wire.Decision,
        summary="Access evaluation: may the subject do the action on the resource?",
        tag="AuthZEN",
    ),
    Route(
        method="POST",
        path=_authzen.EVALUATIONS_PATH,
        handler=_authzen.evaluations,
        reads=True,
        request=_authzen_wire.EvaluationsRequest,
        response=_authzen_wire.EvaluationsResponse,
        summary="Access evaluations: a batch with defaults and an evaluations_semantic.",
        tag="AuthZEN",
        cost=_authzen.evaluations_cost,
    ),
    Route(
        method="POST",
        path=_authzen.SEARCH_SUBJECT_PATH,
        handler=_authzen.search_subject,
        reads=True,
        request=_authzen_wire.SubjectSearchRequest,
        response=_authzen_wire.SubjectSearchResponse,
        summary="Subject search: the subjects of a type that may do the action on the resource.",
        tag="AuthZEN",
    ),
    Route(
        method="POST",
        path=_authzen.SEARCH_RESOURCE_PATH,
        handler=_authzen.search_resource,
        reads=True,
        request=_authzen_wire.ResourceSearchRequest,
        response=_authzen_wire.ResourceSearchResponse,
        summary="Resource search: the resources of a type the subject may do the action on.",
        tag="AuthZEN",
    ),
    Route(
        method="POST",
        path=_authzen.SEARCH_ACTION_PATH,
        handler=_authzen.search_action,
        reads=True,
        request=_authzen_wire.ActionSearchRequest,
        response=_authzen_wire.ActionSearchResponse,
        summary="Action search: the permissions the subject has on the resource.",
        tag="AuthZEN",
    ),
    Route(
        method="GET",
        path=WELL_KNOWN_PATH,
        handler=_authzen.configuration,
        request=None,
        response=_authzen_wire.Configuration,
        summary="Policy decision point metadata (AuthZEN discovery).",
        tag="AuthZEN",
    ),
    # --- schema -----------------------------------------------------------------------------
    Route(
        method="GET",
        path="/v1/schema",
        handler=_api.read_schema,
        reads=True,
        request=None,
        response=_api_wire.SchemaResponse,
        summary="Read the schema text.",
        tag="Schema",
    ),
    Route(
        method="PUT",
        path="/v1/schema",
        handler=_api.write_schema,
        request=_api_wire.SchemaBody,
        response=_api_wire.WriteResponse,
        summary="Write the schema; refused if it would orphan relationships.",
        tag="Schema",
    ),
    # --- relationships ----------------------------------------------------------------------
    Route(
        method="POST",
        path="/v1/relationships/write",
        handler=_api.write_relationships,
        request=_api_wire.WriteRelationshipsRequest,
        response=_api_wire.WriteResponse,
        summary="Create, touch or delete relationships, all or nothing, under preconditions.",
        tag="Relationships",
        cost=_api.write_relationships_cost,
    ),
    Route(
        method="POST",
        path="/v1/relationships/read",
        handler=_api.read_relationships,
        reads=True,
        request=_api_wire.ReadRelationshipsRequest,
        response=_api_wire.ReadRelationshipsResponse,
        summary="Read the relationships a filter selects, in key order, page by page.",
        tag="Relationships",
    ),
    Route(
        method="POST",
        path="/v1/relationships/delete",
        handler=_api.delete_relationships,
        request=_api_wire.DeleteRelationshipsRequest,
        response=_api_wire.WriteResponse,
        summary="Delete every relationship a filter selects, under preconditions.",
        tag="Relationships",
    ),
    # --- questions --------------------------------------------------------------------------
    Route(
        method="POST",
        path="/v1/check",
        handler=_api.check,
        reads=True,
        request=_api_wire.CheckRequest,
        response=_api_wire.CheckResponse,
        summary="Check one permission: has, no or conditional (with the missing context).",
        tag="Permissions",
    ),
    Route(
        method="POST",
        path="/v1/check/bulk",
        handler=_api.check_bulk,
        reads=True,
        request=_api_wire.BulkCheckRequest,
        response=_api_wire.BulkCheckResponse,
        summary="Several checks at one snapshot.",
        tag="Permissions",
        cost=_api.check_bulk_cost,
    ),
    Route(
        method="POST",
        path="/v1/lookup/resources",
        handler=_api.lookup_resources,
        reads=True,
        request=_api_wire.LookupResourcesRequest,
        response=_api_wire.LookupResourcesResponse,
        summary="The resources of a type on which the subject has the permission, paged.",
        tag="Permissions",
    ),
    Route(
        method="POST",
        path="/v1/lookup/subjects",
        handler=_api.lookup_subjects,
        reads=True,
        request=_api_wire.LookupSubjectsRequest,
        response=_api_wire.LookupSubjectsResponse,
        summary="The subjects of a type that have the permission on the resource, paged.",
        tag="Permissions",
    ),
    Route(
        method="POST",
        path="/v1/expand",
        handler=_api.expand,
        reads=True,
        request=_api_wire.ExpandRequest,
        response=_api_wire.ExpandResponse,
        summary="The userset tree of a permission on a resource, one subject-set level deep.",
        tag="Permissions",
    ),
    # --- operations -------------------------------------------------------------------------
    Route(
        method="GET",
        path="/healthz",
        handler=_api.healthz,
        request=None,
        response=_api_wire.Health,
        summary="Liveness: the process serves HTTP.",
        tag="Operations",
    ),
    Route(
        method="GET",
        path="/readyz",
        handler=_api.readyz,
        request=None,
        response=_api_wire.Health,
        summary="Readiness: the datastore answers.",
        tag="Operations",
    ),
    Route(
        method="GET",
        path=METRICS_PATH,
        handler=None,
        request=None,
        response=None,
        summary="Prometheus metrics: requests, latencies, throttling.",
        tag="Operations",
        content_type="text/plain",
    ),
    Route(
        method="GET",
        path=OPENAPI_PATH,
        handler=None,
        request=None,
        response=None,
        summary="This API's OpenAPI 3.1 document.",
        tag="Operations",
    ),
)

_UNSCOPED = [f"{r.method} {r.path}" for r in ROUTES if (r.method, r.path) not in HTTP_SCOPES]
if _UNSCOPED:
    raise CloveInternalError(f"HTTP endpoints without a scope: {', '.join(_UNSCOPED)}")
