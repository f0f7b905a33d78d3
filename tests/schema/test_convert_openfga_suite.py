"""Every model of OpenFGA's consolidated test suite, through SpiceDB and back, is unchanged.

Each stage's model is parsed (skipped when the suite expects OpenFGA to reject it), converted
to SpiceDB and from that text back to the OpenFGA DSL and JSON; the IR must come back equal,
up to SpiceDB's merging of nested unions (``a or (b or c)`` is one union there). Models using
what SpiceDB cannot write are refused with ``SchemaConversionError`` and counted.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pytest
import yaml

from clove.errors import SchemaConversionError, SchemaError
from clove.schema.convert import convert, convert_schema, lift_rewrites
from clove.schema.ir import Expression, Intersection, Schema, Union
from clove.schema.openfga import parse_openfga_dsl, parse_openfga_json
from clove.schema.spicedb import parse_schema
from conformance_data import CONFORMANCE, require_conformance

SUITE = CONFORMANCE / "openfga" / "consolidated_1_1_tests.yaml"
MINIMUM_ROUND_TRIPS = 100
_outcomes: Counter[str] = Counter()


def _models() -> list[pytest.ParameterSet]:
    if not SUITE.is_file():
        return [pytest.param("", id="no-suite")]
    params = []
    for test in yaml.safe_load(SUITE.read_text())["tests"]:
        for index, stage in enumerate(test["stages"]):
            params.append(pytest.param(stage["model"], id=f"{test['name']}-{index}"))
    return params


def _flat(expression: Expression) -> Expression:
    match expression:
        case Union(children=children) | Intersection(children=children):
            merged: list[Expression] = []
            for child in map(_flat, children):
                same = type(child) is type(expression)
                merged.extend(child.children if same else (child,))  # type: ignore[union-attr]
            return replace(expression, children=tuple(merged))
        case _:
            return expression


def flattened(schema: Schema) -> Schema:
    """``schema`` as SpiceDB text can keep it: nested unions (intersections) merged."""
    return replace(
        schema,
        definitions=tuple(
            replace(
                definition,
                relations=tuple(
                    replace(r, rewrite=None if r.rewrite is None else _flat(r.rewrite))
                    for r in definition.relations
                ),
                permissions=tuple(
                    replace(p, expression=_flat(p.expression)) for p in definition.permissions
                ),
            )
            for definition in schema.definitions
        ),
    )


@pytest.mark.parametrize("model", _models())
def test_suite_model_through_spicedb_and_back(model: str) -> None:
    require_conformance()
    try:
        schema = parse_openfga_dsl(model)
    except SchemaError:
        _outcomes["invalid in OpenFGA"] += 1
        pytest.skip("OpenFGA rejects this model (the suite expects an error)")
    try:
        spicedb = convert_schema(model, to="spicedb", source_syntax="openfga")
    except SchemaConversionError as error:
        _outcomes["not expressible in SpiceDB"] += 1
        pytest.skip(f"not expressible in SpiceDB: {error}")
    expected = flattened(schema)
    assert lift_rewrites(parse_schema(spicedb.text))[0] == expected
    assert parse_openfga_dsl(convert(spicedb.text, to="openfga")) == expected
    assert parse_openfga_json(convert(spicedb.text, to="openfga-json")) == expected
    _outcomes["round trip"] += 1


def test_most_suite_models_make_the_round_trip() -> None:
    """Runs after the round trips above (pytest keeps file order)."""
    require_conformance()
    assert _outcomes["round trip"] >= MINIMUM_ROUND_TRIPS, dict(_outcomes)
