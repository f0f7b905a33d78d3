"""Nothing a client sends crashes the OpenFGA front-ends: every failure is a ``SchemaError``."""

from __future__ import annotations

import contextlib
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from clove.errors import SchemaError
from clove.schema.openfga import parse_openfga_dsl, parse_openfga_json

MODEL = """model
  schema 1.1
type user
type group
  relations
    define member: [user, user:*, group#member with c] or owner
    define owner: [user]
type doc
  relations
    define parent: [group]
    define viewer: ([user] or member from parent) but not blocked
    define blocked: [user]
    define can_view: viewer and (owner from parent or blocked)
condition c(x: int, tags: map<string>) {
  x < 10 && tags["}"] == '{'
}
"""

_PIECES = [" ", "\n", "#", "[", "]", "(", ")", ",", ":", "*", "or", "and", "but not", "from"]
_PIECES += ["define", "type", "{", "}", "condition", "with", "<", ">", '"', "1.1", "\r", "\t"]


@st.composite
def _mutated_models(draw: st.DrawFn) -> str:
    text = MODEL
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        position = draw(st.integers(min_value=0, max_value=len(text)))
        if draw(st.booleans()):
            text = text[:position] + draw(st.sampled_from(_PIECES)) + text[position:]
        else:
            text = text[:position] + text[position + draw(st.integers(1, 6)) :]
    return text


@settings(max_examples=300, deadline=None)
@given(_mutated_models())
def test_mutated_dsl_parses_or_raises_schema_error(text: str) -> None:
    try:
        parse_openfga_dsl(text)
    except SchemaError as error:
        assert error.line >= 1
        assert error.column >= 1


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(["this", "union", "child", "type", "relation", "relations", "x"]),
            children,
            max_size=3,
        )
    ),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(types=st.lists(_JSON_VALUES, max_size=3), version=st.sampled_from(["1.1", "1.2", 1]))
def test_arbitrary_json_parses_or_raises_schema_error(types: list[object], version: object) -> None:
    model = {"schema_version": version, "type_definitions": types}
    for source in (model, json.dumps(model)):
        with contextlib.suppress(SchemaError):
            parse_openfga_json(source)


def test_a_long_chain_of_relations_is_validated_without_recursion() -> None:
    count = 3000
    lines = [f"    define r{i}: r{i + 1}" for i in range(count - 1)]
    head = "model\n  schema 1.1\ntype user\ntype doc\n  relations\n"
    schema = parse_openfga_dsl(head + "\n".join([*lines, f"    define r{count - 1}: [user]"]))
    assert len(schema.definitions[1].permissions) == count - 1
    looping = head + "\n".join([*lines, f"    define r{count - 1}: r0"])
    try:
        parse_openfga_dsl(looping)
    except SchemaError as error:
        assert (error.line, error.column) == (6, 12)
        assert "(potential loop)" in error.message
    else:
        raise AssertionError("a loop of 3000 relations must be rejected")


def test_deeply_nested_rewrites_are_an_error() -> None:
    rewrite: dict[str, object] = {"this": {}}
    for _ in range(150):
        rewrite = {"union": {"child": [rewrite]}}
    model = {
        "schema_version": "1.1",
        "type_definitions": [{"type": "a", "relations": {"r": rewrite}}],
    }
    try:
        parse_openfga_json(model)
    except SchemaError as error:
        assert error.message.endswith(": rewrites nest deeper than 100 levels")
    else:
        raise AssertionError("150 nested unions must be rejected")


def test_deeply_nested_json_text_is_an_error() -> None:
    too_deep = '{"a": ' * 5000 + "1" + "}" * 5000
    try:
        parse_openfga_json(too_deep)
    except SchemaError as error:
        assert error.message == "invalid JSON: nested too deeply"
    else:
        raise AssertionError("5000 nested objects must be rejected")
