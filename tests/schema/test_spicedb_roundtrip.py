"""Property: printing any valid schema IR and parsing the text gives back the same IR."""

from __future__ import annotations

import functools

from hypothesis import given, settings
from hypothesis import strategies as st

from clove.schema.ir import (
    ELLIPSIS,
    AllowedSubject,
    Arrow,
    Caveat,
    CaveatParameter,
    CaveatType,
    Definition,
    Exclusion,
    Expression,
    Intersection,
    Nil,
    Permission,
    Relation,
    RelationRef,
    Schema,
    Union,
)
from clove.schema.spicedb import check_schema, parse_schema, print_schema

# Never used as names: the keywords, including those of `use expiration`.
RESERVED = {"definition", "caveat", "relation", "permission", "nil", "with", "and", "expiration"}

LOWER = "abcdefghijklmnopqrstuvwxyz"
DIGITS = "0123456789"


def words(
    first: str, rest: str, min_rest: int, max_rest: int, last: str = ""
) -> st.SearchStrategy[str]:
    parts = [st.sampled_from(first), st.text(alphabet=rest, min_size=min_rest, max_size=max_rest)]
    if last:
        parts.append(st.sampled_from(last))
    return st.tuples(*parts).map("".join).filter(lambda name: name not in RESERVED)


member_names = words(LOWER, LOWER + DIGITS + "_", 1, 6, LOWER + DIGITS)
definition_names = st.lists(member_names, min_size=1, max_size=3).map("/".join)
caveat_names = st.lists(
    words(LOWER + LOWER.upper() + "_", LOWER + DIGITS + "_", 0, 6), min_size=1, max_size=2
).map("/".join)
parameter_names = words(LOWER + "_", LOWER + DIGITS + "_", 0, 6)
# Docs as the parser normalises them: trimmed lines, no leading `*` gutter, no `*/`.
docs = st.none() | st.lists(
    words(LOWER, LOWER + " */", 0, 8).map(str.strip).filter(lambda line: "*/" not in line),
    min_size=1,
    max_size=3,
).map("\n".join)

scalar_types = st.sampled_from(
    [
        "any",
        "bool",
        "bytes",
        "double",
        "duration",
        "int",
        "ipaddress",
        "string",
        "timestamp",
        "uint",
    ]
).map(lambda name: CaveatType(name=name))
caveat_types = st.recursive(
    scalar_types,
    lambda inner: st.builds(
        lambda name, arg: CaveatType(name=name, args=(arg,)),
        st.sampled_from(["list", "map"]),
        inner,
    ),
    max_leaves=3,
)

# CEL fragments whose braces and quotes must not confuse the body scanner.
cel_terms = st.sampled_from(
    [
        "flag",
        "count > 1",
        '"}{" == name',
        "{'a': {'b': 1}} == m",
        r"'it\'s' != name",
        r'r"\d}" != name',
        '"""multi\n}line""" != name',
        "[1, 2].exists(x, x > 0)",
    ]
)
cel_separators = st.sampled_from([" && ", " ||\n\t  ", " && // a } comment\n  "])


@st.composite
def cel_expressions(draw: st.DrawFn) -> str:
    terms = draw(st.lists(cel_terms, min_size=1, max_size=3))
    text = terms[0]
    for term in terms[1:]:
        text += draw(cel_separators) + term
    return text


@st.composite
def caveats(draw: st.DrawFn, name: str) -> Caveat:
    names = draw(st.lists(parameter_names, min_size=1, max_size=4, unique=True))
    parameters = tuple(
        CaveatParameter(name=parameter, type=draw(caveat_types)) for parameter in names
    )
    return Caveat(
        name=name, parameters=parameters, expression=draw(cel_expressions()), doc=draw(docs)
    )


def union_of(children: list[Expression]) -> Expression:
    flat: list[Expression] = []
    for child in children:
        flat.extend(child.children if isinstance(child, Union) else [child])
    return Union(children=tuple(flat))


def intersection_of(children: list[Expression]) -> Expression:
    flat: list[Expression] = []
    for child in children:
        flat.extend(child.children if isinstance(child, Intersection) else [child])
    return Intersection(children=tuple(flat))


@functools.cache
def expressions(
    references: tuple[str, ...], tuplesets: tuple[str, ...]
) -> st.SearchStrategy[Expression]:
    """Canonical expressions (as the parser builds them) over the given names."""
    leaves: st.SearchStrategy[Expression] = st.just(Nil())
    if references:
        leaves = leaves | st.sampled_from(references).map(lambda name: RelationRef(name=name))
    if tuplesets:
        leaves = leaves | st.builds(
            lambda tupleset, target, function: Arrow(
                tupleset=tupleset, target=target, function=function
            ),
            st.sampled_from(tuplesets),
            member_names,
            st.sampled_from(["any", "all"]),
        )
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.lists(inner, min_size=2, max_size=3).map(union_of),
            st.lists(inner, min_size=2, max_size=3).map(intersection_of),
            st.builds(lambda base, sub: Exclusion(base=base, subtracted=sub), inner, inner),
        ),
        max_leaves=6,
    )


@st.composite
def schemas(draw: st.DrawFn) -> Schema:
    """Valid schemas by construction.

    Relations named ``pub...`` are the only ones that may allow wildcards; ``type#rel`` subjects
    and arrows only use the others, so no wildcard is ever reached transitively. Permission ``i``
    only refers to relations and to permissions before it, so there are no cycles.
    """
    use_expiration = draw(st.booleans())
    names = draw(st.lists(definition_names, min_size=1, max_size=4, unique=True))
    caveat_list = [
        draw(caveats(name))
        for name in draw(
            st.lists(caveat_names.filter(lambda n: n not in names), max_size=2, unique=True)
        )
    ]
    members: dict[str, tuple[list[str], list[str]]] = {}
    for name in names:
        member_list = draw(st.lists(member_names, max_size=6, unique=True))
        split = draw(st.integers(min_value=0, max_value=len(member_list)))
        members[name] = (member_list[:split], member_list[split:])

    definitions = []
    for name in names:
        relation_names, permission_names = members[name]
        relations = tuple(
            Relation(
                name=relation,
                allowed=draw(allowed_subjects(members, caveat_list, use_expiration, relation)),
                doc=draw(docs),
            )
            for relation in relation_names
        )
        tuplesets = tuple(name for name in relation_names if not name.startswith("pub"))
        permissions = tuple(
            Permission(
                name=permission,
                expression=draw(
                    expressions(tuple(relation_names + permission_names[:index]), tuplesets)
                ),
                doc=draw(docs),
            )
            for index, permission in enumerate(permission_names)
        )
        definitions.append(
            Definition(name=name, relations=relations, permissions=permissions, doc=draw(docs))
        )
    return Schema(
        definitions=tuple(definitions), caveats=tuple(caveat_list), use_expiration=use_expiration
    )


@st.composite
def allowed_subjects(
    draw: st.DrawFn,
    members: dict[str, tuple[list[str], list[str]]],
    caveat_list: list[Caveat],
    use_expiration: bool,
    relation: str,
) -> tuple[AllowedSubject, ...]:
    subjects: dict[tuple[str, str, bool, str | None, bool], AllowedSubject] = {}
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        target = draw(st.sampled_from(sorted(members)))
        target_relations, target_permissions = members[target]
        safe = [name for name in target_relations if not name.startswith("pub")]
        kinds = ["plain"]
        if relation.startswith("pub"):
            kinds.append("wildcard")
        if safe or target_permissions:
            kinds.append("subject relation")
        kind = draw(st.sampled_from(kinds))
        subject_relation = ELLIPSIS
        if kind == "subject relation":
            subject_relation = draw(st.sampled_from(safe + target_permissions))
        caveat: str | None = None
        if caveat_list:
            caveat = draw(st.none() | st.sampled_from([c.name for c in caveat_list]))
        expiration = draw(st.booleans()) if use_expiration else False
        subject = AllowedSubject(
            type=target,
            relation=subject_relation,
            wildcard=kind == "wildcard",
            caveat=caveat,
            expiration=expiration,
        )
        key = (target, subject_relation, subject.wildcard, caveat, expiration)
        subjects.setdefault(key, subject)
    return tuple(subjects.values())


def all_docs(schema: Schema) -> list[str | None]:
    found: list[str | None] = [caveat.doc for caveat in schema.caveats]
    for definition in schema.definitions:
        found.append(definition.doc)
        found.extend(relation.doc for relation in definition.relations)
        found.extend(permission.doc for permission in definition.permissions)
    return found


@settings(max_examples=200, deadline=None)
@given(schemas())
def test_print_then_parse_is_identity(schema: Schema) -> None:
    check_schema(schema)
    printed = print_schema(schema)
    reparsed = parse_schema(printed)
    assert reparsed == schema
    assert all_docs(reparsed) == all_docs(schema)
    assert print_schema(reparsed) == printed


@settings(max_examples=100, deadline=None)
@given(schemas())
def test_folding_the_text_onto_one_line_changes_nothing(schema: Schema) -> None:
    # Caveat bodies keep their line breaks (a CEL comment ends at one); the rest is folded.
    blocks = print_schema(schema).split("\n\n")
    folded = " ".join(
        block if "caveat " in block.split("{")[0] else block.replace("\n", " ") for block in blocks
    )
    assert parse_schema(folded) == schema
