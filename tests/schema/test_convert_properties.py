"""Properties of the printers and conversions over random schemas (hypothesis).

The random schemas are in the form every language can write: Zanzibar's untyped relations
(every relation allows every object and every userset of the schema), relation rewrites that
start with ``This`` (as the OpenFGA DSL wants), references only to members defined earlier
(SpiceDB forbids cycles without arrows), arrows over plain relations, and names without the
``_direct`` suffix that SpiceDB conversion derives.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from clove.errors import SchemaConversionError
from clove.schema.convert import (
    Renames,
    convert,
    convert_schema,
    lift_rewrites,
    lower_rewrites,
    plain_tuplesets,
    print_openfga_dsl,
    print_openfga_json,
    print_spicedb,
    restore_names,
    spell_names,
)
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
    This,
    Union,
)
from clove.schema.openfga import parse_openfga_dsl, parse_openfga_json
from clove.schema.spicedb import parse_schema
from clove.schema.zanzibar import parse_zanzibar, print_zanzibar, zanzibar_allowed

TYPES = ("user", "doc", "folder", "team")
MEMBERS = ("owner", "editor", "viewer", "parent", "banned", "reader", "member", "can_view")


def _expression(
    draw: st.DrawFn, refs: list[str], tuplesets: list[str], targets: list[str], depth: int
) -> Expression:
    leaves: list[str] = []
    if refs:
        leaves.append("ref")
    if tuplesets and targets:
        leaves.append("arrow")
    kinds = [*leaves, *(["union", "intersection", "exclusion"] if depth > 0 else [])]
    kind = draw(st.sampled_from(kinds))
    if kind == "ref":
        return RelationRef(name=draw(st.sampled_from(refs)))
    if kind == "arrow":
        return Arrow(
            tupleset=draw(st.sampled_from(tuplesets)), target=draw(st.sampled_from(targets))
        )
    children = [
        _expression(draw, refs, tuplesets, targets, depth - 1)
        for _ in range(2 if kind == "exclusion" else draw(st.integers(2, 3)))
    ]
    if kind != "exclusion":  # OpenFGA refuses an operand written twice
        children = list(dict.fromkeys(children))
        if len(children) == 1:
            return children[0]
    if kind == "exclusion":
        return Exclusion(base=children[0], subtracted=children[1])
    if kind == "union":
        return Union(children=tuple(children))
    return Intersection(children=tuple(children))


@st.composite
def zanzibar_schemas(draw: st.DrawFn) -> Schema:
    """Schemas every language here can write, with Zanzibar's untyped relations."""
    types = draw(st.lists(st.sampled_from(TYPES), min_size=1, max_size=3, unique=True))
    names = {
        name: draw(st.lists(st.sampled_from(MEMBERS), max_size=5, unique=True)) for name in types
    }
    targets = sorted({member for members in names.values() for member in members})
    shapes: list[tuple[str, list[tuple[str, str, Expression | None]]]] = []
    for type_name in types:
        members: list[tuple[str, str, Expression | None]] = []
        defined: list[str] = []
        plain: list[str] = []
        for member in names[type_name]:
            kind = draw(st.sampled_from(["plain", "plain", "rewritten", "permission"]))
            if kind != "plain" and not defined:
                kind = "plain"
            expression: Expression | None = None
            if kind != "plain":
                expression = _expression(draw, defined, plain, targets, depth=2)
            if kind == "rewritten":
                assert expression is not None
                operator = draw(st.sampled_from(["union", "intersection", "exclusion"]))
                if operator == "exclusion":
                    expression = Exclusion(base=This(), subtracted=expression)
                elif operator == "union":
                    expression = Union(children=(This(), expression))
                else:
                    expression = Intersection(children=(This(), expression))
            members.append((member, kind, expression))
            defined.append(member)
            if kind == "plain":
                plain.append(member)
        shapes.append((type_name, members))

    def build(allowed: tuple) -> tuple[Definition, ...]:  # type: ignore[type-arg]
        definitions = []
        for type_name, members in shapes:
            relations = tuple(
                Relation(name=name, allowed=allowed, rewrite=expression)
                for name, kind, expression in members
                if kind != "permission"
            )
            permissions = tuple(
                Permission(name=name, expression=expression)
                for name, kind, expression in members
                if kind == "permission" and expression is not None
            )
            definitions.append(
                Definition(name=type_name, relations=relations, permissions=permissions)
            )
        return tuple(definitions)

    return Schema(definitions=build(zanzibar_allowed(build(()))))


def flattened(schema: Schema) -> Schema:
    """``schema`` with unions in unions (and intersections in intersections) merged.

    SpiceDB's parser reads ``a + (b + c)`` as one union of three, so SpiceDB text keeps
    the meaning of a nested union but not its shape.
    """

    def flat(expression: Expression | None) -> Expression | None:
        match expression:
            case Union(children=children) | Intersection(children=children):
                kind = type(expression)
                merged: list[Expression] = []
                for child in children:
                    new = flat(child)
                    assert new is not None
                    merged.extend(new.children if isinstance(new, kind) else (new,))
                return kind(children=tuple(merged))
            case Exclusion(base=base, subtracted=subtracted):
                new_base, new_subtracted = flat(base), flat(subtracted)
                assert new_base is not None and new_subtracted is not None
                return Exclusion(base=new_base, subtracted=new_subtracted)
            case _:
                return expression

    definitions = []
    for definition in schema.definitions:
        relations = tuple(
            Relation(name=r.name, allowed=r.allowed, rewrite=flat(r.rewrite))
            for r in definition.relations
        )
        permissions = []
        for permission in definition.permissions:
            expression = flat(permission.expression)
            assert expression is not None
            permissions.append(Permission(name=permission.name, expression=expression))
        definitions.append(
            Definition(name=definition.name, relations=relations, permissions=tuple(permissions))
        )
    return Schema(definitions=tuple(definitions))


@settings(max_examples=150, deadline=None)
@given(zanzibar_schemas())
def test_zanzibar_parse_of_print_is_identity(schema: Schema) -> None:
    assert parse_zanzibar(print_zanzibar(schema)) == schema


@settings(max_examples=150, deadline=None)
@given(zanzibar_schemas())
def test_spicedb_spelling_of_rewrites_comes_back_exactly(schema: Schema) -> None:
    lowered, renames = lower_rewrites(schema)
    assert all(
        relation.rewrite is None
        for definition in lowered.definitions
        for relation in definition.relations
    )
    parsed = parse_schema(print_spicedb(schema))
    assert parsed == flattened(lowered)
    lifted, back = lift_rewrites(parsed)
    assert lifted == flattened(schema)
    assert back == {(type_name, stored): name for (type_name, name), stored in renames.items()}


@settings(max_examples=100, deadline=None)
@given(zanzibar_schemas())
def test_converting_through_every_language_and_back_keeps_the_schema(schema: Schema) -> None:
    zanzibar = print_zanzibar(schema)
    spicedb = convert(zanzibar, to="spicedb")
    assert lift_rewrites(parse_schema(spicedb))[0] == flattened(schema)
    assert parse_zanzibar(convert(spicedb, to="zanzibar")) == flattened(schema)
    # A SpiceDB source converted to SpiceDB keeps its meaning and its relation names.
    again = convert_schema(spicedb, to="spicedb")
    assert (parse_schema(again.text), again.renames) == (parse_schema(spicedb), Renames())


# Names other languages allow and SpiceDB does not, with the spellings they would collide with.
AWKWARD_TYPES = ("scopeA", "scope_a", "permission", "permission_type", "ab", "Doc", "my-doc", "1st")
AWKWARD_MEMBERS = (
    "a1",
    "A1",
    "a1_rel",
    "nil",
    "relation",
    "with",
    "x",
    "canView",
    "can_view",
    "r" * 70,
    "r" * 64,
    "2nd",
    "é",
    "viewer",
)


@st.composite
def awkwardly_named_schemas(draw: st.DrawFn) -> Schema:
    """``zanzibar_schemas`` with types and members renamed to names SpiceDB cannot spell."""
    schema = draw(zanzibar_schemas())
    types = [definition.name for definition in schema.definitions]
    members = sorted({m.name for d in schema.definitions for m in (*d.relations, *d.permissions)})
    new_types = draw(st.permutations(AWKWARD_TYPES))[: len(types)]
    new_members = draw(st.permutations(AWKWARD_MEMBERS))[: len(members)]
    return _renamed(
        schema,
        dict(zip(types, new_types, strict=True)),
        dict(zip(members, new_members, strict=True)),
    )


def _renamed(schema: Schema, types: dict[str, str], members: dict[str, str]) -> Schema:
    def expression(node: Expression) -> Expression:
        match node:
            case Union(children=children) | Intersection(children=children):
                return replace(node, children=tuple(map(expression, children)))
            case Exclusion(base=base, subtracted=subtracted):
                return replace(node, base=expression(base), subtracted=expression(subtracted))
            case RelationRef(name=name):
                return replace(node, name=members[name])
            case Arrow(tupleset=tupleset, target=target):
                return replace(node, tupleset=members[tupleset], target=members[target])
            case _:
                return node

    def subject(allowed: AllowedSubject) -> AllowedSubject:
        relation = members.get(allowed.relation, allowed.relation)
        return replace(allowed, type=types[allowed.type], relation=relation)

    return replace(
        schema,
        definitions=tuple(
            replace(
                d,
                name=types[d.name],
                relations=tuple(
                    replace(
                        r,
                        name=members[r.name],
                        allowed=tuple(map(subject, r.allowed)),
                        rewrite=None if r.rewrite is None else expression(r.rewrite),
                    )
                    for r in d.relations
                ),
                permissions=tuple(
                    replace(p, name=members[p.name], expression=expression(p.expression))
                    for p in d.permissions
                ),
            )
            for d in schema.definitions
        ),
    )


@settings(max_examples=150, deadline=None)
@given(awkwardly_named_schemas())
def test_names_spicedb_cannot_spell_come_back_exactly(schema: Schema) -> None:
    text = print_spicedb(schema)  # respelled, and checked by SpiceDB's rules
    parsed = parse_schema(text)
    assert lift_rewrites(restore_names(parsed)[0])[0] == flattened(schema)
    # The names SpiceDB sees are its own, and not one is used for two different names.
    spelled, changes = spell_names(lower_rewrites(schema)[0])
    assert parsed == flattened(spelled)
    for namespace in (changes.types, changes.members):
        assert len(set(namespace.values())) == len(namespace)


def _openfga_text(schema: Schema, printer: Callable[[Schema], str]) -> str:
    """The printed model, or the example is discarded when it breaks one of OpenFGA's model
    rules that the generator does not model (an arrow target on none of the tupleset's
    types, a relation no tuple can reach)."""
    try:
        return printer(schema)
    except SchemaConversionError as error:
        assume(error.construct != "OpenFGA model rule")
        raise


@settings(max_examples=150, deadline=None)
@given(zanzibar_schemas())
def test_openfga_dsl_parse_of_print_is_identity(schema: Schema) -> None:
    schema = plain_tuplesets(schema)
    assert parse_openfga_dsl(_openfga_text(schema, print_openfga_dsl)) == schema


@settings(max_examples=150, deadline=None)
@given(zanzibar_schemas())
def test_openfga_json_parse_of_print_is_identity(schema: Schema) -> None:
    schema = plain_tuplesets(schema)
    assert parse_openfga_json(_openfga_text(schema, print_openfga_json)) == schema


@settings(max_examples=100, deadline=None)
@given(zanzibar_schemas())
def test_openfga_through_spicedb_and_back_keeps_the_schema(schema: Schema) -> None:
    schema = plain_tuplesets(schema)
    dsl = _openfga_text(schema, print_openfga_dsl)
    # SpiceDB flattens nested unions, which may repeat an operand: OpenFGA refuses that.
    _openfga_text(flattened(schema), print_openfga_dsl)
    spicedb = convert(dsl, to="spicedb")
    assert parse_openfga_dsl(convert(spicedb, to="openfga")) == flattened(schema)
    assert parse_openfga_json(convert(spicedb, to="openfga-json")) == flattened(schema)
