"""Canonical printing of SpiceDB schemas.

Golden files: ``golden/<name>.zed`` is parsed and printed, and the result must equal
``golden/<name>.printed.zed``. Regenerate the expected files with ``CLOVE_UPDATE_GOLDEN=1``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from clove.schema.ir import (
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
    Span,
    Union,
)
from clove.schema.spicedb import parse_schema, print_schema

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("CLOVE_UPDATE_GOLDEN") == "1"
SOURCES = [path for path in sorted(GOLDEN.glob("*.zed")) if not path.name.endswith(".printed.zed")]


@pytest.mark.parametrize("source", SOURCES, ids=lambda path: path.stem)
def test_golden_schema_prints_canonically(source: Path) -> None:
    schema = parse_schema(source.read_text())
    printed = print_schema(schema)
    expected_path = source.with_suffix(".printed.zed")
    if UPDATE:
        expected_path.write_text(printed)
    assert printed == expected_path.read_text()
    assert parse_schema(printed) == schema


def ref(name: str) -> RelationRef:
    return RelationRef(name=name)


def printed_expression(expression: Expression) -> str:
    schema = Schema(
        definitions=(
            Definition(name="doc", permissions=(Permission(name="perm", expression=expression),)),
        )
    )
    line = print_schema(schema).splitlines()[1]
    return line.removeprefix("\tpermission perm = ")


@pytest.mark.parametrize(
    ("expression", "text"),
    [
        (
            Union(children=(ref("aaa"), Nil(), Arrow(tupleset="bbb", target="ccc"))),
            "aaa + nil + bbb->ccc",
        ),
        (
            Intersection(children=(Union(children=(ref("aaa"), ref("bbb"))), ref("ccc"))),
            "aaa + bbb & ccc",
        ),
        (
            Union(children=(Intersection(children=(ref("aaa"), ref("bbb"))), ref("ccc"))),
            "(aaa & bbb) + ccc",
        ),
        (
            Exclusion(
                base=Exclusion(base=ref("aaa"), subtracted=ref("bbb")), subtracted=ref("ccc")
            ),
            "aaa - bbb - ccc",
        ),
        (
            Exclusion(
                base=ref("aaa"), subtracted=Exclusion(base=ref("bbb"), subtracted=ref("ccc"))
            ),
            "aaa - (bbb - ccc)",
        ),
        (
            Exclusion(base=ref("aaa"), subtracted=Intersection(children=(ref("bbb"), ref("ccc")))),
            "aaa - bbb & ccc",
        ),
        (
            Intersection(children=(Exclusion(base=ref("aaa"), subtracted=ref("bbb")), ref("ccc"))),
            "(aaa - bbb) & ccc",
        ),
        (Arrow(tupleset="aaa", target="bbb", function="all"), "aaa.all(bbb)"),
        # Not what the parser builds, but printed faithfully: nested groups keep parentheses,
        # and a one-child group prints as its child.
        (
            Union(children=(ref("aaa"), Union(children=(ref("bbb"), ref("ccc"))))),
            "aaa + (bbb + ccc)",
        ),
        (
            Intersection(
                children=(
                    Union(children=(Intersection(children=(ref("aaa"), ref("bbb"))),)),
                    ref("ccc"),
                )
            ),
            "(aaa & bbb) & ccc",
        ),
    ],
)
def test_expressions_get_minimal_parentheses(expression: Expression, text: str) -> None:
    assert printed_expression(expression) == text


def test_empty_union_cannot_be_printed() -> None:
    with pytest.raises(ValueError, match="empty union"):
        printed_expression(Union(children=()))


def test_items_print_in_source_order_when_spans_are_known() -> None:
    caveat = Caveat(
        name="is_ok",
        parameters=(CaveatParameter(name="flag", type=CaveatType(name="bool")),),
        expression="flag",
        span=Span(line=2, column=8),
    )
    user = Definition(name="user", span=Span(line=1, column=12))
    with_spans = Schema(definitions=(user,), caveats=(caveat,))
    assert print_schema(with_spans).startswith("definition user {}\n\ncaveat is_ok(")
    without_spans = Schema(definitions=(Definition(name="user"),), caveats=(caveat,))
    assert print_schema(without_spans).startswith("caveat is_ok(flag bool) {\n\tflag\n}\n\n")


def test_docs_are_printed_as_doc_comments() -> None:
    schema = Schema(
        definitions=(
            Definition(
                name="user",
                doc="A person.\nOr a robot; never a */ terminator.",
                relations=(
                    Relation(name="friend", allowed=(AllowedSubject(type="user"),), doc="Friends."),
                ),
            ),
        )
    )
    printed = print_schema(schema)
    assert printed == (
        "/**\n * A person.\n * Or a robot; never a * / terminator.\n */\n"
        "definition user {\n\t/** Friends. */\n\trelation friend: user\n}\n"
    )
    reparsed = parse_schema(printed)
    assert reparsed == schema
    assert reparsed.definitions[0].doc == "A person.\nOr a robot; never a * / terminator."
    assert reparsed.definitions[0].relations[0].doc == "Friends."


def test_empty_schema_prints_as_empty_text() -> None:
    assert print_schema(Schema()) == ""
