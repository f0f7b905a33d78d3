"""SpiceDB conformance schemas converted to the other languages and back answer the same.

For every document of ``../shared/conformance/spicedb-golden`` (SpiceDB's validation files
with every check a real SpiceDB answered) and every other language: convert the schema there
and back to SpiceDB, move the relationships through both conversions' relation renames, and
ask Clove every check of the document on the original and on the converted-back model
(``clove.open("memory")``). Answers must be equal. Schemas using what the target cannot
express (caveats, wildcards, ``nil`` ...) must be refused with ``SchemaConversionError`` and
are counted: at least ``MINIMUM_CONVERTED`` documents must make the trip per language.

The checks run on the model converted back to SpiceDB (relation rewrites spelled as a stored
relation plus a permission), which the engine evaluates whether or not it knows rewrites.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

import clove
from clove.errors import SchemaConversionError
from clove.schema.convert import Language, convert_relationships, convert_schema
from conformance_data import conformance_files, require_conformance

GOLDEN = conformance_files("spicedb-golden", "*.golden.json")
TARGETS: tuple[Language, ...] = ("zanzibar", "openfga", "openfga-json")
# Documents (out of 50-odd) whose constructs each language can express; guards against a
# conversion that silently starts refusing everything.
MINIMUM_CONVERTED = {"zanzibar": 20, "openfga": 10, "openfga-json": 10}
_converted: Counter[str] = Counter()


def _documents() -> list[pytest.ParameterSet]:
    params = []
    for path in GOLDEN:
        documents = json.loads(path.read_text())["documents"]
        for index, document in enumerate(documents):
            suffix = f"-{index}" if len(documents) > 1 else ""
            params.append(pytest.param(document, id=f"{path.name.split('.')[0]}{suffix}"))
    return params or [pytest.param(None, id="no-conformance-data")]


def _answers(
    schema: str, relationships: list[clove.Relationship], checks: list[list[str]]
) -> list[str]:
    with clove.open("memory") as db:
        db.write_schema(schema)
        if relationships:
            db.write_relationships(relationships)
        results = db.check_bulk(
            [(resource, permission, subject) for resource, permission, subject, _ in checks]
        )
        return [result.permissionship for result in results]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("document", _documents())
def test_converted_and_back_answers_the_same(
    document: dict[str, Any] | None, target: Language
) -> None:
    require_conformance()
    assert document is not None
    try:
        there = convert_schema(document["schema"], to=target, source_syntax="spicedb")
    except SchemaConversionError as error:
        assert error.target == target
        pytest.skip(f"not expressible in {target}: {error}")
    back = convert_schema(there.text, to="spicedb", source_syntax=target)
    relationships = convert_relationships(
        convert_relationships(document["relationships"], there.renames), back.renames
    )
    original = _answers(
        document["schema"], convert_relationships(document["relationships"], {}), document["checks"]
    )
    converted = _answers(back.text, relationships, document["checks"])
    differences = [
        (check, before, after)
        for check, before, after in zip(document["checks"], original, converted, strict=True)
        if before != after
    ]
    assert differences == []
    _converted[target] += 1


@pytest.mark.parametrize("target", TARGETS)
def test_enough_documents_make_the_trip(target: Language) -> None:
    """Runs after the round trips above (pytest keeps file order)."""
    require_conformance()
    assert _converted[target] >= MINIMUM_CONVERTED[target], dict(_converted)
