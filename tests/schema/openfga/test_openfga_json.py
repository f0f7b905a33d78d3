"""The JSON form of OpenFGA models: golden IR, located errors, and equality with the DSL form."""

# The error table keeps each JSON document on one line, so that its columns are easy to read.
# ruff: noqa: E501

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from clove.errors import SchemaError
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
    Relation,
    RelationRef,
    Schema,
    This,
    Union,
)
from clove.schema.openfga import parse_openfga_dsl, parse_openfga_json
from conformance_data import CONFORMANCE

SUITE = CONFORMANCE / "openfga" / "consolidated_1_1_tests.yaml"

MODEL_JSON = """{
  "schema_version": "1.1",
  "type_definitions": [
    {"type": "user"},
    {
      "type": "doc",
      "relations": {
        "owner": {"this": {}},
        "parent": {"this": {}},
        "viewer": {
          "union": {"child": [
            {"this": {}},
            {"computedUserset": {"object": "", "relation": "owner"}},
            {"tupleToUserset": {"tupleset": {"relation": "parent"},
                                "computedUserset": {"relation": "viewer"}}}
          ]}
        },
        "can_view": {
          "difference": {
            "base": {"intersection": {"child": [{"computed_userset": {"relation": "viewer"}},
                                                {"computedUserset": {"relation": "owner"}}]}},
            "subtract": {"computedUserset": {"relation": "owner"}}
          }
        }
      },
      "metadata": {"relations": {
        "owner": {"directly_related_user_types": [{"type": "user", "condition": "c"}]},
        "parent": {"directly_related_user_types": [{"type": "doc"}]},
        "viewer": {"directly_related_user_types": [
          {"type": "user"}, {"type": "user", "wildcard": {}},
          {"type": "doc", "relation": "owner"}]},
        "can_view": {"directly_related_user_types": []}
      }}
    }
  ],
  "conditions": {
    "c": {"name": "c", "expression": " x < 10 ",
          "parameters": {"x": {"type_name": "TYPE_NAME_INT"},
                         "m": {"type_name": "TYPE_NAME_MAP",
                               "generic_types": [{"type_name": "TYPE_NAME_STRING"}]}}}
  }
}"""

MODEL_DSL = """model
  schema 1.1
type user
type doc
  relations
    define owner: [user with c]
    define parent: [doc]
    define viewer: [user, user:*, doc#owner] or owner or viewer from parent
    define can_view: (viewer and owner) but not owner
condition c(x: int, m: map<string>) {
  x < 10
}
"""


def test_golden_ir() -> None:
    schema = parse_openfga_json(MODEL_JSON)
    doc = schema.definitions[1]
    assert doc.relations == (
        Relation(name="owner", allowed=(AllowedSubject(type="user", caveat="c"),)),
        Relation(name="parent", allowed=(AllowedSubject(type="doc"),)),
        Relation(
            name="viewer",
            allowed=(
                AllowedSubject(type="user"),
                AllowedSubject(type="user", wildcard=True),
                AllowedSubject(type="doc", relation="owner"),
            ),
            rewrite=Union(
                children=(
                    This(),
                    RelationRef(name="owner"),
                    Arrow(tupleset="parent", target="viewer"),
                )
            ),
        ),
    )
    assert doc.permissions[0].expression == Exclusion(
        base=Intersection(children=(RelationRef(name="viewer"), RelationRef(name="owner"))),
        subtracted=RelationRef(name="owner"),
    )
    assert schema.caveats == (
        Caveat(
            name="c",
            parameters=(
                CaveatParameter(name="x", type=CaveatType(name="int")),
                CaveatParameter(
                    name="m", type=CaveatType(name="map", args=(CaveatType(name="string"),))
                ),
            ),
            expression="x < 10",
        ),
    )


def test_dsl_and_json_forms_are_equal() -> None:
    assert parse_openfga_json(MODEL_JSON) == parse_openfga_dsl(MODEL_DSL)


def test_decoded_objects_and_the_read_api_envelope_are_accepted() -> None:
    decoded = json.loads(MODEL_JSON)
    assert parse_openfga_json(decoded) == parse_openfga_dsl(MODEL_DSL)
    wrapped = json.dumps({"authorization_model": {"id": "01H", **decoded}})
    assert parse_openfga_json(wrapped) == parse_openfga_dsl(MODEL_DSL)


# (id, model JSON, line, column, message)
ERRORS = [
    ("not_json", '{"schema_version": ', 1, 20, "invalid JSON: Expecting value"),
    ("not_an_object", "[]", 0, 0, "expected an object, found an array"),
    (
        "duplicate_key",
        '{"schema_version": "1.1",\n "schema_version": "1.1"}',
        2,
        2,
        "duplicate key 'schema_version'",
    ),
    (
        "no_version",
        '{"type_definitions": []}',
        1,
        1,
        'schema version required (`schema_version`: "1.1")',
    ),
    (
        "version_1_0",
        '{"schema_version": "1.0", "type_definitions": []}',
        1,
        1,
        'schema_version: unsupported schema version `1.0`: expected "1.1" (or "1.2" for a modular model)',
    ),
    (
        "types_not_list",
        '{"schema_version": "1.1", "type_definitions": {}}',
        1,
        1,
        "type_definitions: expected an array, found an object",
    ),
    (
        "unknown_type_field",
        '{"schema_version": "1.1", "type_definitions": [{"type": "a", "rel": {}}]}',
        1,
        48,
        "type_definitions[0]: unknown field `rel` (expected `metadata`, `relations`, `type`)",
    ),
    (
        "two_rewrite_kinds",
        '{"schema_version": "1.1", "type_definitions": [{"type": "a", "relations": {"r": {"this": {}, "union": {}}}}]}',
        1,
        81,
        "type_definitions[0].relations.r: a rewrite needs exactly one of `this`, `computedUserset`, `tupleToUserset`, `union`, `intersection`, `difference`; found `this`, `union`",
    ),
    (
        "empty_union",
        '{"schema_version": "1.1", "type_definitions": [{"type": "a", "relations": {"r": {"union": {"child": []}}}}]}',
        1,
        91,
        "type_definitions[0].relations.r.union.child: `union` needs at least one child",
    ),
    (
        "types_without_this",
        '{"schema_version": "1.1", "type_definitions": [{"type": "a", "relations": {"r": {"this": {}}, "s": {"computedUserset": {"relation": "r"}}}, "metadata": {"relations": {"r": {"directly_related_user_types": [{"type": "a"}]}, "s": {"directly_related_user_types": [{"type": "a"}]}}}}]}',
        1,
        228,
        "type_definitions[0].metadata.relations.s.directly_related_user_types: relation `s` has directly related user types but its rewrite never uses `this`",
    ),
    (
        "this_without_types",
        '{"schema_version": "1.1", "type_definitions": [{"type": "a", "relations": {"r": {"this": {}}}}]}',
        1,
        81,
        "type_definitions[0].relations.r: the assignable relation `r` must have at least one type",
    ),
    (
        "metadata_for_missing_relation",
        '{"schema_version": "1.1", "type_definitions": [{"type": "a", "metadata": {"relations": {"x": {}}}}]}',
        1,
        88,
        "type_definitions[0].metadata.relations.x: metadata for relation `x`, which type `a` does not define",
    ),
    (
        "wildcard_and_relation",
        '{"schema_version": "1.1", "type_definitions": [{"type": "a", "relations": {"r": {"this": {}}}, "metadata": {"relations": {"r": {"directly_related_user_types": [{"type": "a", "relation": "r", "wildcard": {}}]}}}}]}',
        1,
        161,
        "type_definitions[0].metadata.relations.r.directly_related_user_types[0]: the type restriction `a:*#r` cannot be both a wildcard and a userset (in relation `r` of type `a`)",
    ),
    (
        "undefined_computed_relation",
        '{"schema_version": "1.1", "type_definitions": [{"type": "a", "relations": {"r": {"computedUserset": {"relation": "nope"}}}}]}',
        1,
        81,
        "type_definitions[0].relations.r: the relation `nope` does not exist on type `a`",
    ),
    (
        "undefined_tupleset",
        '{"schema_version": "1.1", "type_definitions": [{"type": "a", "relations": {"r": {"tupleToUserset": {"tupleset": {"relation": "p"}, "computedUserset": {"relation": "r"}}}}}]}',
        1,
        113,
        "type_definitions[0].relations.r.tupleToUserset.tupleset: the relation `p` does not exist on type `a`",
    ),
    (
        "unknown_parameter_type",
        '{"schema_version": "1.1", "type_definitions": [], "conditions": {"c": {"name": "c", "expression": "x", "parameters": {"x": {"type_name": "TYPE_NAME_FLOAT"}}}}}',
        1,
        124,
        "conditions.c.parameters.x: unknown type `TYPE_NAME_FLOAT` (expected one of TYPE_NAME_ANY, TYPE_NAME_BOOL, TYPE_NAME_DOUBLE, TYPE_NAME_DURATION, TYPE_NAME_INT, TYPE_NAME_IPADDRESS, TYPE_NAME_LIST, TYPE_NAME_MAP, TYPE_NAME_STRING, TYPE_NAME_TIMESTAMP, TYPE_NAME_UINT)",
    ),
    (
        "list_without_generic",
        '{"schema_version": "1.1", "type_definitions": [], "conditions": {"c": {"name": "c", "expression": "x", "parameters": {"x": {"type_name": "TYPE_NAME_LIST"}}}}}',
        1,
        124,
        "conditions.c.parameters.x: `TYPE_NAME_LIST` takes 1 generic type(s), found 0",
    ),
    (
        "nested_name_differs",
        '{"schema_version": "1.1", "type_definitions": [], "conditions": {"c": {"name": "d", "expression": "x"}}}',
        1,
        71,
        "conditions.c.name: condition key is `c` but its `name` is 'd'",
    ),
    (
        "unused_condition",
        '{"schema_version": "1.1", "type_definitions": [], "conditions": {"c": {"name": "c", "expression": "x"}}}',
        1,
        71,
        "conditions.c: the condition `c` is not used in the model",
    ),
]


@pytest.mark.parametrize(
    ("text", "line", "column", "message"),
    [pytest.param(*case[1:], id=case[0]) for case in ERRORS],
)
def test_error(text: str, line: int, column: int, message: str) -> None:
    with pytest.raises(SchemaError) as caught:
        parse_openfga_json(text)
    assert (caught.value.line, caught.value.column, caught.value.message) == (
        line,
        column,
        message,
    )


def test_errors_of_decoded_objects_name_the_path_only() -> None:
    model = json.loads(ERRORS[-6][1])  # undefined_computed_relation
    with pytest.raises(SchemaError) as caught:
        parse_openfga_json(model)
    assert str(caught.value) == (
        "type_definitions[0].relations.r: the relation `nope` does not exist on type `a`"
    )


# --- every suite model, DSL against its JSON form ------------------------------------------------


def _suite_models() -> list[pytest.ParameterSet]:
    if not SUITE.is_file():
        return [pytest.param("", marks=pytest.mark.skip(reason=f"no suite at {SUITE}"), id="none")]
    return [
        pytest.param(stage["model"], id=f"{test['name']}-{index}")
        for test in yaml.safe_load(SUITE.read_text())["tests"]
        for index, stage in enumerate(test["stages"])
    ]


def _json_rewrite(expression: Expression) -> dict[str, Any]:
    """OpenFGA's JSON for a rewrite, written here independently of the parser under test."""
    match expression:
        case This():
            return {"this": {}}
        case RelationRef(name=name):
            return {"computedUserset": {"object": "", "relation": name}}
        case Arrow(tupleset=tupleset, target=target):
            return {
                "tupleToUserset": {
                    "tupleset": {"object": "", "relation": tupleset},
                    "computedUserset": {"object": "", "relation": target},
                }
            }
        case Union(children=children):
            return {"union": {"child": [_json_rewrite(child) for child in children]}}
        case Intersection(children=children):
            return {"intersection": {"child": [_json_rewrite(child) for child in children]}}
        case Exclusion(base=base, subtracted=subtracted):
            return {
                "difference": {"base": _json_rewrite(base), "subtract": _json_rewrite(subtracted)}
            }
        case _:
            raise AssertionError(f"unexpected node {expression!r}")


def _json_subject(subject: AllowedSubject) -> dict[str, Any]:
    result: dict[str, Any] = {"type": subject.type}
    if subject.wildcard:
        result["wildcard"] = {}
    if subject.relation != ELLIPSIS:
        result["relation"] = subject.relation
    if subject.caveat:
        result["condition"] = subject.caveat
    return result


def _json_model(schema: Schema) -> str:
    types = []
    for definition in schema.definitions:
        relations: dict[str, Any] = {}
        metadata: dict[str, Any] = {}
        members = sorted(
            [*definition.relations, *definition.permissions],
            key=lambda member: (member.span.line, member.span.column),
        )
        for member in members:
            if isinstance(member, Relation):
                relations[member.name] = _json_rewrite(member.rewrite or This())
                metadata[member.name] = {
                    "directly_related_user_types": [_json_subject(s) for s in member.allowed]
                }
            else:
                relations[member.name] = _json_rewrite(member.expression)
        types.append(
            {"type": definition.name, "relations": relations, "metadata": {"relations": metadata}}
        )
    return json.dumps({"schema_version": "1.1", "type_definitions": types}, indent=2)


@pytest.mark.parametrize("model", _suite_models())
def test_suite_model_json_form_gives_the_same_ir(model: str) -> None:
    from_dsl = parse_openfga_dsl(model)
    from_json = parse_openfga_json(_json_model(from_dsl))
    assert from_json == from_dsl
    for dsl_type, json_type in zip(from_dsl.definitions, from_json.definitions, strict=True):
        assert [r.name for r in dsl_type.relations] == [r.name for r in json_type.relations]
        assert [p.name for p in dsl_type.permissions] == [p.name for p in json_type.permissions]


def test_definition_order_is_kept() -> None:
    schema = parse_openfga_json(
        '{"schema_version": "1.1", "type_definitions": [{"type": "b"}, {"type": "a"}]}'
    )
    assert schema.definitions == (Definition(name="b"), Definition(name="a"))
