"""Language detection: OpenFGA DSL and JSON are told apart from SpiceDB schema text."""

from __future__ import annotations

import pytest

from clove.schema.openfga import looks_like_openfga


@pytest.mark.parametrize(
    "text",
    [
        "model\n  schema 1.1\ntype user\n",
        "\n\n  model\n  schema 1.1\n",
        "# a comment\n\n# another\nmodel\n  schema 1.1\n",
        "model",
        "module core\ntype user\n",
        '{"schema_version": "1.1", "type_definitions": []}',
        '  {"authorization_model": {"id": "x", "type_definitions": []}}',
    ],
)
def test_openfga_input(text: str) -> None:
    assert looks_like_openfga(text)


@pytest.mark.parametrize(
    "text",
    [
        "definition user {}\n",
        "// model\ndefinition user {}\n",
        "use expiration\ndefinition user {}\n",
        "caveat c(x int) { x < 1 }\n",
        "models\n  schema 1.1\n",
        "# model\ntype user\n",
        "",
        "{not json",
        '{"schema_version": "1.1"}',
        '["type_definitions"]',
    ],
)
def test_other_input(text: str) -> None:
    assert not looks_like_openfga(text)
