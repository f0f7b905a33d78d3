"""Every check and lookup SpiceDB computed over its validation files, asked through gRPC.

One ``clove serve`` for the module, driven by the official ``authzed`` client: each document's
schema and relationships are written through the API, checks go in CheckBulkPermissions
batches and lookups through the streaming calls, all fully consistent.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from authzed.api.v1 import (
    CheckBulkPermissionsRequest,
    CheckBulkPermissionsRequestItem,
    Client,
    Consistency,
    DeleteRelationshipsRequest,
    LookupResourcesRequest,
    LookupSubjectsRequest,
    ObjectReference,
    ReadSchemaRequest,
    RelationshipFilter,
    RelationshipUpdate,
    SubjectReference,
    WriteRelationshipsRequest,
    WriteSchemaRequest,
)

from clove.relationships import parse_relationship
from clove.schema.spicedb import parse_schema
from clove.server.grpc import convert
from conformance_data import conformance_files, require_conformance
from server.serve_process import Server, running_server

FILES = conformance_files("spicedb-golden", "*.json")
FULL = Consistency(fully_consistent=True)
NAMES = {1: "no", 2: "has", 3: "conditional"}
LOOKUP_NAMES = {1: "has", 2: "conditional"}


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with running_server("memory") as running:
        yield running


def _object(text: str) -> ObjectReference:
    type_, _, id_ = text.partition(":")
    return ObjectReference(object_type=type_, object_id=id_)


def _subject(text: str) -> SubjectReference:
    obj, _, relation = text.partition("#")
    return SubjectReference(
        object=_object(obj), optional_relation="" if relation in ("", "...") else relation
    )


def _load(client: Client, document: dict[str, Any]) -> None:
    """Empty the store of the previous document, then write this one's schema and data."""
    try:
        old = parse_schema(client.ReadSchema(ReadSchemaRequest()).schema_text)
    except Exception:
        old = None
    for definition in old.definitions if old is not None else ():
        client.DeleteRelationships(
            DeleteRelationshipsRequest(
                relationship_filter=RelationshipFilter(resource_type=definition.name)
            )
        )
    client.WriteSchema(WriteSchemaRequest(schema=document["schema"]))
    updates = [
        RelationshipUpdate(
            operation=RelationshipUpdate.OPERATION_TOUCH,
            relationship=convert.relationship_message(parse_relationship(text)),
        )
        for text in document["relationships"]
    ]
    for start in range(0, len(updates), 1000):
        client.WriteRelationships(WriteRelationshipsRequest(updates=updates[start : start + 1000]))


def _distinct(entries: list[Any]) -> list[Any]:
    seen: list[Any] = []
    for entry in entries:
        if entry not in seen:
            seen.append(entry)
    return seen


def _disagreements(client: Client, document: dict[str, Any]) -> list[str]:
    wrong = []
    checks = document["checks"]
    for start in range(0, len(checks), 1000):
        batch = checks[start : start + 1000]
        answer = client.CheckBulkPermissions(
            CheckBulkPermissionsRequest(
                consistency=FULL,
                items=[
                    CheckBulkPermissionsRequestItem(
                        resource=_object(resource), permission=permission, subject=_subject(who)
                    )
                    for resource, permission, who, _ in batch
                ],
            )
        )
        for (resource, permission, who, expected), pair in zip(batch, answer.pairs, strict=True):
            got = (
                NAMES[pair.item.permissionship]
                if pair.HasField("item")
                else f"error {pair.error.message}"
            )
            if got != expected:
                wrong.append(f"check {resource}#{permission}@{who}: {got}, SpiceDB {expected}")
    for lookup in document["lookups"]:
        if lookup[0] == "resources":
            _, resource_type, permission, who, expected = lookup
            got: list[Any] = [
                [found.resource_object_id, LOOKUP_NAMES[found.permissionship]]
                for found in client.LookupResources(
                    LookupResourcesRequest(
                        consistency=FULL,
                        resource_object_type=resource_type,
                        permission=permission,
                        subject=_subject(who),
                    )
                )
            ]
        else:
            _, resource, permission, subject_type, expected = lookup
            got = [
                [
                    found.subject.subject_object_id,
                    LOOKUP_NAMES[found.subject.permissionship],
                    [excluded.subject_object_id for excluded in found.excluded_subjects],
                ]
                for found in client.LookupSubjects(
                    LookupSubjectsRequest(
                        consistency=FULL,
                        resource=_object(resource),
                        permission=permission,
                        subject_object_type=subject_type,
                    )
                )
            ]
        if got != _distinct(expected):
            wrong.append(f"{lookup[:4]}: {got}, SpiceDB {expected}")
    return wrong


@pytest.mark.parametrize("path", FILES, ids=[path.name.split(".")[0] for path in FILES])
def test_golden_through_grpc(path: Path, server: Server) -> None:
    require_conformance()
    golden = json.loads(path.read_text())
    client = server.client()
    wrong = []
    for document in golden["documents"]:
        _load(client, document)
        wrong.extend(_disagreements(client, document))
    assert not wrong, f"{len(wrong)} disagreements:\n" + "\n".join(wrong[:40])
