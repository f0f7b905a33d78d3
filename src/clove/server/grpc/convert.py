"""Translation between SpiceDB's v1 protobuf messages and Clove's own values.

ZedTokens carry Clove's consistency tokens unchanged; cursors carry the snapshot they were
read at, so that a paged read continues at the revision it started on, as in SpiceDB.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from authzed.api.v1 import core_pb2, permission_service_pb2
from google.protobuf import json_format, struct_pb2

from clove.consistency import Consistency
from clove.engine.expand import ExpandNode
from clove.errors import InvalidInputError
from clove.relationships import (
    Operation,
    Precondition,
    PreconditionKind,
    Relationship,
    RelationshipFilter,
    RelationshipUpdate,
    SubjectRef,
    parse_subject,
)
from clove.schema.ir import ELLIPSIS

Permissionship = permission_service_pb2.CheckPermissionResponse.Permissionship
LookupPermissionship = permission_service_pb2.LookupPermissionship

CHECK_PERMISSIONSHIP: Mapping[str, Permissionship.ValueType] = {
    "no": Permissionship.PERMISSIONSHIP_NO_PERMISSION,
    "has": Permissionship.PERMISSIONSHIP_HAS_PERMISSION,
    "conditional": Permissionship.PERMISSIONSHIP_CONDITIONAL_PERMISSION,
}
LOOKUP_PERMISSIONSHIP: Mapping[str, LookupPermissionship.ValueType] = {
    "has": LookupPermissionship.LOOKUP_PERMISSIONSHIP_HAS_PERMISSION,
    "conditional": LookupPermissionship.LOOKUP_PERMISSIONSHIP_CONDITIONAL_PERMISSION,
}

_OPERATIONS = {
    core_pb2.RelationshipUpdate.OPERATION_CREATE: Operation.CREATE,
    core_pb2.RelationshipUpdate.OPERATION_TOUCH: Operation.TOUCH,
    core_pb2.RelationshipUpdate.OPERATION_DELETE: Operation.DELETE,
}
_PRECONDITIONS = {
    permission_service_pb2.Precondition.OPERATION_MUST_MATCH: PreconditionKind.MUST_MATCH,
    permission_service_pb2.Precondition.OPERATION_MUST_NOT_MATCH: PreconditionKind.MUST_NOT_MATCH,
}
_TREE_OPERATIONS = {
    "union": core_pb2.AlgebraicSubjectSet.OPERATION_UNION,
    "intersection": core_pb2.AlgebraicSubjectSet.OPERATION_INTERSECTION,
    "exclusion": core_pb2.AlgebraicSubjectSet.OPERATION_EXCLUSION,
}


# --- consistency and tokens -----------------------------------------------------------------


def consistency(message: permission_service_pb2.Consistency) -> Consistency:
    """The request's consistency; an unset requirement means minimize_latency, as in SpiceDB."""
    match message.WhichOneof("requirement"):
        case "fully_consistent":
            return Consistency.full()
        case "at_least_as_fresh":
            return Consistency.at_least_as_fresh(_token(message.at_least_as_fresh))
        case "at_exact_snapshot":
            return Consistency.at_exact_snapshot(_token(message.at_exact_snapshot))
        case _:
            return Consistency.minimize_latency()


def _token(token: core_pb2.ZedToken) -> str:
    if not token.token:
        raise InvalidInputError("the ZedToken of the consistency requirement is empty")
    return token.token


def zed_token(token: str) -> core_pb2.ZedToken:
    return core_pb2.ZedToken(token=token)


def encode_cursor(snapshot: str, after: Any) -> core_pb2.Cursor:
    """A cursor that resumes after ``after`` (JSON-able) at the revision of ``snapshot``."""
    raw = json.dumps([snapshot, after], separators=(",", ":")).encode()
    return core_pb2.Cursor(token=base64.urlsafe_b64encode(raw).decode())


def decode_cursor(cursor: core_pb2.Cursor) -> tuple[str, Any]:
    """``(snapshot, after)`` from a cursor this server issued; InvalidInputError otherwise."""
    try:
        snapshot, after = json.loads(base64.urlsafe_b64decode(cursor.token.encode()))
    except (binascii.Error, ValueError, TypeError):
        raise InvalidInputError(f"malformed cursor {cursor.token!r}") from None
    if not isinstance(snapshot, str):
        raise InvalidInputError(f"malformed cursor {cursor.token!r}")
    return snapshot, after


# --- objects, subjects, context -------------------------------------------------------------


def object_text(ref: core_pb2.ObjectReference) -> str:
    if not ref.object_type or not ref.object_id:
        raise InvalidInputError("an object reference needs both object_type and object_id")
    return f"{ref.object_type}:{ref.object_id}"


def subject_ref(ref: core_pb2.SubjectReference) -> SubjectRef:
    text = object_text(ref.object)
    if ref.optional_relation:
        text += f"#{ref.optional_relation}"
    return parse_subject(text)


def subject_message(subject: SubjectRef) -> core_pb2.SubjectReference:
    relation = "" if subject.relation == ELLIPSIS else subject.relation
    return core_pb2.SubjectReference(
        object=core_pb2.ObjectReference(object_type=subject.type, object_id=subject.id),
        optional_relation=relation,
    )


def context(message: struct_pb2.Struct, present: bool) -> dict[str, Any] | None:
    """Caveat context from a protobuf Struct; None when the request sent none."""
    if not present:
        return None
    value: dict[str, Any] = _integral_numbers(json_format.MessageToDict(message))
    return value


def _integral_numbers(value: Any) -> Any:
    """Struct numbers are doubles; give whole numbers back as ints, as JSON clients meant them."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {key: _integral_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_integral_numbers(item) for item in value]
    return value


def struct(value: Mapping[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(dict(value))
    return message


def partial_caveat_info(missing: tuple[str, ...]) -> core_pb2.PartialCaveatInfo | None:
    if not missing:
        return None
    return core_pb2.PartialCaveatInfo(missing_required_context=list(missing))


# --- relationships ----------------------------------------------------------------------------


def relationship(message: core_pb2.Relationship) -> Relationship:
    if not message.relation:
        raise InvalidInputError("a relationship needs a relation")
    subject = subject_ref(message.subject)
    resource = message.resource
    object_text(resource)
    caveat_name: str | None = None
    caveat_context: dict[str, Any] | None = None
    if message.HasField("optional_caveat"):
        caveat_name = message.optional_caveat.caveat_name or None
        if caveat_name is None:
            raise InvalidInputError("a relationship caveat needs a caveat_name")
        caveat_context = context(
            message.optional_caveat.context, message.optional_caveat.HasField("context")
        )
    expiration: datetime | None = None
    if message.HasField("optional_expires_at"):
        expiration = message.optional_expires_at.ToDatetime(tzinfo=UTC)
    return Relationship(
        resource_type=resource.object_type,
        resource_id=resource.object_id,
        relation=message.relation,
        subject_type=subject.type,
        subject_id=subject.id,
        subject_relation=subject.relation,
        caveat_name=caveat_name,
        caveat_context=caveat_context or None,
        expiration=expiration,
    )


def relationship_message(rel: Relationship) -> core_pb2.Relationship:
    message = core_pb2.Relationship(
        resource=core_pb2.ObjectReference(object_type=rel.resource_type, object_id=rel.resource_id),
        relation=rel.relation,
        subject=subject_message(
            SubjectRef(type=rel.subject_type, id=rel.subject_id, relation=rel.subject_relation)
        ),
    )
    if rel.caveat_name is not None:
        caveat = message.optional_caveat
        caveat.caveat_name = rel.caveat_name
        if rel.context_json:
            caveat.context.update(json.loads(rel.context_json))
    if rel.expiration is not None:
        message.optional_expires_at.FromDatetime(rel.expiration)
    return message


def relationship_key(rel: Relationship) -> list[str]:
    return list(rel.key)


def relationship_from_key(key: Any) -> Relationship:
    if not (isinstance(key, list) and len(key) == 6 and all(isinstance(k, str) for k in key)):
        raise InvalidInputError("malformed cursor: it does not name a relationship")
    return Relationship(
        resource_type=key[0],
        resource_id=key[1],
        relation=key[2],
        subject_type=key[3],
        subject_id=key[4],
        subject_relation=key[5],
    )


def update(message: core_pb2.RelationshipUpdate) -> RelationshipUpdate:
    operation = _OPERATIONS.get(message.operation)
    if operation is None:
        raise InvalidInputError("a relationship update needs an operation (CREATE, TOUCH, DELETE)")
    return RelationshipUpdate(operation=operation, relationship=relationship(message.relationship))


def relationship_filter(message: permission_service_pb2.RelationshipFilter) -> RelationshipFilter:
    """SpiceDB's filter: an unset subject relation filter matches any subject relation, an
    empty one only plain subjects."""
    if message.optional_resource_id and message.optional_resource_id_prefix:
        raise InvalidInputError(
            "a relationship filter takes optional_resource_id or optional_resource_id_prefix, "
            "not both"
        )
    subject_type = subject_id = subject_relation = None
    if message.HasField("optional_subject_filter"):
        subjects = message.optional_subject_filter
        if not subjects.subject_type:
            raise InvalidInputError("a subject filter needs a subject_type")
        subject_type = subjects.subject_type
        subject_id = subjects.optional_subject_id or None
        if subjects.HasField("optional_relation"):
            subject_relation = subjects.optional_relation.relation or ELLIPSIS
    return RelationshipFilter(
        resource_type=message.resource_type or None,
        resource_id=message.optional_resource_id or None,
        resource_id_prefix=message.optional_resource_id_prefix or None,
        relation=message.optional_relation or None,
        subject_type=subject_type,
        subject_id=subject_id,
        subject_relation=subject_relation,
    )


def precondition(message: permission_service_pb2.Precondition) -> Precondition:
    kind = _PRECONDITIONS.get(message.operation)
    if kind is None:
        raise InvalidInputError("a precondition needs an operation (MUST_MATCH, MUST_NOT_MATCH)")
    if not message.HasField("filter"):
        raise InvalidInputError("a precondition needs a filter")
    return Precondition(kind=kind, filter=relationship_filter(message.filter))


# --- expand -----------------------------------------------------------------------------------


def expand_tree(node: ExpandNode) -> core_pb2.PermissionRelationshipTree:
    obj_type, _, obj_id = node.object.partition(":")
    tree = core_pb2.PermissionRelationshipTree(
        expanded_object=core_pb2.ObjectReference(object_type=obj_type, object_id=obj_id),
        expanded_relation=node.relation,
    )
    if node.operation == "leaf":
        subjects = [subject_message(parse_subject(text.split("[", 1)[0])) for text in node.subjects]
        tree.leaf.CopyFrom(core_pb2.DirectSubjectSet(subjects=subjects))
    else:
        tree.intermediate.CopyFrom(
            core_pb2.AlgebraicSubjectSet(
                operation=_TREE_OPERATIONS[node.operation],
                children=[expand_tree(child) for child in node.children],
            )
        )
    return tree
