"""Property: printing any valid schema IR and parsing the text gives back the same IR."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from clove.schema.ir import Schema
from clove.schema.spicedb import check_schema, parse_schema, print_schema
from fuzz.strategies import schemas

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


def all_docs(schema: Schema) -> list[str | None]:
    found: list[str | None] = [caveat.doc for caveat in schema.caveats]
    for definition in schema.definitions:
        found.append(definition.doc)
        found.extend(relation.doc for relation in definition.relations)
        found.extend(permission.doc for permission in definition.permissions)
    return found


@settings(max_examples=200, deadline=None)
@given(schemas(caveat_bodies=cel_expressions()))
def test_print_then_parse_is_identity(schema: Schema) -> None:
    check_schema(schema)
    printed = print_schema(schema)
    reparsed = parse_schema(printed)
    assert reparsed == schema
    assert all_docs(reparsed) == all_docs(schema)
    assert print_schema(reparsed) == printed


@settings(max_examples=100, deadline=None)
@given(schemas(caveat_bodies=cel_expressions()))
def test_folding_the_text_onto_one_line_changes_nothing(schema: Schema) -> None:
    # Caveat bodies keep their line breaks (a CEL comment ends at one); the rest is folded.
    blocks = print_schema(schema).split("\n\n")
    folded = " ".join(
        block if "caveat " in block.split("{")[0] else block.replace("\n", " ") for block in blocks
    )
    assert parse_schema(folded) == schema
