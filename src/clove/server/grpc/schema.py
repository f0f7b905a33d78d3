"""SpiceDB's SchemaService: read and write the schema, and the reflection calls over its IR."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
from authzed.api.v1 import schema_service_pb2 as pb
from authzed.api.v1 import schema_service_pb2_grpc as pb_grpc

from clove.consistency import Consistency
from clove.errors import InvalidInputError, UnknownTypeError
from clove.schema import ir
from clove.schema.ir import ELLIPSIS
from clove.schema.spicedb import parse_schema
from clove.server.grpc import convert
from clove.server.grpc.calls import Services, require_time

Member = tuple[str, str]  # (definition, relation or permission)


class SchemaServicer(pb_grpc.SchemaServiceServicer):
    def __init__(self, services: Services) -> None:
        self._db = services.database

    def _read(self, consistency: object | None) -> tuple[str, ir.Schema]:
        requested = (
            convert.consistency(consistency)  # type: ignore[arg-type]
            if consistency is not None
            else Consistency.full()
        )
        snapshot = self._db.snapshot(consistency=requested)
        return snapshot, self._db.schema(consistency=Consistency.at_exact_snapshot(snapshot))

    def ReadSchema(  # noqa: N802 - the generated servicer's method names
        self, request: pb.ReadSchemaRequest, context: grpc.ServicerContext
    ) -> pb.ReadSchemaResponse:
        require_time(context)
        snapshot = self._db.snapshot(consistency=Consistency.full())
        text = self._db.read_schema(consistency=Consistency.at_exact_snapshot(snapshot))
        return pb.ReadSchemaResponse(schema_text=text, read_at=convert.zed_token(snapshot))

    def WriteSchema(  # noqa: N802
        self, request: pb.WriteSchemaRequest, context: grpc.ServicerContext
    ) -> pb.WriteSchemaResponse:
        if not request.schema.strip():
            raise InvalidInputError("WriteSchema needs a non-empty schema")
        require_time(context)
        token = self._db.write_schema(request.schema)
        return pb.WriteSchemaResponse(written_at=convert.zed_token(token))

    def ReflectSchema(  # noqa: N802
        self, request: pb.ReflectSchemaRequest, context: grpc.ServicerContext
    ) -> pb.ReflectSchemaResponse:
        snapshot, schema = self._read(request.consistency)
        filters = list(request.optional_filters)
        definitions = [
            _reflect_definition(definition, filters)
            for definition in schema.definitions
            if _definition_selected(definition.name, filters)
        ]
        caveats = [
            _reflect_caveat(caveat)
            for caveat in schema.caveats
            if _caveat_selected(caveat.name, filters)
        ]
        return pb.ReflectSchemaResponse(
            definitions=definitions, caveats=caveats, read_at=convert.zed_token(snapshot)
        )

    def ComputablePermissions(  # noqa: N802
        self, request: pb.ComputablePermissionsRequest, context: grpc.ServicerContext
    ) -> pb.ComputablePermissionsResponse:
        snapshot, schema = self._read(request.consistency)
        _require_member(schema, request.definition_name, request.relation_name)
        graph = _dependencies(schema)
        start = (request.definition_name, request.relation_name or ELLIPSIS)
        found: set[Member] = set()
        frontier = [start]
        while frontier:
            target = frontier.pop()
            for member, needs in graph.items():
                if target in needs and member not in found:
                    found.add(member)
                    frontier.append(member)
        wanted = request.optional_definition_name_filter
        references = [
            _reference(schema, member)
            for member in sorted(found)
            if not wanted or member[0].startswith(wanted)
        ]
        return pb.ComputablePermissionsResponse(
            permissions=references, read_at=convert.zed_token(snapshot)
        )

    def DependentRelations(  # noqa: N802
        self, request: pb.DependentRelationsRequest, context: grpc.ServicerContext
    ) -> pb.DependentRelationsResponse:
        snapshot, schema = self._read(request.consistency)
        definition = _require_member(schema, request.definition_name, request.permission_name)
        if definition.permission(request.permission_name) is None:
            raise InvalidInputError(
                f"`{request.permission_name}` is a relation, not a permission, "
                f"of definition `{request.definition_name}`"
            )
        graph = _dependencies(schema)
        found: set[Member] = set()
        frontier: list[Member] = [(request.definition_name, request.permission_name)]
        while frontier:
            for needed in graph.get(frontier.pop(), set()):
                if needed not in found and needed[1] != ELLIPSIS:
                    found.add(needed)
                    frontier.append(needed)
        references = [_reference(schema, member) for member in sorted(found)]
        return pb.DependentRelationsResponse(
            relations=references, read_at=convert.zed_token(snapshot)
        )

    def DiffSchema(  # noqa: N802
        self, request: pb.DiffSchemaRequest, context: grpc.ServicerContext
    ) -> pb.DiffSchemaResponse:
        snapshot, schema = self._read(request.consistency)
        other = parse_schema(request.comparison_schema)
        return pb.DiffSchemaResponse(
            diffs=list(_diff(other, schema)), read_at=convert.zed_token(snapshot)
        )


# --- reflection -----------------------------------------------------------------------------


def _definition_selected(name: str, filters: list[pb.ReflectionSchemaFilter]) -> bool:
    if not filters:
        return True
    return any(
        f.optional_definition_name_filter and name.startswith(f.optional_definition_name_filter)
        for f in filters
    )


def _caveat_selected(name: str, filters: list[pb.ReflectionSchemaFilter]) -> bool:
    if not filters:
        return True
    return any(
        f.optional_caveat_name_filter and name.startswith(f.optional_caveat_name_filter)
        for f in filters
    )


def _member_selected(
    definition: str, name: str, filters: list[pb.ReflectionSchemaFilter], *, relation: bool
) -> bool:
    for f in filters:
        if f.optional_definition_name_filter and not definition.startswith(
            f.optional_definition_name_filter
        ):
            continue
        wanted = f.optional_relation_name_filter if relation else f.optional_permission_name_filter
        other = f.optional_permission_name_filter if relation else f.optional_relation_name_filter
        if wanted and name.startswith(wanted):
            return True
        if not wanted and not other:
            return True
    return not filters


def _reflect_definition(
    definition: ir.Definition, filters: list[pb.ReflectionSchemaFilter]
) -> pb.ReflectionDefinition:
    return pb.ReflectionDefinition(
        name=definition.name,
        comment=definition.doc or "",
        relations=[
            _reflect_relation(definition.name, relation)
            for relation in definition.relations
            if _member_selected(definition.name, relation.name, filters, relation=True)
        ],
        permissions=[
            pb.ReflectionPermission(
                name=permission.name,
                comment=permission.doc or "",
                parent_definition_name=definition.name,
            )
            for permission in definition.permissions
            if _member_selected(definition.name, permission.name, filters, relation=False)
        ],
    )


def _reflect_relation(definition: str, relation: ir.Relation) -> pb.ReflectionRelation:
    return pb.ReflectionRelation(
        name=relation.name,
        comment=relation.doc or "",
        parent_definition_name=definition,
        subject_types=[_type_reference(allowed) for allowed in relation.allowed],
    )


def _type_reference(allowed: ir.AllowedSubject) -> pb.ReflectionTypeReference:
    reference = pb.ReflectionTypeReference(
        subject_definition_name=allowed.type, optional_caveat_name=allowed.caveat or ""
    )
    if allowed.wildcard:
        reference.is_public_wildcard = True
    elif allowed.relation != ELLIPSIS:
        reference.optional_relation_name = allowed.relation
    else:
        reference.is_terminal_subject = True
    return reference


def _reflect_caveat(caveat: ir.Caveat) -> pb.ReflectionCaveat:
    return pb.ReflectionCaveat(
        name=caveat.name,
        comment=caveat.doc or "",
        expression=caveat.expression,
        parameters=[
            pb.ReflectionCaveatParameter(
                name=parameter.name, type=str(parameter.type), parent_caveat_name=caveat.name
            )
            for parameter in caveat.parameters
        ],
    )


def _require_member(schema: ir.Schema, definition_name: str, name: str) -> ir.Definition:
    definition = schema.definition(definition_name)
    if definition is None:
        raise UnknownTypeError(f"object definition `{definition_name}` not found")
    if name and definition.relation(name) is None and definition.permission(name) is None:
        raise UnknownTypeError(
            f"relation/permission `{name}` not found under definition `{definition_name}`"
        )
    return definition


def _reference(schema: ir.Schema, member: Member) -> pb.ReflectionRelationReference:
    definition = schema.definition(member[0])
    is_permission = definition is not None and definition.permission(member[1]) is not None
    return pb.ReflectionRelationReference(
        definition_name=member[0], relation_name=member[1], is_permission=is_permission
    )


def _dependencies(schema: ir.Schema) -> dict[Member, set[Member]]:
    """For each relation and permission, the members its value is computed from.

    A relation depends on the subject sets it allows (``group#member``) and on its objects
    (``(type, ELLIPSIS)``); a permission on everything its expression names, arrows included.
    """
    graph: dict[Member, set[Member]] = {}
    for definition in schema.definitions:
        for relation in definition.relations:
            needs = {(allowed.type, allowed.relation) for allowed in relation.allowed}
            if relation.rewrite is not None:
                needs |= set(_expression_needs(schema, definition, relation.rewrite))
            graph[(definition.name, relation.name)] = needs
        for permission in definition.permissions:
            graph[(definition.name, permission.name)] = set(
                _expression_needs(schema, definition, permission.expression)
            )
    return graph


def _expression_needs(
    schema: ir.Schema, definition: ir.Definition, expression: ir.Expression
) -> Iterator[Member]:
    match expression:
        case ir.Union(children=children) | ir.Intersection(children=children):
            for child in children:
                yield from _expression_needs(schema, definition, child)
        case ir.Exclusion(base=base, subtracted=subtracted):
            yield from _expression_needs(schema, definition, base)
            yield from _expression_needs(schema, definition, subtracted)
        case ir.RelationRef(name=name):
            yield (definition.name, name)
        case ir.Arrow(tupleset=tupleset, target=target):
            yield (definition.name, tupleset)
            relation = definition.relation(tupleset)
            for allowed in relation.allowed if relation is not None else ():
                subject_definition = schema.definition(allowed.type)
                if subject_definition is not None and (
                    subject_definition.relation(target) or subject_definition.permission(target)
                ):
                    yield (allowed.type, target)
        case ir.Nil() | ir.This():
            return


def _diff(old: ir.Schema, new: ir.Schema) -> Iterator[pb.ReflectionSchemaDiff]:
    """What changed from ``old`` (the comparison schema) to ``new`` (the stored one)."""
    for definition in new.definitions:
        before = old.definition(definition.name)
        if before is None:
            yield pb.ReflectionSchemaDiff(definition_added=_reflect_definition(definition, []))
            continue
        if (before.doc or "") != (definition.doc or ""):
            yield pb.ReflectionSchemaDiff(
                definition_doc_comment_changed=_reflect_definition(definition, [])
            )
        for relation in definition.relations:
            previous = before.relation(relation.name)
            reflected = _reflect_relation(definition.name, relation)
            if previous is None:
                yield pb.ReflectionSchemaDiff(relation_added=reflected)
                continue
            for allowed in set(relation.allowed) - set(previous.allowed):
                yield pb.ReflectionSchemaDiff(
                    relation_subject_type_added=pb.ReflectionRelationSubjectTypeChange(
                        relation=reflected, changed_subject_type=_type_reference(allowed)
                    )
                )
            for allowed in set(previous.allowed) - set(relation.allowed):
                yield pb.ReflectionSchemaDiff(
                    relation_subject_type_removed=pb.ReflectionRelationSubjectTypeChange(
                        relation=reflected, changed_subject_type=_type_reference(allowed)
                    )
                )
        for relation in before.relations:
            if definition.relation(relation.name) is None:
                yield pb.ReflectionSchemaDiff(
                    relation_removed=_reflect_relation(definition.name, relation)
                )
        for permission in definition.permissions:
            previous_permission = before.permission(permission.name)
            reflected_permission = pb.ReflectionPermission(
                name=permission.name,
                comment=permission.doc or "",
                parent_definition_name=definition.name,
            )
            if previous_permission is None:
                yield pb.ReflectionSchemaDiff(permission_added=reflected_permission)
            elif previous_permission.expression != permission.expression:
                yield pb.ReflectionSchemaDiff(permission_expr_changed=reflected_permission)
        for permission in before.permissions:
            if definition.permission(permission.name) is None:
                yield pb.ReflectionSchemaDiff(
                    permission_removed=pb.ReflectionPermission(
                        name=permission.name, parent_definition_name=definition.name
                    )
                )
    for definition in old.definitions:
        if new.definition(definition.name) is None:
            yield pb.ReflectionSchemaDiff(definition_removed=_reflect_definition(definition, []))
    for caveat in new.caveats:
        previous_caveat = old.caveat(caveat.name)
        if previous_caveat is None:
            yield pb.ReflectionSchemaDiff(caveat_added=_reflect_caveat(caveat))
        elif previous_caveat.expression != caveat.expression:
            yield pb.ReflectionSchemaDiff(caveat_expr_changed=_reflect_caveat(caveat))
    for caveat in old.caveats:
        if new.caveat(caveat.name) is None:
            yield pb.ReflectionSchemaDiff(caveat_removed=_reflect_caveat(caveat))
