"""Zanzibar namespace configurations for a schema IR.

One namespace is written as a bare config (``name: "doc"`` then its relations); several as
``namespace { ... }`` blocks, in source order. Members keep their source order (relations
before permissions when positions are unknown). Nested set operations are written in the
canonical form ``child { userset_rewrite { intersection { ... } } }``, and a rewrite that is a
single leaf as a union of one child, so every rewrite is a ``union``, ``intersection`` or
``exclusion``.

Docs are written as ``#`` comments above what they describe. Zanzibar has no type
restrictions, so ``allowed`` subject types are not written: a converted
relation accepts anything. That keeps every answer on data the source schema accepted. What
would change answers is refused with ``SchemaConversionError``: wildcard subjects, caveats,
expiration, ``nil``, ``.all()`` arrows.
"""

from __future__ import annotations

from clove.errors import CloveInternalError, SchemaConversionError
from clove.schema._expressible import check_rewrites_and_arrows, members_in_order
from clove.schema.ir import (
    Arrow,
    Definition,
    Exclusion,
    Expression,
    Intersection,
    Nil,
    Permission,
    Relation,
    RelationRef,
    Schema,
    This,
    Union,
)
from clove.schema.spicedb._checker import in_source_order, subject_source

TARGET = "a Zanzibar namespace config"
_INDENT = "  "


def print_zanzibar(schema: Schema) -> str:
    """Namespace config text for ``schema``; ``parse_zanzibar`` of it gives it back.

    Raises ``SchemaConversionError`` for constructs Zanzibar cannot express.
    """
    _check_expressible(schema)
    definitions = [item for item in in_source_order(schema) if isinstance(item, Definition)]
    if not definitions:
        return ""
    if len(definitions) == 1:
        return "\n".join(_config_lines(definitions[0], "")) + "\n"
    blocks = [
        "\n".join(["namespace {", *_config_lines(definition, _INDENT), "}"])
        for definition in definitions
    ]
    return "\n\n".join(blocks) + "\n"


def _check_expressible(schema: Schema) -> None:
    if schema.caveats:
        caveat = schema.caveats[0]
        raise _refuse("caveat", f"caveat `{caveat.name}`", "Zanzibar has no caveats", caveat.name)
    for definition in schema.definitions:
        for relation in definition.relations:
            where = f"{definition.name}#{relation.name}"
            for subject in relation.allowed:
                if subject.wildcard:
                    raise _refuse(
                        "wildcard subject type",
                        f"`{subject_source(subject)}` on relation `{where}`",
                        "Zanzibar has no wildcards",
                        where,
                    )
                if subject.caveat is not None:
                    raise _refuse(
                        "caveat",
                        f"`{subject_source(subject)}` on relation `{where}`",
                        "Zanzibar has no caveats",
                        where,
                    )
                if subject.expiration:
                    raise _refuse(
                        "expiration",
                        f"`{subject_source(subject)}` on relation `{where}`",
                        "Zanzibar relationships do not expire",
                        where,
                    )
    check_rewrites_and_arrows(schema, TARGET)


def _refuse(construct: str, what: str, reason: str, where: str) -> SchemaConversionError:
    return SchemaConversionError(
        f"cannot write {what} in {TARGET}: {reason}",
        construct=construct,
        where=where,
        target="zanzibar",
    )


def _config_lines(definition: Definition, indent: str) -> list[str]:
    lines = [*_comment_lines(definition.doc, indent), f"{indent}name: {_quote(definition.name)}"]
    for member in members_in_order(definition):
        lines.append("")
        lines.extend(_comment_lines(member.doc, indent))
        lines.extend(_relation_lines(definition, member, indent))
    return lines


def _comment_lines(doc: str | None, indent: str) -> list[str]:
    """Docs become ``#`` comments (which the parser skips, like every comment)."""
    if not doc:
        return []
    return [f"{indent}#{' ' + line if line else ''}" for line in doc.splitlines()]


def _relation_lines(
    definition: Definition, member: Relation | Permission, indent: str
) -> list[str]:
    rewrite = member.rewrite if isinstance(member, Relation) else member.expression
    if rewrite is None or isinstance(rewrite, This):
        return [f"{indent}relation {{ name: {_quote(member.name)} }}"]
    inner = indent + _INDENT
    where = f"{definition.name}#{member.name}"
    return [
        f"{indent}relation {{",
        f"{inner}name: {_quote(member.name)}",
        f"{inner}userset_rewrite {{",
        *_set_operation_lines(rewrite, inner + _INDENT, where),
        f"{inner}}}",
        f"{indent}}}",
    ]


def _set_operation_lines(expression: Expression, indent: str, where: str) -> list[str]:
    """The body of a ``userset_rewrite``: one set operation."""
    match expression:
        case Union(children=children) | Intersection(children=children) if len(children) > 1:
            operation = "union" if isinstance(expression, Union) else "intersection"
        case Exclusion(base=base, subtracted=subtracted):
            operation, children = "exclusion", (base, subtracted)
        case Union(children=()) | Intersection(children=()):
            raise _refuse(
                "empty set operation",
                f"an empty set operation in `{where}`",
                "Zanzibar requires at least one child",
                where,
            )
        case Union(children=(only,)) | Intersection(children=(only,)):
            return _set_operation_lines(only, indent, where)
        case _:
            operation, children = "union", (expression,)
    lines = [f"{indent}{operation} {{"]
    for child in children:
        lines.extend(_child_lines(child, indent + _INDENT, where))
    lines.append(f"{indent}}}")
    return lines


def _child_lines(expression: Expression, indent: str, where: str) -> list[str]:
    match expression:
        case This():
            return [f"{indent}child {{ _this {{}} }}"]
        case RelationRef(name=name):
            return [f"{indent}child {{ computed_userset {{ relation: {_quote(name)} }} }}"]
        case Arrow(function="all"):
            raise _refuse(
                "all arrow",
                f"the arrow `{expression.tupleset}.all({expression.target})` of `{where}`",
                "Zanzibar's tuple_to_userset unions its results; it has no intersection form",
                where,
            )
        case Arrow(tupleset=tupleset, target=target):
            inner = indent + _INDENT
            return [
                f"{indent}child {{",
                f"{inner}tuple_to_userset {{",
                f"{inner}{_INDENT}tupleset {{ relation: {_quote(tupleset)} }}",
                f"{inner}{_INDENT}computed_userset {{ object: $TUPLE_USERSET_OBJECT relation:"
                f" {_quote(target)} }}",
                f"{inner}}}",
                f"{indent}}}",
            ]
        case Nil():
            raise _refuse("nil", f"`nil` in `{where}`", "Zanzibar has no empty-set literal", where)
        case Union() | Intersection() | Exclusion():
            inner = indent + _INDENT
            return [
                f"{indent}child {{",
                f"{inner}userset_rewrite {{",
                *_set_operation_lines(expression, inner + _INDENT, where),
                f"{inner}}}",
                f"{indent}}}",
            ]
        case _:
            raise CloveInternalError(f"unknown expression node {expression!r}")


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
