"""Relation rewrites spelled the SpiceDB way, and recognised again on the way back.

SpiceDB relations hold stored relationships only; a rewrite lives in a permission. So a
relation with a rewrite (OpenFGA ``define viewer: [user] or editor``) is written as a stored
relation under a derived name plus a permission with the original name::

    relation viewer_direct: user
    permission viewer = viewer_direct + editor

The derived name is the first of ``viewer_direct``, ``viewer_direct_2``, ``viewer_direct_3``
... that the definition does not use. ``lift_rewrites`` recognises the pattern: a permission
``P`` and, among ``P_direct``, ``P_direct_2`` ..., the first plain relation that only ``P``
refers to (not another permission, not an arrow, not a ``type#relation`` subject type
anywhere). ``lift_rewrites(lower_rewrites(s)) == s`` whenever ``s`` does not already contain
that pattern; a source that does is folded into a relation with a rewrite, which means the
same. Both directions report which stored relations were renamed, so data can follow.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from clove.errors import CloveInternalError
from clove.schema._expressible import member_expressions, subexpressions
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

DERIVED_SUFFIX = "_direct"

# (definition, stored relation name in the source) -> stored relation name in the result.
RelationRenames = dict[tuple[str, str], str]
_LeafChange = Callable[[Expression], Expression]


def derived_names(name: str) -> Iterator[str]:
    """``name_direct``, ``name_direct_2``, ``name_direct_3`` ...: candidates, in order."""
    yield f"{name}{DERIVED_SUFFIX}"
    number = 2
    while True:
        yield f"{name}{DERIVED_SUFFIX}_{number}"
        number += 1


def lower_rewrites(schema: Schema) -> tuple[Schema, RelationRenames]:
    """The schema without relation rewrites, and the stored relations that were renamed."""
    renames: RelationRenames = {}
    definitions = tuple(_lower_definition(d, renames) for d in schema.definitions)
    return Schema(
        definitions=definitions, caveats=schema.caveats, use_expiration=schema.use_expiration
    ), renames


def _lower_definition(definition: Definition, renames: RelationRenames) -> Definition:
    if all(relation.rewrite is None for relation in definition.relations):
        return definition
    used = {relation.name for relation in definition.relations}
    used |= {permission.name for permission in definition.permissions}
    relations: list[Relation] = []
    permissions: list[Permission] = []
    for relation in definition.relations:
        if relation.rewrite is None:
            relations.append(relation)
            continue
        stored = next(name for name in derived_names(relation.name) if name not in used)
        used.add(stored)
        renames[(definition.name, relation.name)] = stored
        relations.append(Relation(name=stored, allowed=relation.allowed, span=relation.span))
        permissions.append(
            Permission(
                name=relation.name,
                expression=_replace_this(relation.rewrite, stored),
                doc=relation.doc,
                span=relation.span,
            )
        )
    return Definition(
        name=definition.name,
        relations=tuple(relations),
        permissions=(*permissions, *definition.permissions),
        doc=definition.doc,
        span=definition.span,
    )


def lift_rewrites(schema: Schema) -> tuple[Schema, RelationRenames]:
    """The schema with ``relation P_direct`` + ``permission P = ...`` folded into relation
    ``P`` with a rewrite, and the stored relations that were renamed."""
    subject_relations = {
        (subject.type, subject.relation)
        for definition in schema.definitions
        for relation in definition.relations
        for subject in relation.allowed
    }
    arrow_targets = {
        node.target
        for definition in schema.definitions
        for _, expression in member_expressions(definition)
        for node in subexpressions(expression)
        if isinstance(node, Arrow)
    }
    renames: RelationRenames = {}
    definitions = tuple(
        _lift_definition(definition, subject_relations, arrow_targets, renames)
        for definition in schema.definitions
    )
    return Schema(
        definitions=definitions, caveats=schema.caveats, use_expiration=schema.use_expiration
    ), renames


def _lift_definition(
    definition: Definition,
    subject_relations: set[tuple[str, str]],
    arrow_targets: set[str],
    renames: RelationRenames,
) -> Definition:
    members = {relation.name for relation in definition.relations}
    members |= {permission.name for permission in definition.permissions}
    users: dict[str, set[str]] = {}  # relation -> members whose expressions mention it
    tuplesets: set[str] = set()
    for name, expression in member_expressions(definition):
        for node in subexpressions(expression):
            if isinstance(node, RelationRef):
                users.setdefault(node.name, set()).add(name)
            elif isinstance(node, Arrow):
                tuplesets.add(node.tupleset)

    def only_used_by(stored: str, permission: str) -> bool:
        relation = definition.relation(stored)
        return (
            relation is not None
            and relation.rewrite is None
            and users.get(stored) == {permission}
            and stored not in tuplesets
            and stored not in arrow_targets
            and (definition.name, stored) not in subject_relations
        )

    folded: dict[str, Permission] = {}  # stored relation -> the permission it folds into
    for permission in definition.permissions:
        for candidate in derived_names(permission.name):
            if candidate not in members:
                break
            if candidate not in folded and only_used_by(candidate, permission.name):
                folded[candidate] = permission
                break
    if not folded:
        return definition
    relations: list[Relation] = []
    for relation in definition.relations:
        owner = folded.get(relation.name)
        if owner is None:
            relations.append(relation)
            continue
        renames[(definition.name, relation.name)] = owner.name
        relations.append(
            Relation(
                name=owner.name,
                allowed=relation.allowed,
                rewrite=_replace_reference(owner.expression, relation.name),
                doc=owner.doc,
                span=relation.span,
            )
        )
    lifted = {permission.name for permission in folded.values()}
    return Definition(
        name=definition.name,
        relations=tuple(relations),
        permissions=tuple(p for p in definition.permissions if p.name not in lifted),
        doc=definition.doc,
        span=definition.span,
    )


def _replace_this(expression: Expression, stored: str) -> Expression:
    return map_leaves(
        expression,
        lambda leaf: RelationRef(name=stored, span=leaf.span) if isinstance(leaf, This) else leaf,
    )


def _replace_reference(expression: Expression, stored: str) -> Expression:
    return map_leaves(
        expression,
        lambda leaf: (
            This(span=leaf.span) if isinstance(leaf, RelationRef) and leaf.name == stored else leaf
        ),
    )


def map_leaves(expression: Expression, change: _LeafChange) -> Expression:
    """``expression`` with each leaf (reference, arrow, nil, this) replaced by ``change``."""
    match expression:
        case Union(children=children):
            return Union(
                children=tuple(map_leaves(c, change) for c in children), span=expression.span
            )
        case Intersection(children=children):
            return Intersection(
                children=tuple(map_leaves(c, change) for c in children), span=expression.span
            )
        case Exclusion(base=base, subtracted=subtracted):
            return Exclusion(
                base=map_leaves(base, change),
                subtracted=map_leaves(subtracted, change),
                span=expression.span,
            )
        case RelationRef() | Arrow() | Nil() | This():
            return change(expression)
        case _:
            raise CloveInternalError(f"unknown expression node {expression!r}")
