"""Golden files: every Zanzibar config under ``golden/`` printed in every language.

``golden/<name>.zanzibar`` is converted to Zanzibar, the OpenFGA DSL, OpenFGA JSON and
SpiceDB, which must give exactly ``golden/<name>.printed.zanzibar``, ``<name>.fga``,
``<name>.fga.json`` and ``<name>.zed``. Regenerate them with ``CLOVE_UPDATE_GOLDEN=1`` (and
read the diff: the files are the specification).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from clove.schema.convert import Language, convert
from clove.schema.zanzibar import parse_zanzibar, print_zanzibar

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("CLOVE_UPDATE_GOLDEN") == "1"
SOURCES = sorted(GOLDEN.glob("*.zanzibar"))
SOURCES = [path for path in SOURCES if not path.name.endswith(".printed.zanzibar")]
LANGUAGES: dict[str, Language] = {
    ".printed.zanzibar": "zanzibar",
    ".fga": "openfga",
    ".fga.json": "openfga-json",
    ".zed": "spicedb",
}


@pytest.mark.parametrize("suffix", sorted(LANGUAGES))
@pytest.mark.parametrize("source", SOURCES, ids=lambda path: path.stem)
def test_golden_config_prints_as_expected(source: Path, suffix: str) -> None:
    printed = convert(source.read_text(), to=LANGUAGES[suffix])
    expected = GOLDEN / f"{source.stem}{suffix}"
    if UPDATE:
        expected.write_text(printed)
    assert printed == expected.read_text()


@pytest.mark.parametrize("source", SOURCES, ids=lambda path: path.stem)
def test_printed_config_parses_back_to_the_same_schema(source: Path) -> None:
    schema = parse_zanzibar(source.read_text())
    assert parse_zanzibar(print_zanzibar(schema)) == schema


def test_there_are_golden_files() -> None:
    assert len(SOURCES) >= 3
