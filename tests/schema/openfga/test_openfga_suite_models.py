"""Every model of OpenFGA's consolidated test suite parses, and nothing in it is dropped.

Besides parsing, each model is cross-checked against its own text: every ``define`` is a member,
every ``[...]`` a relation with direct types, and every ``or`` / ``and`` / ``but not`` / ``from``
an operator node of the IR. A construct the parser skipped silently would break a count.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator

import pytest
import yaml

from clove.schema.ir import (
    Arrow,
    Exclusion,
    Expression,
    Intersection,
    RelationRef,
    Schema,
    This,
    Union,
)
from clove.schema.openfga import parse_openfga_dsl
from conformance_data import CONFORMANCE, require_conformance

SUITE = CONFORMANCE / "openfga" / "consolidated_1_1_tests.yaml"


def _models() -> list[pytest.ParameterSet]:
    if not SUITE.is_file():
        return [
            pytest.param(
                "",
                marks=pytest.mark.skip(reason=f"OpenFGA suite not found at {SUITE}"),
                id="no-suite",
            )
        ]
    params = []
    for test in yaml.safe_load(SUITE.read_text())["tests"]:
        for index, stage in enumerate(test["stages"]):
            params.append(pytest.param(stage["model"], id=f"{test['name']}-{index}"))
    return params


def _nodes(expression: Expression) -> Iterator[Expression]:
    yield expression
    match expression:
        case Union(children=children) | Intersection(children=children):
            for child in children:
                yield from _nodes(child)
        case Exclusion(base=base, subtracted=subtracted):
            yield from _nodes(base)
            yield from _nodes(subtracted)
        case _:
            pass


def _ir_counts(schema: Schema) -> Counter[str]:
    counts: Counter[str] = Counter()
    for definition in schema.definitions:
        counts["type"] += 1
        counts["define"] += len(definition.relations) + len(definition.permissions)
        counts["["] += len(definition.relations)
        expressions = [p.expression for p in definition.permissions]
        expressions += [r.rewrite for r in definition.relations if r.rewrite is not None]
        for expression in expressions:
            for node in _nodes(expression):
                match node:
                    case Union(children=children):
                        counts["or"] += len(children) - 1
                    case Intersection(children=children):
                        counts["and"] += len(children) - 1
                    case Exclusion():
                        counts["but not"] += 1
                    case Arrow():
                        counts["from"] += 1
                    case This() | RelationRef():
                        pass
                    case _:
                        raise AssertionError(f"unexpected node {node!r}")
    return counts


def _text_counts(model: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    for raw_line in model.splitlines():
        line = re.sub(r"(^|\s)#.*", "", raw_line)
        words = re.findall(r"but\s+not|[\w-]+|\[", line)
        if words[:1] == ["type"]:
            counts["type"] += 1
        for word in words[1:] if words[:1] == ["define"] else []:
            if word in ("or", "and", "from", "["):
                counts[word] += 1
            elif word.startswith("but"):
                counts["but not"] += 1
        if words[:1] == ["define"]:
            counts["define"] += 1
    return counts


@pytest.mark.parametrize("model", _models())
def test_suite_model_parses_completely(model: str) -> None:
    schema = parse_openfga_dsl(model)
    assert _ir_counts(schema) == _text_counts(model)


def test_suite_has_the_expected_size() -> None:
    require_conformance()  # under CI a missing suite fails here instead of skipping
    assert len(_models()) == 160
