"""SpiceDB's v1 API through the official client: tokens, preconditions, paging, errors, limits."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import grpc
import pytest
from authzed.api.v1 import (
    CheckBulkPermissionsRequest,
    CheckBulkPermissionsRequestItem,
    CheckPermissionRequest,
    CheckPermissionResponse,
    Client,
    ComputablePermissionsRequest,
    Consistency,
    ContextualizedCaveat,
    Cursor,
    DeleteRelationshipsRequest,
    DeleteRelationshipsResponse,
    DependentRelationsRequest,
    DiffSchemaRequest,
    ExpandPermissionTreeRequest,
    LookupResourcesRequest,
    LookupSubjectsRequest,
    ObjectReference,
    Precondition,
    ReadRelationshipsRequest,
    ReadSchemaRequest,
    ReflectSchemaRequest,
    Relationship,
    RelationshipFilter,
    RelationshipUpdate,
    SubjectFilter,
    SubjectReference,
    WatchRequest,
    WriteRelationshipsRequest,
    WriteSchemaRequest,
    ZedToken,
)
from authzed.api.v1.permission_service_pb2 import (
    ExportBulkRelationshipsRequest,
    ImportBulkRelationshipsRequest,
)
from google.protobuf import struct_pb2
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from server.serve_process import KEYS, Server, running_server

SCHEMA = """
definition user {}
definition group {
    relation member: user | group#member
}
caveat on_network(ip string, allowed string) {
    ip == allowed
}
definition document {
    relation viewer: user | group#member | user with on_network | user:*
    relation banned: user
    permission view = viewer - banned
}
"""
HAS = CheckPermissionResponse.PERMISSIONSHIP_HAS_PERMISSION
NO = CheckPermissionResponse.PERMISSIONSHIP_NO_PERMISSION
CONDITIONAL = CheckPermissionResponse.PERMISSIONSHIP_CONDITIONAL_PERMISSION
FULL = Consistency(fully_consistent=True)


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with running_server(
        "memory", extra=("--max-batch", "50", "--max-page", "100", "--max-message-bytes", "65536")
    ) as running:
        client = running.client()
        client.WriteSchema(WriteSchemaRequest(schema=SCHEMA))
        yield running


@pytest.fixture
def client(server: Server) -> Client:
    return server.client()


def obj(text: str) -> ObjectReference:
    type_, _, id_ = text.partition(":")
    return ObjectReference(object_type=type_, object_id=id_)


def subj(text: str) -> SubjectReference:
    o, _, relation = text.partition("#")
    return SubjectReference(object=obj(o), optional_relation=relation)


def rel(
    text: str, caveat: str | None = None, context: dict[str, str] | None = None
) -> Relationship:
    resource, _, subject = text.partition("@")
    o, _, relation = resource.partition("#")
    message = Relationship(resource=obj(o), relation=relation, subject=subj(subject))
    if caveat is not None:
        struct = struct_pb2.Struct()
        struct.update(context or {})
        message.optional_caveat.CopyFrom(ContextualizedCaveat(caveat_name=caveat, context=struct))
    return message


def touch(*relationships: Relationship) -> list[RelationshipUpdate]:
    return [
        RelationshipUpdate(operation=RelationshipUpdate.OPERATION_TOUCH, relationship=r)
        for r in relationships
    ]


def check(
    client: Client,
    resource: str,
    subject: str,
    *,
    consistency: Consistency = FULL,
    context: dict[str, str] | None = None,
) -> CheckPermissionResponse:
    request = CheckPermissionRequest(
        consistency=consistency, resource=obj(resource), permission="view", subject=subj(subject)
    )
    if context is not None:
        request.context.update(context)
    return client.CheckPermission(request)


def status_of(call: object) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as raised:
        result = call() if callable(call) else call
        if isinstance(result, Iterator):
            list(result)
    error = raised.value
    return error.code(), error.details()  # type: ignore[attr-defined]


# --- consistency ----


def test_write_then_check_with_every_consistency(client: Client) -> None:
    written = client.WriteRelationships(
        WriteRelationshipsRequest(updates=touch(rel("document:c1#viewer@user:ann")))
    ).written_at
    fresh = Consistency(at_least_as_fresh=written)
    exact = Consistency(at_exact_snapshot=written)
    latest = Consistency(minimize_latency=True)
    for consistency in (fresh, exact, FULL, latest):
        answer = check(client, "document:c1", "user:ann", consistency=consistency)
        assert answer.permissionship == HAS
        assert answer.checked_at.token
    assert check(client, "document:c1", "user:ann", consistency=exact).checked_at == written
    later = client.WriteRelationships(
        WriteRelationshipsRequest(updates=touch(rel("document:c1#banned@user:ann")))
    ).written_at
    assert check(client, "document:c1", "user:ann", consistency=exact).permissionship == HAS
    after_ban = Consistency(at_least_as_fresh=later)
    assert check(client, "document:c1", "user:ann", consistency=after_ban).permissionship == NO


def test_bad_tokens_are_invalid_arguments(client: Client) -> None:
    for token in ("", "nonsense", "CLV1bm90LWEtcmV2aXNpb24"):
        consistency = Consistency(at_least_as_fresh=ZedToken(token=token))
        code, message = status_of(
            lambda c=consistency: check(client, "document:c1", "user:ann", consistency=c)
        )
        assert code == grpc.StatusCode.INVALID_ARGUMENT, message
        assert "token" in message.lower()
    future = client.WriteRelationships(
        WriteRelationshipsRequest(updates=touch(rel("document:t1#viewer@user:ann")))
    ).written_at.token
    # A well-formed token from another store names no revision this store has.
    from clove.consistency import decode_token, encode_token

    revision = decode_token(future, _store_id(future))
    foreign = encode_token("another-store", revision)
    code, message = status_of(
        lambda: check(
            client,
            "document:t1",
            "user:ann",
            consistency=Consistency(at_exact_snapshot=ZedToken(token=foreign)),
        )
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "another datastore" in message


def _store_id(token: str) -> str:
    import base64

    body = token[4:]
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode().partition(":")[2]


# --- caveats ----


def test_caveat_context_and_partial_caveat_info(client: Client) -> None:
    client.WriteRelationships(
        WriteRelationshipsRequest(
            updates=touch(rel("document:cv#viewer@user:cat", "on_network", {"allowed": "10.0.0.1"}))
        )
    )
    conditional = check(client, "document:cv", "user:cat")
    assert conditional.permissionship == CONDITIONAL
    assert list(conditional.partial_caveat_info.missing_required_context) == ["ip"]
    assert (
        check(client, "document:cv", "user:cat", context={"ip": "10.0.0.1"}).permissionship == HAS
    )
    assert check(client, "document:cv", "user:cat", context={"ip": "10.9.9.9"}).permissionship == NO
    found = list(
        client.LookupResources(
            LookupResourcesRequest(
                consistency=FULL,
                resource_object_type="document",
                permission="view",
                subject=subj("user:cat"),
            )
        )
    )
    assert [
        (f.resource_object_id, f.partial_caveat_info.missing_required_context) for f in found
    ] == [("cv", ["ip"])]
    read = list(
        client.ReadRelationships(
            ReadRelationshipsRequest(
                consistency=FULL,
                relationship_filter=RelationshipFilter(
                    resource_type="document", optional_resource_id="cv"
                ),
            )
        )
    )
    assert read[0].relationship.optional_caveat.caveat_name == "on_network"
    assert dict(read[0].relationship.optional_caveat.context) == {"allowed": "10.0.0.1"}


# --- writes and preconditions ----


def test_preconditions(client: Client) -> None:
    must_not = Precondition(
        operation=Precondition.OPERATION_MUST_NOT_MATCH,
        filter=RelationshipFilter(resource_type="document", optional_resource_id="p1"),
    )
    client.WriteRelationships(
        WriteRelationshipsRequest(
            updates=touch(rel("document:p1#viewer@user:dan")), optional_preconditions=[must_not]
        )
    )
    code, message = status_of(
        lambda: client.WriteRelationships(
            WriteRelationshipsRequest(
                updates=touch(rel("document:p1#viewer@user:eve")),
                optional_preconditions=[must_not],
            )
        )
    )
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert "precondition" in message
    assert check(client, "document:p1", "user:eve").permissionship == NO
    must = Precondition(
        operation=Precondition.OPERATION_MUST_MATCH,
        filter=RelationshipFilter(
            resource_type="document",
            optional_resource_id="p1",
            optional_subject_filter=SubjectFilter(subject_type="user", optional_subject_id="dan"),
        ),
    )
    client.WriteRelationships(
        WriteRelationshipsRequest(
            updates=touch(rel("document:p1#viewer@user:eve")), optional_preconditions=[must]
        )
    )
    assert check(client, "document:p1", "user:eve").permissionship == HAS


def test_create_of_an_existing_relationship_is_already_exists(client: Client) -> None:
    create = [
        RelationshipUpdate(
            operation=RelationshipUpdate.OPERATION_CREATE,
            relationship=rel("document:x1#viewer@user:fay"),
        )
    ]
    client.WriteRelationships(WriteRelationshipsRequest(updates=create))
    code, _ = status_of(
        lambda: client.WriteRelationships(WriteRelationshipsRequest(updates=create))
    )
    assert code == grpc.StatusCode.ALREADY_EXISTS


def test_delete_with_limit_and_partial_deletion(client: Client) -> None:
    client.WriteRelationships(
        WriteRelationshipsRequest(
            updates=touch(*(rel(f"document:d{i}#viewer@user:gus") for i in range(5)))
        )
    )
    selected = RelationshipFilter(
        resource_type="document",
        optional_relation="viewer",
        optional_subject_filter=SubjectFilter(subject_type="user", optional_subject_id="gus"),
    )
    code, message = status_of(
        lambda: client.DeleteRelationships(
            DeleteRelationshipsRequest(relationship_filter=selected, optional_limit=2)
        )
    )
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert "partial deletion was not requested" in message
    partial = client.DeleteRelationships(
        DeleteRelationshipsRequest(
            relationship_filter=selected, optional_limit=2, optional_allow_partial_deletions=True
        )
    )
    assert partial.deletion_progress == DeleteRelationshipsResponse.DELETION_PROGRESS_PARTIAL
    assert partial.relationships_deleted_count == 2
    rest = client.DeleteRelationships(
        DeleteRelationshipsRequest(relationship_filter=selected, optional_limit=10)
    )
    assert rest.deletion_progress == DeleteRelationshipsResponse.DELETION_PROGRESS_COMPLETE
    assert rest.relationships_deleted_count == 3
    left = client.ReadRelationships(
        ReadRelationshipsRequest(consistency=FULL, relationship_filter=selected)
    )
    assert list(left) == []


# --- paging ----


def test_read_and_lookup_pages_with_cursors(client: Client) -> None:
    client.WriteRelationships(
        WriteRelationshipsRequest(
            updates=touch(*(rel(f"document:page{i:02d}#viewer@user:hal") for i in range(25)))
        )
    )
    selected = RelationshipFilter(resource_type="document", optional_resource_id_prefix="page")
    seen: list[str] = []
    cursor: Cursor | None = None
    while True:
        request = ReadRelationshipsRequest(
            consistency=FULL, relationship_filter=selected, optional_limit=10
        )
        if cursor is not None:
            request.optional_cursor.CopyFrom(cursor)
        page = list(client.ReadRelationships(request))
        seen.extend(r.relationship.resource.object_id for r in page)
        if len(page) < 10:
            break
        cursor = page[-1].after_result_cursor
    assert seen == [f"page{i:02d}" for i in range(25)]

    found: list[str] = []
    cursor = None
    while True:
        lookup = LookupResourcesRequest(
            consistency=FULL,
            resource_object_type="document",
            permission="view",
            subject=subj("user:hal"),
            optional_limit=7,
        )
        if cursor is not None:
            lookup.optional_cursor.CopyFrom(cursor)
        results = list(client.LookupResources(lookup))
        found.extend(r.resource_object_id for r in results)
        if len(results) < 7:
            break
        cursor = results[-1].after_result_cursor
    assert found == [f"page{i:02d}" for i in range(25)]


def test_lookup_subjects_wildcards_and_exclusions(client: Client) -> None:
    client.WriteRelationships(
        WriteRelationshipsRequest(
            updates=touch(rel("document:pub#viewer@user:*"), rel("document:pub#banned@user:ivy"))
        )
    )
    request = LookupSubjectsRequest(
        consistency=FULL,
        resource=obj("document:pub"),
        permission="view",
        subject_object_type="user",
    )
    found = list(client.LookupSubjects(request))
    assert [
        (f.subject.subject_object_id, [e.subject_object_id for e in f.excluded_subjects])
        for f in found
    ] == [("*", ["ivy"])]
    request.wildcard_option = LookupSubjectsRequest.WILDCARD_OPTION_EXCLUDE_WILDCARDS
    assert list(client.LookupSubjects(request)) == []


def test_expand_import_export(client: Client) -> None:
    imported = client.ImportBulkRelationships(
        iter(
            [
                ImportBulkRelationshipsRequest(
                    relationships=[rel(f"document:imp{i}#viewer@user:jo") for i in range(30)]
                ),
                ImportBulkRelationshipsRequest(
                    relationships=[rel(f"document:imp{i}#viewer@user:kim") for i in range(30)]
                ),
            ]
        )
    )
    assert imported.num_loaded == 60
    exported = [
        r.resource.object_id
        for page in client.ExportBulkRelationships(
            ExportBulkRelationshipsRequest(
                consistency=FULL,
                optional_limit=25,
                optional_relationship_filter=RelationshipFilter(
                    resource_type="document", optional_resource_id_prefix="imp"
                ),
            )
        )
        for r in page.relationships
    ]
    assert len(exported) == 60
    tree = client.ExpandPermissionTree(
        ExpandPermissionTreeRequest(
            consistency=FULL, resource=obj("document:imp1"), permission="view"
        )
    ).tree_root
    assert tree.expanded_object.object_id == "imp1"
    assert tree.WhichOneof("tree_type") == "intermediate"


# --- schema ----


def test_schema_read_and_reflection(client: Client) -> None:
    assert "definition document" in client.ReadSchema(ReadSchemaRequest()).schema_text
    reflected = client.ReflectSchema(ReflectSchemaRequest(consistency=FULL))
    names = [d.name for d in reflected.definitions]
    assert names == ["user", "group", "document"]
    assert [c.name for c in reflected.caveats] == ["on_network"]
    computable = client.ComputablePermissions(
        ComputablePermissionsRequest(
            consistency=FULL, definition_name="document", relation_name="viewer"
        )
    )
    assert [(p.definition_name, p.relation_name) for p in computable.permissions] == [
        ("document", "view")
    ]
    dependent = client.DependentRelations(
        DependentRelationsRequest(
            consistency=FULL, definition_name="document", permission_name="view"
        )
    )
    assert {(r.definition_name, r.relation_name) for r in dependent.relations} >= {
        ("document", "viewer"),
        ("document", "banned"),
        ("group", "member"),
    }
    diff = client.DiffSchema(
        DiffSchemaRequest(consistency=FULL, comparison_schema="definition user {}")
    )
    kinds = {d.WhichOneof("diff") for d in diff.diffs}
    assert {"definition_added", "caveat_added"} <= kinds


def test_schema_errors(client: Client) -> None:
    code, message = status_of(
        lambda: client.WriteSchema(WriteSchemaRequest(schema="definition user {\n relation"))
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "2:" in message  # line:column of the problem
    code, message = status_of(
        lambda: client.WriteSchema(WriteSchemaRequest(schema="definition user {}"))
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "relationships still use" in message


# --- errors and bad input ----


def test_unknown_types_and_relations(client: Client) -> None:
    code, message = status_of(lambda: check(client, "folder:f1", "user:ann"))
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert "folder" in message
    code, message = status_of(
        lambda: client.CheckPermission(
            CheckPermissionRequest(
                consistency=FULL,
                resource=obj("document:a"),
                permission="edit",
                subject=subj("user:a"),
            )
        )
    )
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert "edit" in message
    code, message = status_of(
        lambda: client.WriteRelationships(
            WriteRelationshipsRequest(updates=touch(rel("document:a#banned@group:g#member")))
        )
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    code, _ = status_of(
        lambda: client.ReadRelationships(
            ReadRelationshipsRequest(relationship_filter=RelationshipFilter(resource_type="nope"))
        )
    )
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    code, message = status_of(
        lambda: client.CheckPermission(CheckPermissionRequest(permission="view"))
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "object_type" in message


def test_bulk_check_reports_errors_per_item(client: Client) -> None:
    answer = client.CheckBulkPermissions(
        CheckBulkPermissionsRequest(
            consistency=FULL,
            items=[
                CheckBulkPermissionsRequestItem(
                    resource=obj("document:c1"), permission="view", subject=subj("user:zed")
                ),
                CheckBulkPermissionsRequestItem(
                    resource=obj("nope:c1"), permission="view", subject=subj("user:zed")
                ),
            ],
        )
    )
    assert answer.pairs[0].item.permissionship == NO
    assert answer.pairs[1].error.code == grpc.StatusCode.FAILED_PRECONDITION.value[0]
    assert "nope" in answer.pairs[1].error.message


def test_limits_on_batches_pages_and_message_size(client: Client) -> None:
    code, message = status_of(
        lambda: client.CheckBulkPermissions(
            CheckBulkPermissionsRequest(
                items=[
                    CheckBulkPermissionsRequestItem(
                        resource=obj(f"document:{i}"), permission="view", subject=subj("user:a")
                    )
                    for i in range(51)
                ]
            )
        )
    )
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "51 items exceed the limit of 50" in message
    code, message = status_of(
        lambda: client.LookupResources(
            LookupResourcesRequest(
                resource_object_type="document",
                permission="view",
                subject=subj("user:a"),
                optional_limit=101,
            )
        )
    )
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "maximum page size of 100" in message
    code, _ = status_of(lambda: client.WriteSchema(WriteSchemaRequest(schema="//" + "x" * 70_000)))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_bad_keys_are_unauthenticated(server: Server) -> None:
    for key in ("wrong-key-0123456789abcdef", KEYS["alice"] + "x", KEYS["alice"][:-1]):
        code, message = status_of(
            lambda k=key: server.client_with_key(k).ReadSchema(ReadSchemaRequest())
        )
        assert code == grpc.StatusCode.UNAUTHENTICATED
        assert message == "invalid bearer token"
    with grpc.insecure_channel(server.address) as channel:
        read = channel.unary_unary("/authzed.api.v1.SchemaService/ReadSchema")
        with pytest.raises(grpc.RpcError) as raised:
            read(b"")
        assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED  # type: ignore[attr-defined]
        assert "missing bearer token" in raised.value.details()  # type: ignore[attr-defined]
    assert server.client("bob").ReadSchema(ReadSchemaRequest()).schema_text


def test_malformed_protobufs_get_a_clear_error_and_the_server_keeps_serving(
    server: Server,
) -> None:
    metadata = (("authorization", f"Bearer {KEYS['alice']}"),)
    with grpc.insecure_channel(server.address) as channel:
        for method in (
            "/authzed.api.v1.PermissionsService/CheckPermission",
            "/authzed.api.v1.SchemaService/WriteSchema",
        ):
            call = channel.unary_unary(method)
            for garbage in (b"\xff\xff\xff\xff", b"\x0a\xff\x01", bytes(range(256))):
                with pytest.raises(grpc.RpcError) as raised:
                    call(garbage, metadata=metadata, timeout=5)
                code = raised.value.code()  # type: ignore[attr-defined]
                assert code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.INVALID_ARGUMENT)
        unknown = channel.unary_unary("/authzed.api.v1.PermissionsService/NoSuchMethod")
        with pytest.raises(grpc.RpcError) as raised:
            unknown(b"", metadata=metadata, timeout=5)
        assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED  # type: ignore[attr-defined]
    assert server.alive()
    assert server.client().ReadSchema(ReadSchemaRequest()).schema_text


def test_a_quiet_watch_ends_at_its_deadline_and_the_server_keeps_serving(client: Client) -> None:
    # Deadlines are honoured: a stream with nothing to send ends when the client's deadline
    # passes. (A unary call cannot show this reliably: gRPC rounds deadlines up to whole
    # milliseconds, and a local check often answers sooner.) Watch itself: test_grpc_watch.py.
    with pytest.raises(grpc.RpcError) as raised:
        list(client.Watch(WatchRequest(optional_object_types=["document"]), timeout=0.5))
    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED  # type: ignore[attr-defined]
    client.ReadSchema(ReadSchemaRequest())


def test_health_and_reflection(server: Server) -> None:
    metadata = (("authorization", f"Bearer {KEYS['alice']}"),)
    with grpc.insecure_channel(server.address) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        answers = stub.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), metadata=metadata
        )
        services = {s.name for answer in answers for s in answer.list_services_response.service}
    assert {
        "authzed.api.v1.PermissionsService",
        "authzed.api.v1.SchemaService",
        "authzed.api.v1.WatchService",
        "grpc.health.v1.Health",
    } <= services


def test_async_client(server: Server) -> None:
    async def scenario() -> tuple[int, list[str]]:
        client = server.async_client("bob")
        written = await client.WriteRelationships(
            WriteRelationshipsRequest(updates=touch(rel("document:as1#viewer@user:lou")))
        )
        fresh = Consistency(at_least_as_fresh=written.written_at)
        answer = await client.CheckPermission(
            CheckPermissionRequest(
                consistency=fresh,
                resource=obj("document:as1"),
                permission="view",
                subject=subj("user:lou"),
            )
        )
        found = [
            r.resource_object_id
            async for r in client.LookupResources(
                LookupResourcesRequest(
                    consistency=fresh,
                    resource_object_type="document",
                    permission="view",
                    subject=subj("user:lou"),
                )
            )
        ]
        return answer.permissionship, found

    permissionship, found = asyncio.run(scenario())
    assert permissionship == HAS
    assert "as1" in found
