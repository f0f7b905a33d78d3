"""Every model of OpenFGA's consolidated test suite, through SpiceDB and back, is unchanged.

Each stage's model is parsed (skipped when the suite expects OpenFGA to reject it), converted
to SpiceDB and from that text back to the OpenFGA DSL and JSON; the IR must come back equal,
up to SpiceDB's merging of nested unions (``a or (b or c)`` is one union there). The SpiceDB
model, given the stage's tuples moved by the conversion's renames, must answer the stage's
checks as the original model does. Models using what SpiceDB cannot write are refused with
``SchemaConversionError`` and counted.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import Any

import pytest
import yaml

import clove
from clove.errors import CloveError, SchemaConversionError, SchemaError
from clove.relationships import ObjectRef, Relationship, SubjectRef
from clove.schema.convert import (
    Renames,
    convert,
    convert_relationships,
    convert_schema,
)
from clove.schema.ir import ELLIPSIS, Expression, Intersection, Schema, Union
from clove.schema.openfga import parse_openfga_dsl, parse_openfga_json
from clove.schema.syntax import Syntax
from conformance_data import CONFORMANCE, require_conformance

SUITE = CONFORMANCE / "openfga" / "consolidated_1_1_tests.yaml"
MINIMUM_ROUND_TRIPS = 100
# Stages whose checks SpiceDB's semantics answer differently from OpenFGA's on the same model
# and data, so the conversion is not what differs; their answers are not compared.
ENGINE_DIFFERENCES = {
    "resolution_too_complex_throws_error-0": "OpenFGA resolves 25 levels deep, SpiceDB 50",
    "true_butnot_cycle_return_false-0": "OpenFGA answers a cycle through `but not` false",
}
_outcomes: Counter[str] = Counter()


def _stages() -> list[pytest.ParameterSet]:
    if not SUITE.is_file():
        return [pytest.param({}, id="no-suite")]
    params = []
    for test in yaml.safe_load(SUITE.read_text())["tests"]:
        for index, stage in enumerate(test["stages"]):
            params.append(pytest.param(stage, id=f"{test['name']}-{index}"))
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


@pytest.mark.parametrize("stage", _stages())
def test_suite_model_through_spicedb_and_back(stage: dict[str, Any], request: Any) -> None:
    require_conformance()
    model = stage["model"]
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
    assert convert_schema(spicedb.text, to="openfga").schema == expected
    assert parse_openfga_dsl(convert(spicedb.text, to="openfga")) == expected
    assert parse_openfga_json(convert(spicedb.text, to="openfga-json")) == expected
    _outcomes["round trip"] += 1
    if request.node.callspec.id in ENGINE_DIFFERENCES:
        return
    original = _answers(model, "openfga", stage, Renames())
    assert _answers(spicedb.text, "spicedb", stage, spicedb.renames) == original
    _outcomes["checks compared"] += len(original)


def _answers(
    text: str, syntax: Syntax, stage: dict[str, Any], renames: Renames
) -> list[tuple[str, str]]:
    """Each of the stage's checks with its answer (or error class), from ``text`` holding
    the stage's tuples moved by ``renames``; the checks are asked in the moved names too."""
    answers = []
    with clove.open("memory") as db:
        db.write_schema(text, syntax=syntax)
        tuples = [_relationship(item) for item in stage.get("tuples") or ()]
        if tuples:
            db.write_relationships(convert_relationships(tuples, renames))
        for assertion in stage.get("checkAssertions") or ():
            key = assertion["tuple"]
            resource_type, _, resource_id = key["object"].partition(":")
            subject = renames.relationship(_relationship(key))
            contextual = [_relationship(item) for item in assertion.get("contextualTuples") or ()]
            try:
                result = db.check(
                    ObjectRef(type=renames.type_name(resource_type), id=resource_id),
                    renames.member_name(resource_type, key["relation"]),
                    SubjectRef(
                        type=subject.subject_type,
                        id=subject.subject_id,
                        relation=subject.subject_relation,
                    ),
                    context=assertion.get("context"),
                    contextual_relationships=convert_relationships(contextual, renames),
                )
                answer = str(result.permissionship)
            except CloveError as error:
                answer = type(error).__name__
            answers.append((f"{key['object']}#{key['relation']}@{key['user']}", answer))
    return answers


def _relationship(item: dict[str, Any]) -> Relationship:
    """An OpenFGA tuple (``object``, ``relation``, ``user``, optional ``condition``)."""
    resource_type, _, resource_id = item["object"].partition(":")
    user, _, subject_relation = item["user"].partition("#")
    subject_type, _, subject_id = user.partition(":")
    condition = item.get("condition") or {}
    return Relationship(
        resource_type=resource_type,
        resource_id=resource_id,
        relation=item["relation"],
        subject_type=subject_type,
        subject_id=subject_id,
        subject_relation=subject_relation or ELLIPSIS,
        caveat_name=condition.get("name"),
        caveat_context=condition.get("context") or None,
    )


def test_most_suite_models_make_the_round_trip() -> None:
    """Runs after the round trips above (pytest keeps file order)."""
    require_conformance()
    assert _outcomes["round trip"] >= MINIMUM_ROUND_TRIPS, dict(_outcomes)
    assert _outcomes["checks compared"] >= MINIMUM_ROUND_TRIPS, dict(_outcomes)
