"""Every schema of the shared SpiceDB conformance fixtures parses, checks, prints and reparses."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from clove.schema.spicedb import parse_schema, print_schema

CONFORMANCE = Path("/work/shared/conformance/spicedb")


def _schemas() -> list[pytest.ParameterSet]:
    if not CONFORMANCE.is_dir():
        return [
            pytest.param(
                "",
                marks=pytest.mark.skip(reason=f"conformance fixtures not found at {CONFORMANCE}"),
                id="no-fixtures",
            )
        ]
    params = []
    for path in sorted(CONFORMANCE.glob("*.yaml")):
        documents = [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
        for index, document in enumerate(documents):
            suffix = f"-{index}" if len(documents) > 1 else ""
            params.append(pytest.param(document["schema"], id=f"{path.stem}{suffix}"))
    return params


@pytest.mark.parametrize("text", _schemas())
def test_conformance_schema_round_trips(text: str) -> None:
    schema = parse_schema(text)
    printed = print_schema(schema)
    assert parse_schema(printed) == schema
    assert print_schema(parse_schema(printed)) == printed
