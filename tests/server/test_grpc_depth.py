"""``clove serve --max-depth``: too deep an evaluation is RESOURCE_EXHAUSTED, as in SpiceDB."""

from __future__ import annotations

import grpc
import pytest
from authzed.api.v1 import (
    CheckPermissionRequest,
    CheckPermissionResponse,
    LookupResourcesRequest,
    ObjectReference,
    Relationship,
    RelationshipUpdate,
    SubjectReference,
    WriteRelationshipsRequest,
    WriteSchemaRequest,
)

from server.serve_process import running_server

SCHEMA = """
definition user {}
definition group {
    relation member: user | group#member
}
"""
DEPTH = 5
CHAIN = 20


def _member(
    group: str, subject_type: str, subject_id: str, relation: str = ""
) -> RelationshipUpdate:
    return RelationshipUpdate(
        operation=RelationshipUpdate.OPERATION_TOUCH,
        relationship=Relationship(
            resource=ObjectReference(object_type="group", object_id=group),
            relation="member",
            subject=SubjectReference(
                object=ObjectReference(object_type=subject_type, object_id=subject_id),
                optional_relation=relation,
            ),
        ),
    )


def _check(group: str) -> CheckPermissionRequest:
    return CheckPermissionRequest(
        resource=ObjectReference(object_type="group", object_id=group),
        permission="member",
        subject=SubjectReference(object=ObjectReference(object_type="user", object_id="ann")),
    )


def test_checks_and_lookups_deeper_than_max_depth_are_refused() -> None:
    with running_server("memory", extra=("--max-depth", str(DEPTH))) as server:
        client = server.client()
        client.WriteSchema(WriteSchemaRequest(schema=SCHEMA))
        updates = [_member(f"g{i}", "group", f"g{i + 1}", "member") for i in range(CHAIN)]
        updates.append(_member(f"g{CHAIN}", "user", "ann"))
        client.WriteRelationships(WriteRelationshipsRequest(updates=updates))

        shallow = client.CheckPermission(_check(f"g{CHAIN - 2}"))
        assert shallow.permissionship == CheckPermissionResponse.PERMISSIONSHIP_HAS_PERMISSION
        with pytest.raises(grpc.RpcError) as deep_check:
            client.CheckPermission(_check("g0"))
        assert deep_check.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert f"max depth exceeded: the evaluation needs more than {DEPTH}" in str(
            deep_check.value.details()
        )
        with pytest.raises(grpc.RpcError) as deep_lookup:
            list(
                client.LookupResources(
                    LookupResourcesRequest(
                        resource_object_type="group",
                        permission="member",
                        subject=SubjectReference(
                            object=ObjectReference(object_type="user", object_id="ann")
                        ),
                    )
                )
            )
        assert deep_lookup.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "max depth exceeded" in str(deep_lookup.value.details())
        # The server keeps serving.
        assert client.CheckPermission(_check(f"g{CHAIN - 1}")).permissionship == (
            CheckPermissionResponse.PERMISSIONSHIP_HAS_PERMISSION
        )
