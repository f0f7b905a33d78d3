"""The SpiceDB side of differential.py: run with the peer's Python ($PEER_PY).

Speaks JSON lines: each request on stdin gets one answer on stdout. Requests:

- ``{"op": "case", "schema", "types", "relationships", "questions"}`` starts a fresh embedded
  SpiceDB (closing the previous one), loads schema and relationships, and answers.
- ``{"op": "rewrite", "types", "relationships", "questions"[, "schema"]}`` keeps the current
  instance, deletes every relationship, writes the new schema if one is given, loads the
  relationships and answers (cheap; used while shrinking a case).
- ``{"op": "schema", "schema"}`` only asks whether SpiceDB accepts a schema.

``types`` lists the schema's definitions (so that a rewrite can delete every relationship).
Relationships are Clove-style strings (``doc:1#viewer@user:u1[cv:{"n":5}]``). Questions are
``{"k": "check", "resource", "permission", "subject"}``, ``{"k": "lr", "type", "permission",
"subject"}`` or ``{"k": "ls", "resource", "permission", "subject_type"}``; with ``"bulk": true``
the checks go in one CheckBulkPermissions call instead of one CheckPermission each. The answer
is ``{"answers": [...]}`` in question order, or ``{"error", "stage"}`` naming the step that
failed (``schema``, ``relationships`` or ``peer``). A question SpiceDB refuses is answered
``"error: <message>"``.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
import warnings
from typing import Any

import grpc
from authzed.api.v1 import (
    CheckBulkPermissionsRequest,
    CheckBulkPermissionsRequestItem,
    CheckPermissionRequest,
    CheckPermissionResponse,
    Consistency,
    ContextualizedCaveat,
    DeleteRelationshipsRequest,
    LookupResourcesRequest,
    LookupSubjectsRequest,
    ObjectReference,
    PermissionsServiceStub,
    Relationship,
    RelationshipFilter,
    RelationshipUpdate,
    SubjectReference,
    WriteRelationshipsRequest,
    WriteSchemaRequest,
)
from authzed.api.v1 import permission_service_pb2 as service
from google.protobuf.struct_pb2 import Struct
from spicedb_embedded import EmbeddedSpiceDB, ffi

warnings.simplefilter("ignore")

FULL = Consistency(fully_consistent=True)
CHECK_ANSWERS = {
    CheckPermissionResponse.PERMISSIONSHIP_HAS_PERMISSION: "has",
    CheckPermissionResponse.PERMISSIONSHIP_NO_PERMISSION: "no",
    CheckPermissionResponse.PERMISSIONSHIP_CONDITIONAL_PERMISSION: "conditional",
}
LOOKUP_ANSWERS = {
    service.LOOKUP_PERMISSIONSHIP_HAS_PERMISSION: "has",
    service.LOOKUP_PERMISSIONSHIP_CONDITIONAL_PERMISSION: "conditional",
}


def _obj(text: str) -> ObjectReference:
    type_, _, id_ = text.partition(":")
    return ObjectReference(object_type=type_, object_id=id_)


def _subject(text: str) -> SubjectReference:
    obj, _, rel = text.partition("#")
    return SubjectReference(object=_obj(obj), optional_relation=rel)


def _relationship(text: str) -> Relationship:
    caveat = None
    if text.endswith("]"):
        text, _, suffix = text[:-1].partition("[")
        name, _, context = suffix.partition(":")
        fields = Struct()
        if context:
            fields.update(json.loads(context))
        caveat = ContextualizedCaveat(caveat_name=name, context=fields)
    resource, _, subject = text.partition("@")
    obj, _, relation = resource.partition("#")
    return Relationship(
        resource=_obj(obj),
        relation=relation,
        subject=_subject(subject),
        optional_caveat=caveat,
    )


def _error(exc: Exception) -> str:
    if isinstance(exc, grpc.RpcError):
        return f"error: {exc.details()}"  # type: ignore[attr-defined]
    return f"error: {exc}"


class Peer:
    """One embedded SpiceDB at a time, replaced per case."""

    def __init__(self) -> None:
        self.db: EmbeddedSpiceDB | None = None
        self.scratch: EmbeddedSpiceDB | None = None
        self.types: list[str] = []
        self.deadline = 10.0  # seconds per lookup; SpiceDB can loop long on cyclic data

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        self.deadline = request.get("deadline", self.deadline)
        if request["op"] == "schema":
            return self._try_schema(request["schema"])
        stage = "schema"
        try:
            if request["op"] == "case":
                self.close()
                self.db = EmbeddedSpiceDB.start()
                self._write_schema(request["schema"])
            elif self.db is None:
                return {"error": "rewrite without a case", "stage": "peer"}
            else:
                stage = "peer"
                self._delete_all()
                if "schema" in request:
                    stage = "schema"
                    self._write_schema(request["schema"])
            self.types = request["types"]
            stage = "relationships"
            self._write(request["relationships"])
        except Exception as exc:
            self.close()
            return {"error": _error(exc), "stage": stage}
        questions = request["questions"]
        answers = self._bulk_checks(questions) if request.get("bulk") else {}
        return {
            "answers": [
                answers[index] if index in answers else self._answer(question)
                for index, question in enumerate(questions)
            ]
        }

    def _bulk_checks(self, questions: list[dict[str, Any]]) -> dict[int, Any]:
        """All check questions in one CheckBulkPermissions call (10x faster than one by one)."""
        assert self.db is not None
        asked = {i: q for i, q in enumerate(questions) if q["k"] == "check"}
        if not asked:
            return {}
        items = [
            CheckBulkPermissionsRequestItem(
                resource=_obj(q["resource"]),
                permission=q["permission"],
                subject=_subject(q["subject"]),
            )
            for q in asked.values()
        ]
        try:
            response = self.db.permissions().CheckBulkPermissions(
                CheckBulkPermissionsRequest(items=items, consistency=FULL)
            )
        except Exception as exc:
            return dict.fromkeys(asked, _error(exc))
        if len(response.pairs) != len(items):
            return {}  # fall back to single checks
        answers = {}
        for index, item, pair in zip(asked, items, response.pairs, strict=True):
            if pair.request != item:
                return {}
            if pair.HasField("error"):
                answers[index] = f"error: {pair.error.message}"
            else:
                answers[index] = CHECK_ANSWERS.get(pair.item.permissionship, "unspecified")
        return answers

    def _try_schema(self, schema: str) -> dict[str, Any]:
        """Whether SpiceDB accepts ``schema``, on a scratch instance that never holds data."""
        try:
            if self.scratch is None:
                self.scratch = EmbeddedSpiceDB.start()
            self.scratch.schema().WriteSchema(WriteSchemaRequest(schema=schema))
        except Exception as exc:
            return {"error": _error(exc), "stage": "schema"}
        return {"accepted": True}

    def _write_schema(self, schema: str) -> None:
        assert self.db is not None
        self.db.schema().WriteSchema(WriteSchemaRequest(schema=schema))

    def _delete_all(self) -> None:
        assert self.db is not None
        for type_ in self.types:
            self.db.permissions().DeleteRelationships(
                DeleteRelationshipsRequest(
                    relationship_filter=RelationshipFilter(resource_type=type_)
                )
            )

    def _write(self, relationships: list[str]) -> None:
        assert self.db is not None
        if not relationships:
            return
        updates = [
            RelationshipUpdate(
                operation=RelationshipUpdate.Operation.OPERATION_TOUCH,
                relationship=_relationship(text),
            )
            for text in relationships
        ]
        self.db.permissions().WriteRelationships(WriteRelationshipsRequest(updates=updates))

    def _answer(self, question: dict[str, Any]) -> Any:
        assert self.db is not None
        try:
            match question["k"]:
                case "check":
                    response = self.db.permissions().CheckPermission(
                        CheckPermissionRequest(
                            resource=_obj(question["resource"]),
                            permission=question["permission"],
                            subject=_subject(question["subject"]),
                            consistency=FULL,
                        )
                    )
                    return CHECK_ANSWERS.get(response.permissionship, "unspecified")
                case "lr":
                    stub = PermissionsServiceStub(self.db.channel())
                    stream = stub.LookupResources(
                        LookupResourcesRequest(
                            resource_object_type=question["type"],
                            permission=question["permission"],
                            subject=_subject(question["subject"]),
                            consistency=FULL,
                        ),
                        timeout=self.deadline,
                    )
                    found = {
                        (item.resource_object_id, LOOKUP_ANSWERS.get(item.permissionship, "?"))
                        for item in stream
                    }
                    return sorted([list(pair) for pair in found])
                case "ls":
                    stub = PermissionsServiceStub(self.db.channel())
                    stream = stub.LookupSubjects(
                        LookupSubjectsRequest(
                            resource=_obj(question["resource"]),
                            permission=question["permission"],
                            subject_object_type=question["subject_type"],
                            consistency=FULL,
                        ),
                        timeout=self.deadline,
                    )
                    subjects = set()
                    for item in stream:
                        excluded = tuple(
                            sorted(ex.subject_object_id for ex in item.excluded_subjects)
                        )
                        permissionship = LOOKUP_ANSWERS.get(item.subject.permissionship, "?")
                        subjects.add((item.subject.subject_object_id, permissionship, excluded))
                    return sorted([[sid, perm, list(ex)] for sid, perm, ex in subjects])
                case kind:
                    return f"error: unknown question kind {kind!r}"
        except Exception as exc:
            return _error(exc)


def main() -> None:
    ffi._get_lib().spicedb_free.argtypes = [ctypes.c_void_p]
    # The native library may log to fd 1: keep a private copy of stdout for the protocol.
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    peer = Peer()
    try:
        for line in sys.stdin:
            if line.strip():
                protocol.write(json.dumps(peer.handle(json.loads(line))) + "\n")
    finally:
        peer.close()
        if peer.scratch is not None:
            peer.scratch.close()


if __name__ == "__main__":
    main()
