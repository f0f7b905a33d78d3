"""Subject sets that reach a wildcard, written the way SpiceDB allows and read back.

OpenFGA lets ``define viewer: [group#member]`` name a relation that holds ``user:*``;
SpiceDB's type checker refuses a wildcard reached through a subject set. The same meaning
is an arrow: ``folder:1#viewer@group:fga#member`` grants what ``group:fga``'s ``member``
grants, which is what ``viewer_via_group_member->member`` over a stored relation to plain
``group`` objects computes. ``arrow_subject_sets`` writes each such subject set that way (the
relation ``viewer`` then unites its stored subjects with the arrow) and annotates the new
relation with where the subject set was, a JSON object after ``clove:subject-set``::

    /** clove:subject-set {"of": "viewer", "at": 0, "slot": 0} */
    relation viewer_via_group_member: group

``of`` is the relation, ``at`` the subject set's place among its subject types and ``slot``
the relation's place among its definition's relations. ``subject_sets_from_arrows`` puts
the subject sets back. Stored relationships move between ``viewer`` with subject
``group:fga#member`` and the new relation with subject ``group:fga``: ``SubjectSetMoves``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace

from clove.errors import SchemaError
from clove.schema._expressible import subexpressions
from clove.schema.convert._rewrites import map_leaves
from clove.schema.ir import (
    ELLIPSIS,
    AllowedSubject,
    Arrow,
    Definition,
    Exclusion,
    Expression,
    Intersection,
    Permission,
    Relation,
    Schema,
    This,
    Union,
)

ANNOTATION = "clove:subject-set"

# (type, relation, subject type, subject relation) -> (relation, subject relation).
SubjectSetMoves = dict[tuple[str, str, str, str], tuple[str, str]]


def arrow_subject_sets(schema: Schema) -> tuple[Schema, SubjectSetMoves]:
    """``schema`` with every subject set that reaches a wildcard written as an arrow."""
    offending = {
        (definition.name, relation.name, index)
        for definition in schema.definitions
        for relation in definition.relations
        for index, subject in enumerate(relation.allowed)
        if subject.relation != ELLIPSIS
        and not subject.wildcard
        and subject.type != definition.name
        and _reaches_wildcard(schema, subject.type, subject.relation)
    }
    if not offending:
        return schema, {}
    moves: SubjectSetMoves = {}
    definitions = tuple(
        _encode_definition(definition, offending, moves) for definition in schema.definitions
    )
    return replace(schema, definitions=definitions), moves


def _reaches_wildcard(schema: Schema, type_name: str, relation_name: str) -> bool:
    """Whether the stored relation ``type_name#relation_name`` holds a wildcard, directly or
    through subject sets (SpiceDB's rule, on relations that stay relations there)."""
    seen = {(type_name, relation_name)}
    pending = [(type_name, relation_name)]
    while pending:
        definition = schema.definition(pending[-1][0])
        relation = None if definition is None else definition.relation(pending.pop()[1])
        if relation is None or relation.rewrite is not None:
            continue
        for subject in relation.allowed:
            if subject.wildcard:
                return True
            key = (subject.type, subject.relation)
            if subject.relation != ELLIPSIS and key not in seen:
                seen.add(key)
                pending.append(key)
    return False


def _encode_definition(
    definition: Definition, offending: set[tuple[str, str, int]], moves: SubjectSetMoves
) -> Definition:
    used = {r.name for r in definition.relations} | {p.name for p in definition.permissions}
    relations: list[Relation] = []
    added: list[Relation] = []
    permissions: list[Permission] = []
    for slot, relation in enumerate(definition.relations):
        kept: list[AllowedSubject] = []
        arrows: list[Expression] = []
        for index, subject in enumerate(relation.allowed):
            if (definition.name, relation.name, index) not in offending:
                kept.append(subject)
                continue
            stored = _free_name(f"{relation.name}_via_{subject.type}_{subject.relation}", used)
            note = {"of": relation.name, "at": index, "slot": slot}
            added.append(
                Relation(
                    name=stored,
                    allowed=(replace(subject, relation=ELLIPSIS),),
                    doc=f"{ANNOTATION} {json.dumps(note)}",
                    span=subject.span,
                )
            )
            arrows.append(Arrow(tupleset=stored, target=subject.relation, span=subject.span))
            moves[(definition.name, relation.name, subject.type, subject.relation)] = (
                stored,
                ELLIPSIS,
            )
        if not arrows:
            relations.append(relation)
            continue
        direct = Union(children=(This(), *arrows)) if kept else _union(arrows)
        rewrite = direct if relation.rewrite is None else _replace_this(relation.rewrite, direct)
        if kept:
            relations.append(replace(relation, allowed=tuple(kept), rewrite=rewrite))
        else:
            permissions.append(
                Permission(
                    name=relation.name, expression=rewrite, doc=relation.doc, span=relation.span
                )
            )
    return replace(
        definition,
        relations=(*relations, *added),
        permissions=(*permissions, *definition.permissions),
    )


def _free_name(base: str, used: set[str]) -> str:
    name = base
    number = 2
    while name in used:
        name = f"{base}_{number}"
        number += 1
    used.add(name)
    return name


def _union(children: list[Expression]) -> Expression:
    return children[0] if len(children) == 1 else Union(children=tuple(children))


def _replace_this(expression: Expression, direct: Expression) -> Expression:
    return map_leaves(expression, lambda leaf: direct if isinstance(leaf, This) else leaf)


# --- reading back ----------------------------------------------------------------------


def subject_sets_from_arrows(schema: Schema) -> tuple[Schema, SubjectSetMoves]:
    """``schema`` with each ``clove:subject-set`` relation folded back into its subject set."""
    moves: SubjectSetMoves = {}
    definitions = tuple(_decode_definition(d, moves) for d in schema.definitions)
    if not moves:
        return schema, moves
    return replace(schema, definitions=definitions), moves


def _decode_definition(definition: Definition, moves: SubjectSetMoves) -> Definition:
    notes = [(relation, _note(relation)) for relation in definition.relations]
    encoded = [(relation, note) for relation, note in notes if note is not None]
    if not encoded:
        return definition
    relations = [relation for relation, note in notes if note is None]
    permissions = list(definition.permissions)
    for owner_name in dict.fromkeys(note[0] for _, note in encoded):
        mine = sorted(
            ((r, n) for r, n in encoded if n[0] == owner_name), key=lambda item: item[1][1]
        )
        owner = _take(owner_name, relations, permissions, mine[0][0])
        allowed = list(owner.allowed) if isinstance(owner, Relation) else []
        expression = owner.rewrite if isinstance(owner, Relation) else owner.expression
        assert expression is not None  # _take checked that the arrows are there
        for stored, (_, at, _slot) in mine:
            (subject,) = stored.allowed
            arrow = _arrow_over(stored, owner_name, expression)
            allowed.insert(at, replace(subject, relation=arrow.target))
            expression = _without_arrow(expression, stored.name)
            moves[(definition.name, stored.name, subject.type, ELLIPSIS)] = (
                owner_name,
                arrow.target,
            )
        restored = Relation(
            name=owner_name,
            allowed=tuple(allowed),
            rewrite=None if isinstance(expression, This) else expression,
            doc=owner.doc,
            span=owner.span,
        )
        relations.insert(min(mine[0][1][2], len(relations)), restored)
    return replace(definition, relations=tuple(relations), permissions=tuple(permissions))


def _note(relation: Relation) -> tuple[str, int, int] | None:
    lines = [line for line in (relation.doc or "").splitlines() if line.startswith(ANNOTATION)]
    if not lines:
        return None
    text = lines[0][len(ANNOTATION) :].strip()
    try:
        note = json.loads(text)
        owner, at, slot = note["of"], note["at"], note["slot"]
    except (ValueError, TypeError, KeyError):
        owner = at = slot = None
    valid = (
        isinstance(owner, str)
        and isinstance(at, int)
        and isinstance(slot, int)
        and len(relation.allowed) == 1
    )
    if not valid or len(lines) > 1:
        raise SchemaError(
            f"`{ANNOTATION}` on `{relation.name}` must be one JSON object with `of`, `at` and"
            f" `slot`, on a relation to one type, not `{text}`",
            line=relation.span.line,
            column=relation.span.column,
        )
    assert isinstance(owner, str) and isinstance(at, int) and isinstance(slot, int)
    return owner, at, slot


def _take(
    name: str, relations: list[Relation], permissions: list[Permission], stored: Relation
) -> Relation | Permission:
    """Remove and return the member ``name``, whose expression must hold the arrow."""

    def holds_arrow(expression: Expression | None) -> bool:
        return expression is not None and any(
            arrow.tupleset == stored.name for arrow in _arrows(expression)
        )

    for index, relation in enumerate(relations):
        if relation.name == name and holds_arrow(relation.rewrite):
            return relations.pop(index)
    for index, permission in enumerate(permissions):
        if permission.name == name and holds_arrow(permission.expression):
            return permissions.pop(index)
    raise _no_arrow(stored, name)


def _arrow_over(stored: Relation, owner: str, expression: Expression) -> Arrow:
    for arrow in _arrows(expression):
        if arrow.tupleset == stored.name:
            return arrow
    raise _no_arrow(stored, owner)


def _no_arrow(stored: Relation, owner: str) -> SchemaError:
    return SchemaError(
        f"`{ANNOTATION}` on `{stored.name}` names `{owner}`, which has no arrow over it",
        line=stored.span.line,
        column=stored.span.column,
    )


def _arrows(expression: Expression) -> Iterator[Arrow]:
    return (node for node in subexpressions(expression) if isinstance(node, Arrow))


def _without_arrow(expression: Expression, tupleset: str) -> Expression:
    """``expression`` with the arrow over ``tupleset`` put back as ``This``, and a union of
    ``This`` with itself (what encoding made of it) collapsed."""

    def undo(node: Expression) -> Expression:
        if isinstance(node, Arrow) and node.tupleset == tupleset:
            return This(span=node.span)
        return node

    return _collapse(map_leaves(expression, undo))


def _collapse(expression: Expression) -> Expression:
    match expression:
        case Union(children=children):
            merged: list[Expression] = []
            for child in map(_collapse, children):
                if not (isinstance(child, This) and any(isinstance(m, This) for m in merged)):
                    merged.append(child)
            return merged[0] if len(merged) == 1 else replace(expression, children=tuple(merged))
        case Intersection(children=children):
            return replace(expression, children=tuple(map(_collapse, children)))
        case Exclusion(base=base, subtracted=subtracted):
            return replace(expression, base=_collapse(base), subtracted=_collapse(subtracted))
        case _:
            return expression
