"""The JSON form of an OpenFGA authorization model to validated IR.

The JSON form is what OpenFGA's API stores and returns::

    {"schema_version": "1.1",
     "type_definitions": [{"type": "document",
                           "relations": {"viewer": {"union": {"child": [{"this": {}},
                                                    {"computedUserset": {"relation": "editor"}}]}}},
                           "metadata": {"relations": {"viewer": {"directly_related_user_types":
                                        [{"type": "user"}, {"type": "user", "wildcard": {}},
                                         {"type": "group", "relation": "member"},
                                         {"type": "user", "condition": "in_office"}]}}}}],
     "conditions": {"in_office": {"name": "in_office", "expression": "...",
                                  "parameters": {"ip": {"type_name": "TYPE_NAME_IPADDRESS"}}}}}

Both protobuf JSON spellings of field names are accepted (``computedUserset`` and
``computed_userset``). A relation whose rewrite uses ``this`` becomes an ``ir.Relation`` (with
``rewrite=None`` when ``this`` is all of it), any other an ``ir.Permission``, exactly as the DSL
front-end maps ``define``. Errors name the JSON path, and line:column when text was given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import NoReturn

from clove.errors import SchemaError
from clove.schema.ir import (
    NO_SPAN,
    AllowedSubject,
    Arrow,
    Caveat,
    CaveatParameter,
    CaveatType,
    Definition,
    Exclusion,
    Expression,
    Intersection,
    Permission,
    Relation,
    RelationRef,
    Schema,
    Span,
    This,
    Union,
)
from clove.schema.openfga._json_positions import decode_json
from clove.schema.openfga._source_map import Location, SourceMap
from clove.schema.openfga._validator import validate_model

# Schema versions a JSON model may declare: 1.2 is what a modular model compiles to.
JSON_SCHEMA_VERSIONS = frozenset({"1.1", "1.2"})

_PARAMETER_TYPES = {
    "TYPE_NAME_ANY": "any",
    "TYPE_NAME_BOOL": "bool",
    "TYPE_NAME_STRING": "string",
    "TYPE_NAME_INT": "int",
    "TYPE_NAME_UINT": "uint",
    "TYPE_NAME_DOUBLE": "double",
    "TYPE_NAME_DURATION": "duration",
    "TYPE_NAME_TIMESTAMP": "timestamp",
    "TYPE_NAME_MAP": "map",
    "TYPE_NAME_LIST": "list",
    "TYPE_NAME_IPADDRESS": "ipaddress",
}
_GENERIC_PARAMETER_TYPES = frozenset({"map", "list"})

# Rewrites nest at most this deep, as parentheses do in the DSL.
_MAX_NESTING = 100

# Rewrite kinds, by each of their protobuf JSON spellings.
_REWRITE_KINDS = {
    "this": "this",
    "computedUserset": "computed_userset",
    "computed_userset": "computed_userset",
    "tupleToUserset": "tuple_to_userset",
    "tuple_to_userset": "tuple_to_userset",
    "union": "union",
    "intersection": "intersection",
    "difference": "difference",
}


def parse_openfga_json(source: str | Mapping[str, object]) -> Schema:
    """Parse and validate an OpenFGA authorization model in its JSON form.

    ``source`` is JSON text or an already decoded object. Also accepted: the
    ``{"authorization_model": {...}}`` envelope of OpenFGA's read API. Raises ``SchemaError``
    naming the JSON path (and line:column for text) of the first problem.
    """
    if isinstance(source, str):
        decoded = decode_json(source)
        return _JsonModel(decoded.span).parse(decoded.value)
    return _JsonModel(lambda _node: NO_SPAN).parse(source)


class _JsonModel:
    def __init__(self, span_of: Callable[[object], Span]) -> None:
        self._span_of = span_of
        self._map = SourceMap()

    # --- helpers -----------------------------------------------------------------------------

    def _fail(self, message: str, path: str, node: object) -> NoReturn:
        span = self._span_of(node)
        prefix = f"{path}: " if path else ""
        raise SchemaError(f"{prefix}{message}", line=span.line, column=span.column)

    def _note(self, ir_node: object, path: str, json_node: object, part: str = "") -> Span:
        span = self._span_of(json_node)
        self._map.note(ir_node, Location(path=path or "(model)", span=span), part)
        return span

    def _object(self, value: object, path: str, parent: object) -> Mapping[str, object]:
        if not isinstance(value, Mapping):
            self._fail(f"expected an object, found {_json_kind(value)}", path, parent)
        return value

    def _string(self, value: object, path: str, parent: object) -> str:
        if not isinstance(value, str):
            self._fail(f"expected a string, found {_json_kind(value)}", path, parent)
        return value

    def _list(self, value: object, path: str, parent: object) -> list[object]:
        if not isinstance(value, list):
            self._fail(f"expected an array, found {_json_kind(value)}", path, parent)
        return value

    def _optional_object(self, value: object, path: str, parent: object) -> Mapping[str, object]:
        return {} if value is None else self._object(value, path, parent)

    def _known_keys(self, node: Mapping[str, object], keys: frozenset[str], path: str) -> None:
        for key in node:
            if key not in keys:
                expected = ", ".join(f"`{known}`" for known in sorted(keys))
                self._fail(f"unknown field `{key}` (expected {expected})", path, node)

    # --- model -------------------------------------------------------------------------------

    def parse(self, value: object) -> Schema:
        model = self._object(value, "", value)
        if "type_definitions" not in model and "authorization_model" in model:
            model = self._object(model["authorization_model"], "authorization_model", model)
        self._check_schema_version(model)
        raw_types = self._list(model.get("type_definitions", []), "type_definitions", model)
        definitions = tuple(
            self._parse_type(raw, f"type_definitions[{index}]", model)
            for index, raw in enumerate(raw_types)
        )
        raw_conditions = self._optional_object(model.get("conditions"), "conditions", model)
        caveats = tuple(
            self._parse_condition(name, raw, f"conditions.{name}", raw_conditions)
            for name, raw in raw_conditions.items()
        )
        schema = Schema(definitions=definitions, caveats=caveats, semantics="openfga")
        validate_model(schema, self._map)
        return schema

    def _check_schema_version(self, model: Mapping[str, object]) -> None:
        version = model.get("schema_version")
        if version is None or version == "":
            self._fail('schema version required (`schema_version`: "1.1")', "", model)
        text = self._string(version, "schema_version", model)
        if text not in JSON_SCHEMA_VERSIONS:
            self._fail(
                f'unsupported schema version `{text}`: expected "1.1" (or "1.2" for a '
                "modular model)",
                "schema_version",
                model,
            )

    # --- types and relations ---------------------------------------------------------------------

    def _parse_type(self, raw: object, path: str, parent: object) -> Definition:
        node = self._object(raw, path, parent)
        self._known_keys(node, frozenset({"type", "relations", "metadata"}), path)
        name = self._string(node.get("type"), f"{path}.type", node)
        relations_node = self._optional_object(node.get("relations"), f"{path}.relations", node)
        metadata = self._optional_object(node.get("metadata"), f"{path}.metadata", node)
        metadata_relations = self._optional_object(
            metadata.get("relations"), f"{path}.metadata.relations", metadata
        )
        for relation_name in metadata_relations:
            if relation_name not in relations_node:
                self._fail(
                    f"metadata for relation `{relation_name}`, which type `{name}` does not define",
                    f"{path}.metadata.relations.{relation_name}",
                    metadata_relations,
                )
        relations: list[Relation] = []
        permissions: list[Permission] = []
        for relation_name, raw_rewrite in relations_node.items():
            member = self._parse_relation(
                relation_name,
                raw_rewrite,
                metadata_relations.get(relation_name),
                f"{path}.relations.{relation_name}",
                f"{path}.metadata.relations.{relation_name}",
                relations_node,
            )
            if isinstance(member, Relation):
                relations.append(member)
            else:
                permissions.append(member)
        definition = Definition(
            name=name,
            relations=tuple(relations),
            permissions=tuple(permissions),
            span=self._span_of(node),
        )
        self._note(definition, f"{path}.type", node)
        return definition

    def _parse_relation(
        self,
        name: str,
        raw_rewrite: object,
        raw_metadata: object,
        path: str,
        metadata_path: str,
        parent: object,
    ) -> Relation | Permission:
        rewrite = self._parse_rewrite(raw_rewrite, path, parent)
        metadata = self._optional_object(raw_metadata, metadata_path, parent)
        raw_types = metadata.get("directly_related_user_types")
        types_path = f"{metadata_path}.directly_related_user_types"
        allowed = tuple(
            self._parse_restriction(raw, f"{types_path}[{index}]", metadata)
            for index, raw in enumerate(
                [] if raw_types is None else self._list(raw_types, types_path, metadata)
            )
        )
        span = self._span_of(raw_rewrite)
        member: Relation | Permission
        if any(isinstance(node, This) for node in _nodes(rewrite)):
            member = Relation(
                name=name,
                allowed=allowed,
                rewrite=None if isinstance(rewrite, This) else rewrite,
                span=span,
            )
        else:
            if allowed:
                self._fail(
                    f"relation `{name}` has directly related user types but its rewrite "
                    "never uses `this`",
                    types_path,
                    metadata,
                )
            member = Permission(name=name, expression=rewrite, span=span)
        self._note(member, path, raw_rewrite)
        return member

    def _parse_restriction(self, raw: object, path: str, parent: object) -> AllowedSubject:
        node = self._object(raw, path, parent)
        self._known_keys(node, frozenset({"type", "relation", "wildcard", "condition"}), path)
        type_name = self._string(node.get("type"), f"{path}.type", node)
        relation = node.get("relation")
        relation_name = (
            "..." if relation in (None, "") else self._string(relation, f"{path}.relation", node)
        )
        wildcard = node.get("wildcard")
        if wildcard is not None:
            self._object(wildcard, f"{path}.wildcard", node)
        condition = node.get("condition")
        condition_name = (
            None if condition in (None, "") else self._string(condition, f"{path}.condition", node)
        )
        subject = AllowedSubject(
            type=type_name,
            relation=relation_name,
            wildcard=wildcard is not None,
            caveat=condition_name,
            span=self._span_of(node),
        )
        self._note(subject, path, node)
        self._note(subject, f"{path}.condition", node, "condition")
        self._note(subject, f"{path}.relation", node, "relation")
        return subject

    # --- rewrites ----------------------------------------------------------------------------

    def _parse_rewrite(self, raw: object, path: str, parent: object, depth: int = 0) -> Expression:
        node = self._object(raw, path, parent)
        if depth > _MAX_NESTING:
            self._fail(f"rewrites nest deeper than {_MAX_NESTING} levels", path, node)
        kinds = [key for key in node if key in _REWRITE_KINDS]
        if len(kinds) != 1 or len(node) != 1:
            expected = "one of `this`, `computedUserset`, `tupleToUserset`, `union`, "
            expected += "`intersection`, `difference`"
            found = ", ".join(f"`{key}`" for key in node) or "nothing"
            self._fail(f"a rewrite needs exactly {expected}; found {found}", path, node)
        key = kinds[0]
        kind = _REWRITE_KINDS[key]
        inner_path = f"{path}.{key}"
        inner = self._object(node[key], inner_path, node)
        expression: Expression
        if kind == "this":
            expression = This(span=self._span_of(node))
        elif kind == "computed_userset":
            expression = RelationRef(
                name=self._relation_of(inner, inner_path), span=self._span_of(node)
            )
        elif kind == "tuple_to_userset":
            expression = self._parse_tuple_to_userset(inner, inner_path, node)
        elif kind == "difference":
            self._known_keys(inner, frozenset({"base", "subtract"}), inner_path)
            expression = Exclusion(
                base=self._parse_rewrite(inner.get("base"), f"{inner_path}.base", inner, depth + 1),
                subtracted=self._parse_rewrite(
                    inner.get("subtract"), f"{inner_path}.subtract", inner, depth + 1
                ),
                span=self._span_of(node),
            )
        else:
            self._known_keys(inner, frozenset({"child"}), inner_path)
            children_path = f"{inner_path}.child"
            raw_children = self._list(inner.get("child"), children_path, inner)
            if not raw_children:
                self._fail(f"`{key}` needs at least one child", children_path, inner)
            children = tuple(
                self._parse_rewrite(child, f"{children_path}[{index}]", inner, depth + 1)
                for index, child in enumerate(raw_children)
            )
            if kind == "union":
                expression = Union(children=children, span=self._span_of(node))
            else:
                expression = Intersection(children=children, span=self._span_of(node))
        self._note(expression, path, node)
        return expression

    def _parse_tuple_to_userset(
        self, inner: Mapping[str, object], path: str, node: object
    ) -> Arrow:
        tupleset_key = "tupleset"
        target_key = "computedUserset" if "computedUserset" in inner else "computed_userset"
        self._known_keys(
            inner, frozenset({"tupleset", "computedUserset", "computed_userset"}), path
        )
        tupleset = self._object(inner.get(tupleset_key), f"{path}.{tupleset_key}", inner)
        target = self._object(inner.get(target_key), f"{path}.{target_key}", inner)
        arrow = Arrow(
            tupleset=self._relation_of(tupleset, f"{path}.{tupleset_key}"),
            target=self._relation_of(target, f"{path}.{target_key}"),
            span=self._span_of(node),
        )
        self._note(arrow, f"{path}.{tupleset_key}", tupleset, "tupleset")
        return arrow

    def _relation_of(self, node: Mapping[str, object], path: str) -> str:
        self._known_keys(node, frozenset({"object", "relation"}), path)
        if node.get("object") not in (None, ""):
            self._fail("`object` is not supported in a rewrite; leave it empty", path, node)
        relation = self._string(node.get("relation"), f"{path}.relation", node)
        if not relation:
            self._fail("`relation` must not be empty", f"{path}.relation", node)
        return relation

    # --- conditions --------------------------------------------------------------------------

    def _parse_condition(self, name: str, raw: object, path: str, parent: object) -> Caveat:
        node = self._object(raw, path, parent)
        self._known_keys(node, frozenset({"name", "expression", "parameters", "metadata"}), path)
        nested = node.get("name")
        if nested not in (None, name):
            self._fail(
                f"condition key is `{name}` but its `name` is {nested!r}", f"{path}.name", node
            )
        expression = self._string(node.get("expression"), f"{path}.expression", node).strip()
        if not expression:
            self._fail("condition expression is empty", f"{path}.expression", node)
        raw_parameters = self._optional_object(node.get("parameters"), f"{path}.parameters", node)
        parameters = []
        for parameter_name, raw_type in raw_parameters.items():
            parameter_path = f"{path}.parameters.{parameter_name}"
            parameter = CaveatParameter(
                name=parameter_name,
                type=self._parse_parameter_type(raw_type, parameter_path, raw_parameters),
                span=self._span_of(raw_type),
            )
            self._note(parameter, parameter_path, raw_type)
            parameters.append(parameter)
        caveat = Caveat(
            name=name,
            parameters=tuple(parameters),
            expression=expression,
            span=self._span_of(node),
        )
        self._note(caveat, path, node)
        return caveat

    def _parse_parameter_type(self, raw: object, path: str, parent: object) -> CaveatType:
        node = self._object(raw, path, parent)
        self._known_keys(node, frozenset({"type_name", "generic_types"}), path)
        type_name = self._string(node.get("type_name"), f"{path}.type_name", node)
        name = _PARAMETER_TYPES.get(type_name)
        if name is None:
            known = ", ".join(sorted(_PARAMETER_TYPES))
            self._fail(f"unknown type `{type_name}` (expected one of {known})", path, node)
        raw_generics = node.get("generic_types")
        generics_path = f"{path}.generic_types"
        generics = [] if raw_generics is None else self._list(raw_generics, generics_path, node)
        wanted = 1 if name in _GENERIC_PARAMETER_TYPES else 0
        if len(generics) != wanted:
            self._fail(
                f"`{type_name}` takes {wanted} generic type(s), found {len(generics)}",
                path,
                node,
            )
        args = tuple(
            self._parse_parameter_type(generic, f"{generics_path}[{index}]", node)
            for index, generic in enumerate(generics)
        )
        return CaveatType(name=name, args=args)


def _nodes(expression: Expression) -> Iterator[Expression]:
    yield expression
    match expression:
        case Union(children=children) | Intersection(children=children):
            for child in children:
                yield from _nodes(child)
        case Exclusion(base=base, subtracted=subtracted):
            yield from _nodes(base)
            yield from _nodes(subtracted)
        case _:
            pass


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "an array"
    return "an object"
