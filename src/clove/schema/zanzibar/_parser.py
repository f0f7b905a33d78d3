"""Zanzibar namespace configurations (text format) to the schema IR.

One parser function per message of the configuration language, named after it. A file holds
one namespace config (``name: "doc"`` and its ``relation { ... }`` blocks, in any order), or
several: either as ``namespace { ... }`` blocks (``config { ... }`` and
``namespace_config { ... }`` are accepted as synonyms), or as configs written one after the
other, each starting with its ``name``.

Zanzibar has no type restrictions: a relation accepts any object and any userset. The IR says
so by giving every relation that stores tuples, as ``allowed``, every namespace of the file
(plain objects) followed by every ``namespace#relation`` of it (usersets), namespaces in file
order and, inside one, relations before permissions (``zanzibar_allowed``). A relation whose
``userset_rewrite`` never mentions ``_this`` stores nothing and becomes an ``ir.Permission``;
one without a rewrite, or whose rewrite is just ``_this``, is an ``ir.Relation`` with
``rewrite=None``. A union or intersection of a single child is that child.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from clove.errors import SchemaError
from clove.schema._expressible import count_this, subexpressions
from clove.schema.ir import (
    AllowedSubject,
    Arrow,
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
from clove.schema.zanzibar._textproto import (
    Field,
    Message,
    Placeholder,
    Word,
    parse_text_proto,
)

TUPLE_USERSET_OBJECT = "$TUPLE_USERSET_OBJECT"
NAMESPACE_BLOCKS = ("namespace", "config", "namespace_config")

_NAMESPACE_NAME = re.compile(r"[a-z][a-z0-9_]*(/[a-z][a-z0-9_]*)*")
_RELATION_NAME = re.compile(r"[a-z][a-z0-9_]*")
_SET_OPERATIONS = ("union", "intersection", "exclusion")
_LEAVES = ("_this", "computed_userset", "tuple_to_userset")


@dataclass
class _Namespace:
    name: str
    span: Span
    name_span: Span
    relations: list[_Relation] = field(default_factory=list)


@dataclass
class _Relation:
    name: str
    span: Span
    name_span: Span
    rewrite: Expression | None
    # The relation names on the right of its tuple_to_usersets, where they are written.
    arrow_targets: list[tuple[str, Span]]


# Collects (relation name, position) of tuple_to_userset targets while parsing a rewrite.
_Targets = list[tuple[str, Span]]


def parse(text: str) -> Schema:
    """Parse namespace configs; raises ``SchemaError`` with line:column for every problem."""
    top = parse_text_proto(text)
    namespaces = [
        _namespace_config(fields, span) for fields, span in _split_configs(top.fields, top.span)
    ]
    return _resolve(namespaces)


def zanzibar_allowed(definitions: Sequence[Definition]) -> tuple[AllowedSubject, ...]:
    """The subject types of every Zanzibar relation: all objects and all usersets of a file."""
    allowed: list[AllowedSubject] = []
    for definition in definitions:
        allowed.append(AllowedSubject(type=definition.name))
        names = [relation.name for relation in definition.relations]
        names += [permission.name for permission in definition.permissions]
        allowed.extend(AllowedSubject(type=definition.name, relation=name) for name in names)
    return tuple(allowed)


# --- the file ----------------------------------------------------------------------------


def _split_configs(fields: tuple[Field, ...], end: Span) -> list[tuple[tuple[Field, ...], Span]]:
    """The namespace configs of a file: each as its fields and the position it starts at."""
    if not fields:
        return []
    blocks = [f for f in fields if f.name in NAMESPACE_BLOCKS]
    if blocks:
        for item in fields:
            if item.name not in NAMESPACE_BLOCKS:
                raise _error(
                    f"`{item.name}` outside a `{blocks[0].name} {{ ... }}` block: in a file of"
                    " namespace blocks, every field belongs to a block",
                    item.span,
                )
            if not isinstance(item.value, Message):
                raise _error(f"`{item.name}` must be a block: `{item.name} {{ ... }}`", item.span)
        return [(_message(block).fields, block.span) for block in blocks]
    names = [f for f in fields if f.name == "name"]
    if len(names) <= 1:
        return [(fields, fields[0].span)]
    if fields[0].name != "name":
        raise _error(
            f"`{fields[0].name}` before the first `name`: when a file holds several namespace"
            " configs one after the other, each one starts with its `name`",
            fields[0].span,
        )
    configs: list[list[Field]] = []
    for item in fields:
        if item.name == "name":
            configs.append([])
        configs[-1].append(item)
    return [(tuple(config), config[0].span) for config in configs]


# --- one rule per message ----------------------------------------------------------------


def _namespace_config(fields: tuple[Field, ...], span: Span) -> _Namespace:
    found = _fields(fields, "namespace config", {"name": "string", "relation": "message"})
    name_field = _required(found, "name", "namespace config", span)
    name = _string(name_field)
    if _NAMESPACE_NAME.fullmatch(name) is None:
        raise _error(
            f"invalid namespace name `{name}`: use a-z, 0-9 and _, starting with a letter"
            " (parts separated by /)",
            name_field.value_span,
        )
    namespace = _Namespace(name, span, name_field.value_span)
    namespace.relations = [_relation(item) for item in found.get("relation", [])]
    return namespace


def _relation(relation: Field) -> _Relation:
    found = _fields(
        _message(relation).fields, "relation", {"name": "string", "userset_rewrite": "message"}
    )
    name_field = _required(found, "name", "relation", relation.span)
    name = _string(name_field)
    if _RELATION_NAME.fullmatch(name) is None:
        raise _error(
            f"invalid relation name `{name}`: use a-z, 0-9 and _, starting with a letter",
            name_field.value_span,
        )
    rewrites = found.get("userset_rewrite", [])
    targets: _Targets = []
    rewrite = _userset_rewrite(rewrites[0], targets) if rewrites else None
    return _Relation(name, relation.span, name_field.value_span, rewrite, targets)


def _userset_rewrite(rewrite: Field, targets: _Targets) -> Expression:
    """``userset_rewrite { union | intersection | exclusion { ... } }``.

    A lone ``_this``, ``computed_userset`` or ``tuple_to_userset`` is accepted as well.
    """
    return _one_of(rewrite, "userset_rewrite", (*_SET_OPERATIONS, *_LEAVES), targets)


def _child(child: Field, targets: _Targets) -> Expression:
    """``child { _this | computed_userset | tuple_to_userset | userset_rewrite }``.

    A set operation directly inside ``child`` is accepted as if wrapped in ``userset_rewrite``.
    """
    return _one_of(child, "child", (*_LEAVES, "userset_rewrite", *_SET_OPERATIONS), targets)


def _one_of(block: Field, context: str, choices: tuple[str, ...], targets: _Targets) -> Expression:
    fields = _message(block).fields
    if not fields:
        raise _error(f"empty `{context}`: expected one of {_listing(choices)}", block.span)
    first = fields[0]
    if first.name not in choices:
        raise _unknown_field(first, context, choices)
    if len(fields) > 1:
        extra = fields[1]
        if extra.name not in choices:
            raise _unknown_field(extra, context, choices)
        raise _error(
            f"`{context}` holds exactly one of {_listing(choices)}; found `{first.name}` and"
            f" `{extra.name}`",
            extra.span,
        )
    _message(first)
    match first.name:
        case "union" | "intersection" | "exclusion":
            return _set_operation(first, targets)
        case "userset_rewrite":
            return _userset_rewrite(first, targets)
        case "_this":
            return _this(first)
        case "computed_userset":
            return _computed_userset(first, in_tuple_to_userset=False)
        case _:
            return _tuple_to_userset(first, targets)


def _set_operation(operation: Field, targets: _Targets) -> Expression:
    found = _fields(_message(operation).fields, operation.name, {"child": "message"})
    children = tuple(_child(child, targets) for child in found.get("child", []))
    if operation.name == "exclusion":
        if len(children) != 2:
            raise _error(
                "`exclusion` needs exactly two children, the base and then the subtracted"
                f" set; found {len(children)}",
                operation.span,
            )
        return Exclusion(base=children[0], subtracted=children[1], span=operation.span)
    if not children:
        raise _error(f"`{operation.name}` needs at least one `child`", operation.span)
    if len(children) == 1:
        return children[0]
    if operation.name == "union":
        return Union(children=children, span=operation.span)
    return Intersection(children=children, span=operation.span)


def _this(this: Field) -> Expression:
    fields = _message(this).fields
    if fields:
        raise _error(f"`_this` takes no fields; found `{fields[0].name}`", fields[0].span)
    return This(span=this.span)


def _computed_userset(computed: Field, *, in_tuple_to_userset: bool) -> RelationRef:
    found = _fields(
        _message(computed).fields,
        "computed_userset",
        {"relation": "string", "object": "placeholder"},
    )
    relation = _required(found, "relation", "computed_userset", computed.span)
    objects = found.get("object", [])
    if objects and not in_tuple_to_userset:
        raise _error(
            f"`object: {TUPLE_USERSET_OBJECT}` belongs only in the computed_userset of a"
            " tuple_to_userset",
            objects[0].span,
        )
    if in_tuple_to_userset and not objects:
        raise _error(
            "the computed_userset of a tuple_to_userset needs"
            f" `object: {TUPLE_USERSET_OBJECT}` (the object the tupleset points to)",
            computed.span,
        )
    return RelationRef(name=_string(relation), span=relation.value_span)


def _tuple_to_userset(tuple_to_userset: Field, targets: _Targets) -> Arrow:
    found = _fields(
        _message(tuple_to_userset).fields,
        "tuple_to_userset",
        {"tupleset": "message", "computed_userset": "message"},
    )
    tupleset = _required(found, "tupleset", "tuple_to_userset", tuple_to_userset.span)
    computed = _required(found, "computed_userset", "tuple_to_userset", tuple_to_userset.span)
    tupleset_fields = _fields(_message(tupleset).fields, "tupleset", {"relation": "string"})
    tupleset_relation = _required(tupleset_fields, "relation", "tupleset", tupleset.span)
    target = _computed_userset(computed, in_tuple_to_userset=True)
    targets.append((target.name, target.span))
    # The arrow's position is its tupleset relation's, where "not found" errors point.
    return Arrow(
        tupleset=_string(tupleset_relation),
        target=target.name,
        span=tupleset_relation.value_span,
    )


# --- from parsed configs to IR -----------------------------------------------------------


def _resolve(namespaces: list[_Namespace]) -> Schema:
    seen: dict[str, _Namespace] = {}
    for namespace in namespaces:
        first = seen.setdefault(namespace.name, namespace)
        if first is not namespace:
            raise _error(
                f"namespace `{namespace.name}` is defined twice (first at"
                f" {_where(first.name_span)})",
                namespace.name_span,
            )
        names: dict[str, _Relation] = {}
        for relation in namespace.relations:
            earlier = names.setdefault(relation.name, relation)
            if earlier is not relation:
                raise _error(
                    f"relation `{relation.name}` is defined twice in namespace"
                    f" `{namespace.name}` (first at {_where(earlier.name_span)})",
                    relation.name_span,
                )
    every_relation = {relation.name for ns in namespaces for relation in ns.relations}
    for namespace in namespaces:
        _check_references(namespace, every_relation)
        _check_cycles(namespace)
    skeletons = [_definition(namespace, allowed=()) for namespace in namespaces]
    allowed = zanzibar_allowed(skeletons)
    return Schema(definitions=tuple(_definition(ns, allowed=allowed) for ns in namespaces))


def _check_references(namespace: _Namespace, every_relation: set[str]) -> None:
    relations = {relation.name: relation for relation in namespace.relations}
    for relation in namespace.relations:
        if relation.rewrite is None:
            continue
        for node in subexpressions(relation.rewrite):
            if isinstance(node, RelationRef) and node.name not in relations:
                raise _error(
                    f"relation `{node.name}` not found in namespace `{namespace.name}`",
                    node.span,
                )
            if isinstance(node, Arrow):
                _check_tupleset(namespace, relations, node)
        for target, span in relation.arrow_targets:
            if target not in every_relation:
                raise _error(
                    f"relation `{target}` (computed_userset of a tuple_to_userset) is not"
                    " defined by any namespace of the file",
                    span,
                )


def _check_tupleset(namespace: _Namespace, relations: dict[str, _Relation], arrow: Arrow) -> None:
    tupleset = relations.get(arrow.tupleset)
    if tupleset is None:
        raise _error(
            f"relation `{arrow.tupleset}` not found in namespace `{namespace.name}`"
            " (tupleset of a tuple_to_userset)",
            arrow.span,
        )
    if tupleset.rewrite is not None and not isinstance(tupleset.rewrite, This):
        raise _error(
            f"tupleset `{arrow.tupleset}` must be a relation of stored tuples alone (no"
            " userset_rewrite other than `_this`)",
            arrow.span,
        )


def _check_cycles(namespace: _Namespace) -> None:
    """Refuse relations that contain themselves through computed_usersets alone.

    Recursion is meaningful only through a tuple_to_userset, which moves to another object;
    ``viewer = viewer or ...`` on the same object has no answer.
    """
    edges = {
        relation.name: [
            node for node in subexpressions(relation.rewrite) if isinstance(node, RelationRef)
        ]
        if relation.rewrite is not None
        else []
        for relation in namespace.relations
    }
    state: dict[str, str] = {}  # "open" while on the current path, "done" after
    path: list[str] = []

    def visit(name: str) -> None:
        state[name] = "open"
        path.append(name)
        for ref in edges[name]:
            if state.get(ref.name) == "open":
                cycle = [*path[path.index(ref.name) :], ref.name]
                raise _error(
                    f"relation `{cycle[0]}` of namespace `{namespace.name}` contains itself"
                    f" through computed_usersets ({' -> '.join(cycle)}); recursion needs a"
                    " tuple_to_userset",
                    ref.span,
                )
            if ref.name not in state:
                visit(ref.name)
        path.pop()
        state[name] = "done"

    for relation in namespace.relations:
        if relation.name not in state:
            visit(relation.name)


def _definition(namespace: _Namespace, *, allowed: tuple[AllowedSubject, ...]) -> Definition:
    relations: list[Relation] = []
    permissions: list[Permission] = []
    for relation in namespace.relations:
        rewrite = relation.rewrite
        if rewrite is None or isinstance(rewrite, This):
            relations.append(Relation(name=relation.name, allowed=allowed, span=relation.span))
        elif count_this(rewrite):
            relations.append(
                Relation(name=relation.name, allowed=allowed, rewrite=rewrite, span=relation.span)
            )
        else:
            permissions.append(
                Permission(name=relation.name, expression=rewrite, span=relation.span)
            )
    return Definition(
        name=namespace.name,
        relations=tuple(relations),
        permissions=tuple(permissions),
        span=namespace.span,
    )


# --- field helpers -----------------------------------------------------------------------


def _fields(
    fields: tuple[Field, ...], context: str, allowed: dict[str, str]
) -> dict[str, list[Field]]:
    """Fields by name, checking names, value kinds, and that only repeatable ones repeat."""
    found: dict[str, list[Field]] = {}
    for item in fields:
        kind = allowed.get(item.name)
        if kind is None:
            raise _unknown_field(item, context, tuple(allowed))
        _check_kind(item, kind)
        if item.name in found and item.name not in ("relation", "child"):
            raise _error(f"`{item.name}` is set twice in `{context}`", item.span)
        found.setdefault(item.name, []).append(item)
    return found


def _check_kind(item: Field, kind: str) -> None:
    value = item.value
    if kind == "message":
        _message(item)
    elif kind == "string" and not isinstance(value, str):
        raise _error(f'`{item.name}` takes a quoted string, e.g. `{item.name}: "doc"`', item.span)
    elif kind == "placeholder" and value != Placeholder(TUPLE_USERSET_OBJECT):
        match value:
            case Placeholder(name=shown) | Word(text=shown):
                pass
            case Message():
                shown = "{ ... }"
            case _:
                shown = f'"{value}"'
        raise _error(
            f"`{item.name}` takes `{TUPLE_USERSET_OBJECT}`, found `{shown}`", item.value_span
        )


def _required(found: dict[str, list[Field]], name: str, context: str, span: Span) -> Field:
    items = found.get(name)
    if not items:
        raise _error(f"`{context}` has no `{name}`", span)
    return items[0]


def _message(item: Field) -> Message:
    if not isinstance(item.value, Message):
        raise _error(f"`{item.name}` must be a block: `{item.name} {{ ... }}`", item.span)
    return item.value


def _string(item: Field) -> str:
    assert isinstance(item.value, str)
    return item.value


def _unknown_field(item: Field, context: str, choices: tuple[str, ...]) -> SchemaError:
    return _error(
        f"unknown field `{item.name}` in `{context}` (expected {_listing(choices)})", item.span
    )


def _listing(names: tuple[str, ...]) -> str:
    return ", ".join(f"`{name}`" for name in names)


def _where(span: Span) -> str:
    return f"{span.line}:{span.column}"


def _error(message: str, span: Span) -> SchemaError:
    return SchemaError(message, line=span.line, column=span.column)
