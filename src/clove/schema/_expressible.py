"""What the printers of every target language share: member order and the rules of rewrites.

Each printer raises ``SchemaConversionError`` for a construct its language cannot express;
the checks that hold for *every* target (an arrow reads the stored relationships of a plain
relation; a relation's rewrite includes its stored relationships) live here so that all
printers word them the same way.
"""

from __future__ import annotations

from collections.abc import Iterator

from clove.errors import CloveInternalError, SchemaConversionError
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


def members_in_order(definition: Definition) -> list[Relation | Permission]:
    """Relations and permissions as written (by span), else relations before permissions."""
    members: list[Relation | Permission] = [*definition.relations, *definition.permissions]
    if all(member.span.line for member in members):
        members.sort(key=lambda member: (member.span.line, member.span.column))
    return members


def subexpressions(expression: Expression) -> Iterator[Expression]:
    """``expression`` and every expression below it, parents first."""
    yield expression
    match expression:
        case Union(children=children) | Intersection(children=children):
            for child in children:
                yield from subexpressions(child)
        case Exclusion(base=base, subtracted=subtracted):
            yield from subexpressions(base)
            yield from subexpressions(subtracted)
        case RelationRef() | Arrow() | Nil() | This():
            pass
        case _:
            raise CloveInternalError(f"unknown expression node {expression!r}")


def count_this(expression: Expression) -> int:
    """How many times ``This`` occurs in ``expression``."""
    return sum(isinstance(node, This) for node in subexpressions(expression))


def member_expressions(definition: Definition) -> Iterator[tuple[str, Expression]]:
    """``(member name, expression)`` for every rewrite and permission of a definition."""
    for relation in definition.relations:
        if relation.rewrite is not None:
            yield relation.name, relation.rewrite
    for permission in definition.permissions:
        yield permission.name, permission.expression


def check_rewrites_and_arrows(schema: Schema, target: str) -> None:
    """Apply the rules every target language shares; raise ``SchemaConversionError``.

    - a relation with a rewrite must include its stored relationships (``This``) somewhere,
      else its allowed subject types mean nothing and no language can write it;
    - ``This`` appears only in relation rewrites;
    - an arrow's tupleset is a relation without a rewrite: SpiceDB arrows, OpenFGA's ``from``
      and Zanzibar's ``tuple_to_userset`` all read the stored relationships of the tupleset.
    """
    for definition in schema.definitions:
        for relation in definition.relations:
            if relation.rewrite is not None and count_this(relation.rewrite) == 0:
                raise SchemaConversionError(
                    f"cannot write relation `{definition.name}#{relation.name}` in {target}:"
                    " its rewrite never includes its own stored relationships",
                    construct="rewrite without This",
                    where=f"{definition.name}#{relation.name}",
                    target=target,
                )
        for permission in definition.permissions:
            if count_this(permission.expression):
                raise SchemaConversionError(
                    f"cannot write permission `{definition.name}#{permission.name}` in {target}:"
                    " a permission has no stored relationships to refer to (This)",
                    construct="This in a permission",
                    where=f"{definition.name}#{permission.name}",
                    target=target,
                )
        for name, expression in member_expressions(definition):
            for node in subexpressions(expression):
                if isinstance(node, Arrow):
                    _check_tupleset(definition, name, node, target)


def _check_tupleset(definition: Definition, member: str, arrow: Arrow, target: str) -> None:
    where = f"{definition.name}#{member}"
    relation = definition.relation(arrow.tupleset)
    if relation is None:
        kind = "a permission" if definition.permission(arrow.tupleset) else "not defined"
        raise SchemaConversionError(
            f"cannot write the arrow `{arrow.tupleset}->{arrow.target}` of `{where}` in {target}:"
            f" `{arrow.tupleset}` is {kind}, and an arrow must start at a relation that stores"
            " relationships",
            construct="arrow over a permission",
            where=where,
            target=target,
        )
    if relation.rewrite is not None:
        raise SchemaConversionError(
            f"cannot write the arrow `{arrow.tupleset}->{arrow.target}` of `{where}` in {target}:"
            f" `{definition.name}#{arrow.tupleset}` has a rewrite, and an arrow must start at a"
            " relation defined by its stored relationships alone",
            construct="arrow over a rewritten relation",
            where=where,
            target=target,
        )
