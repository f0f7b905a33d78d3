"""SpiceDB's PermissionsService over one Database: checks, lookups, expand, relationships.

Every call resolves its consistency to one snapshot first and reads at exactly that revision,
so the token it returns (checked_at, looked_up_at ...) names the revision it answered from.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

import grpc
from authzed.api.v1 import permission_service_pb2 as pb
from authzed.api.v1 import permission_service_pb2_grpc as pb_grpc
from google.rpc import status_pb2

from clove.consistency import Consistency
from clove.database import CheckResult
from clove.engine.budget import Budget
from clove.errors import (
    CloveError,
    DeadlineExceededError,
    InvalidInputError,
    PreconditionFailedError,
    RequestCancelledError,
    ResourceExhaustedError,
)
from clove.relationships import (
    Operation,
    Relationship,
    RelationshipFilter,
    RelationshipUpdate,
)
from clove.server.grpc import convert
from clove.server.grpc.calls import (
    Services,
    call_budget,
    current_client,
    require_definition,
    require_time,
)
from clove.server.grpc.errors import status_for

# An import is one transaction; this many relationships bound the memory one import may hold.
_IMPORT_BATCHES = 1_000


class PermissionsServicer(pb_grpc.PermissionsServiceServicer):
    def __init__(self, services: Services) -> None:
        self._services = services
        self._db = services.database
        self._limits = services.limits

    # --- snapshots and cursors ------------------------------------------------------------

    def _snapshot(self, consistency: pb.Consistency, cursor: Any = None) -> tuple[str, Any]:
        """The snapshot to read at and where to resume: a cursor's own, else the request's."""
        if cursor is not None and cursor.token:
            snapshot, after = convert.decode_cursor(cursor)
            self._db.snapshot(consistency=Consistency.at_exact_snapshot(snapshot))
            return snapshot, after
        return self._db.snapshot(consistency=convert.consistency(consistency)), None

    def _check(
        self,
        snapshot: str,
        item: pb.CheckPermissionRequest | pb.CheckBulkPermissionsRequestItem,
        budget: Budget,
    ) -> CheckResult:
        if not item.permission:
            raise InvalidInputError("a check needs a permission")
        resource = convert.object_text(item.resource)
        subject = convert.subject_ref(item.subject)
        context = convert.context(item.context, item.HasField("context"))
        client = current_client.get()
        key = (
            client,
            snapshot,
            resource,
            item.permission,
            str(subject),
            None if context is None else json.dumps(context, sort_keys=True, default=str),
        )
        exact = Consistency.at_exact_snapshot(snapshot)

        def evaluate() -> object:
            return self._db.check(
                resource,
                item.permission,
                subject,
                context=context,
                consistency=exact,
                budget=budget,
            )

        result, shared = self._services.inflight.run(key, evaluate, timeout=budget.remaining())
        if shared:
            self._services.metrics.deduplicated(client=client)
        assert isinstance(result, CheckResult)
        return result

    # --- checks ----------------------------------------------------------------------------

    def CheckPermission(  # noqa: N802 - the generated servicer's method names
        self, request: pb.CheckPermissionRequest, context: grpc.ServicerContext
    ) -> pb.CheckPermissionResponse:
        budget = call_budget(context)
        snapshot, _ = self._snapshot(request.consistency)
        result = self._check(snapshot, request, budget)
        return pb.CheckPermissionResponse(
            checked_at=convert.zed_token(snapshot),
            permissionship=convert.CHECK_PERMISSIONSHIP[result.permissionship],
            partial_caveat_info=convert.partial_caveat_info(result.missing_context),
        )

    def CheckBulkPermissions(  # noqa: N802
        self, request: pb.CheckBulkPermissionsRequest, context: grpc.ServicerContext
    ) -> pb.CheckBulkPermissionsResponse:
        self._limits.require_batch(len(request.items), "CheckBulkPermissions")
        snapshot, _ = self._snapshot(request.consistency)
        pairs = []
        budget = call_budget(context)
        for item in request.items:
            try:
                result = self._check(snapshot, item, budget)
            except (DeadlineExceededError, RequestCancelledError):
                raise  # the whole call is over, not just this item
            except CloveError as error:
                code, message = status_for(error)
                pairs.append(
                    pb.CheckBulkPermissionsPair(
                        request=item, error=status_pb2.Status(code=code.value[0], message=message)
                    )
                )
                continue
            pairs.append(
                pb.CheckBulkPermissionsPair(
                    request=item,
                    item=pb.CheckBulkPermissionsResponseItem(
                        permissionship=convert.CHECK_PERMISSIONSHIP[result.permissionship],
                        partial_caveat_info=convert.partial_caveat_info(result.missing_context),
                    ),
                )
            )
        return pb.CheckBulkPermissionsResponse(checked_at=convert.zed_token(snapshot), pairs=pairs)

    # --- relationships ----------------------------------------------------------------------

    def WriteRelationships(  # noqa: N802
        self, request: pb.WriteRelationshipsRequest, context: grpc.ServicerContext
    ) -> pb.WriteRelationshipsResponse:
        self._limits.require_batch(len(request.updates), "WriteRelationships updates")
        self._limits.require_batch(len(request.optional_preconditions), "WriteRelationships")
        updates = [convert.update(update) for update in request.updates]
        seen: set[tuple[str, ...]] = set()
        for update in updates:
            if update.relationship.key in seen:
                raise InvalidInputError(
                    f"found more than one update for relationship `{update.relationship}` "
                    "in this request; a relationship may only be specified once per update"
                )
            seen.add(update.relationship.key)
        preconditions = [convert.precondition(item) for item in request.optional_preconditions]
        require_time(context)
        token = self._db.write_relationships(updates, preconditions=preconditions)
        return pb.WriteRelationshipsResponse(written_at=convert.zed_token(token))

    def DeleteRelationships(  # noqa: N802
        self, request: pb.DeleteRelationshipsRequest, context: grpc.ServicerContext
    ) -> pb.DeleteRelationshipsResponse:
        selected = self._filter(request.relationship_filter, "DeleteRelationships")
        preconditions = [convert.precondition(item) for item in request.optional_preconditions]
        self._limits.require_batch(len(preconditions), "DeleteRelationships preconditions")
        limit = request.optional_limit
        fresh = Consistency.full()
        require_time(context)
        if limit:
            self._limits.require_batch(limit, "DeleteRelationships optional_limit")
            found = list(self._db.read_relationships(selected, consistency=fresh, limit=limit + 1))
            if len(found) > limit:
                if not request.optional_allow_partial_deletions:
                    raise PreconditionFailedError(
                        f"found more than {limit} relationships to be deleted and partial "
                        "deletion was not requested"
                    )
                deletes = [
                    RelationshipUpdate(operation=Operation.DELETE, relationship=rel)
                    for rel in found[:limit]
                ]
                token = self._db.write_relationships(deletes, preconditions=preconditions)
                return pb.DeleteRelationshipsResponse(
                    deleted_at=convert.zed_token(token),
                    deletion_progress=pb.DeleteRelationshipsResponse.DELETION_PROGRESS_PARTIAL,
                    relationships_deleted_count=limit,
                )
            count = len(found)
        else:
            count = sum(1 for _ in self._db.read_relationships(selected, consistency=fresh))
        token = self._db.delete_relationships(selected, preconditions=preconditions)
        return pb.DeleteRelationshipsResponse(
            deleted_at=convert.zed_token(token),
            deletion_progress=pb.DeleteRelationshipsResponse.DELETION_PROGRESS_COMPLETE,
            relationships_deleted_count=count,
        )

    def _filter(self, message: pb.RelationshipFilter, call: str) -> RelationshipFilter:
        selected = convert.relationship_filter(message)
        if selected == RelationshipFilter():
            raise InvalidInputError(f"{call} needs a relationship filter with at least one field")
        if selected.resource_type is not None:
            schema = self._db.schema(consistency=Consistency.full())
            require_definition(schema, selected.resource_type, selected.relation)
            if selected.subject_type is not None:
                require_definition(schema, selected.subject_type)
        return selected

    def ReadRelationships(  # noqa: N802
        self, request: pb.ReadRelationshipsRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.ReadRelationshipsResponse]:
        self._limits.require_page(request.optional_limit, "ReadRelationships")
        selected = self._filter(request.relationship_filter, "ReadRelationships")
        snapshot, after = self._snapshot(request.consistency, request.optional_cursor)
        start = None if after is None else convert.relationship_from_key(after)
        read_at = convert.zed_token(snapshot)
        found = self._db.read_relationships(
            selected,
            consistency=Consistency.at_exact_snapshot(snapshot),
            after=start,
            limit=request.optional_limit or None,
        )
        for rel in found:
            require_time(context)
            yield pb.ReadRelationshipsResponse(
                read_at=read_at,
                relationship=convert.relationship_message(rel),
                after_result_cursor=convert.encode_cursor(snapshot, convert.relationship_key(rel)),
            )

    def ImportBulkRelationships(  # noqa: N802
        self, request_iterator: Iterable[pb.ImportBulkRelationshipsRequest], context: Any
    ) -> pb.ImportBulkRelationshipsResponse:
        """All or nothing, with CREATE semantics: an existing relationship fails the import."""
        staged: list[RelationshipUpdate] = []
        for batches, request in enumerate(request_iterator, start=1):
            require_time(context)
            if batches > _IMPORT_BATCHES:
                raise ResourceExhaustedError(
                    f"ImportBulkRelationships: more than {_IMPORT_BATCHES} messages in one import"
                )
            self._limits.require_batch(len(request.relationships), "ImportBulkRelationships")
            staged.extend(
                RelationshipUpdate(operation=Operation.CREATE, relationship=convert.relationship(m))
                for m in request.relationships
            )
        if staged:
            self._db.write_relationships(staged)
        return pb.ImportBulkRelationshipsResponse(num_loaded=len(staged))

    def ExportBulkRelationships(  # noqa: N802
        self, request: pb.ExportBulkRelationshipsRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.ExportBulkRelationshipsResponse]:
        self._limits.require_page(request.optional_limit, "ExportBulkRelationships")
        page = request.optional_limit or self._limits.max_page
        selected = RelationshipFilter()
        if request.HasField("optional_relationship_filter"):
            selected = convert.relationship_filter(request.optional_relationship_filter)
        snapshot, after = self._snapshot(request.consistency, request.optional_cursor)
        start: Relationship | None = None if after is None else convert.relationship_from_key(after)
        exact = Consistency.at_exact_snapshot(snapshot)
        while True:
            require_time(context)
            found = list(
                self._db.read_relationships(selected, consistency=exact, after=start, limit=page)
            )
            if not found:
                return
            start = found[-1]
            yield pb.ExportBulkRelationshipsResponse(
                after_result_cursor=convert.encode_cursor(
                    snapshot, convert.relationship_key(start)
                ),
                relationships=[convert.relationship_message(rel) for rel in found],
            )
            if len(found) < page:
                return

    # --- lookups and expand ----------------------------------------------------------------

    def LookupResources(  # noqa: N802
        self, request: pb.LookupResourcesRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.LookupResourcesResponse]:
        self._limits.require_page(request.optional_limit, "LookupResources")
        if not request.resource_object_type or not request.permission:
            raise InvalidInputError("LookupResources needs resource_object_type and permission")
        snapshot, after = self._snapshot(request.consistency, request.optional_cursor)
        if after is not None and not isinstance(after, str):
            raise InvalidInputError("malformed cursor: it does not name a resource")
        budget = call_budget(context)
        found = self._db.lookup_resources(
            request.resource_object_type,
            request.permission,
            convert.subject_ref(request.subject),
            context=convert.context(request.context, request.HasField("context")),
            consistency=Consistency.at_exact_snapshot(snapshot),
            after=after,
            limit=request.optional_limit or None,
            budget=budget,
        )
        looked_up_at = convert.zed_token(snapshot)
        for result in found:
            budget.spend()  # building and sending answers is work too: deadline, fair share
            yield pb.LookupResourcesResponse(
                looked_up_at=looked_up_at,
                resource_object_id=result.resource_id,
                permissionship=convert.LOOKUP_PERMISSIONSHIP[result.permissionship],
                partial_caveat_info=convert.partial_caveat_info(result.missing_context),
                after_result_cursor=convert.encode_cursor(snapshot, result.resource_id),
            )

    def LookupSubjects(  # noqa: N802
        self, request: pb.LookupSubjectsRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.LookupSubjectsResponse]:
        limit = request.optional_concrete_limit
        self._limits.require_page(limit, "LookupSubjects")
        if not request.permission or not request.subject_object_type:
            raise InvalidInputError("LookupSubjects needs permission and subject_object_type")
        snapshot, after = self._snapshot(request.consistency, request.optional_cursor)
        if after is not None and not isinstance(after, str):
            raise InvalidInputError("malformed cursor: it does not name a subject")
        budget = call_budget(context)
        found = self._db.lookup_subjects(
            convert.object_text(request.resource),
            request.permission,
            request.subject_object_type,
            subject_relation=request.optional_subject_relation or None,
            context=convert.context(request.context, request.HasField("context")),
            consistency=Consistency.at_exact_snapshot(snapshot),
            after=after,
            limit=limit or None,
            budget=budget,
        )
        exclude_wildcards = (
            request.wildcard_option == pb.LookupSubjectsRequest.WILDCARD_OPTION_EXCLUDE_WILDCARDS
        )
        looked_up_at = convert.zed_token(snapshot)
        has = convert.LOOKUP_PERMISSIONSHIP["has"]
        for result in found:
            budget.spend()
            if exclude_wildcards and result.subject_id == "*":
                continue
            permissionship = convert.LOOKUP_PERMISSIONSHIP[result.permissionship]
            caveat_info = convert.partial_caveat_info(result.missing_context)
            yield pb.LookupSubjectsResponse(
                looked_up_at=looked_up_at,
                subject_object_id=result.subject_id,
                excluded_subject_ids=list(result.excluded_subject_ids),
                permissionship=permissionship,
                partial_caveat_info=caveat_info,
                subject=pb.ResolvedSubject(
                    subject_object_id=result.subject_id,
                    permissionship=permissionship,
                    partial_caveat_info=caveat_info,
                ),
                excluded_subjects=[
                    pb.ResolvedSubject(subject_object_id=excluded, permissionship=has)
                    for excluded in result.excluded_subject_ids
                ],
                after_result_cursor=convert.encode_cursor(snapshot, result.subject_id),
            )

    def ExpandPermissionTree(  # noqa: N802
        self, request: pb.ExpandPermissionTreeRequest, context: grpc.ServicerContext
    ) -> pb.ExpandPermissionTreeResponse:
        if not request.permission:
            raise InvalidInputError("ExpandPermissionTree needs a permission")
        snapshot, _ = self._snapshot(request.consistency)
        tree = self._db.expand(
            convert.object_text(request.resource),
            request.permission,
            consistency=Consistency.at_exact_snapshot(snapshot),
            budget=call_budget(context),
        )
        return pb.ExpandPermissionTreeResponse(
            expanded_at=convert.zed_token(snapshot), tree_root=convert.expand_tree(tree)
        )
