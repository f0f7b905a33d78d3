"""``write_schema(text, syntax=)``: the languages, their detection, and stored text re-read."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

import clove
from clove.schema.syntax import detect_syntax, parse_schema_text

OPENFGA = """\
model
  schema 1.1
type user
type document
  relations
    define owner: [user]
    define viewer: [user] or owner
"""

SPICEDB = """\
definition user {}
definition document {
    relation viewer: user
}
"""


def test_detection_tells_the_languages_apart() -> None:
    assert detect_syntax(OPENFGA) == "openfga"
    assert detect_syntax("# a comment\n" + OPENFGA) == "openfga"
    assert detect_syntax(SPICEDB) == "spicedb"
    assert detect_syntax('name: "doc"\nrelation { name: "owner" }\n') == "zanzibar"


def test_an_openfga_model_is_parsed_with_openfga_semantics() -> None:
    schema = parse_schema_text(OPENFGA)
    assert schema.semantics == "openfga"
    assert parse_schema_text(SPICEDB).semantics == "spicedb"


def test_openfga_text_is_stored_as_written_and_read_again_after_reopening(
    tmp_path: Path,
) -> None:
    url = f"sqlite://{tmp_path}/fga.db"
    with clove.open(url) as db:
        db.write_schema(OPENFGA)
        db.write_relationships(["document:d1#owner@user:anne"])
    with clove.open(url) as db:
        assert db.read_schema() == OPENFGA
        assert db.check("document:d1", "viewer", "user:anne")
        assert db.schema().semantics == "openfga"


OPENFGA_JSON = (
    '{"schema_version": "1.1", "type_definitions": [{"type": "user"}, {"type": "doc",'
    ' "relations": {"viewer": {"this": {}}}, "metadata": {"relations": {"viewer":'
    ' {"directly_related_user_types": [{"type": "user"}]}}}}]}'
)


def test_an_openfga_json_model_is_detected_and_answered() -> None:
    db = clove.open()
    db.write_schema(OPENFGA_JSON)
    db.write_relationships(["doc:d1#viewer@user:anne"])
    assert db.check("doc:d1", "viewer", "user:anne")
    assert db.schema().semantics == "openfga"
    assert db.read_schema() == OPENFGA_JSON


def test_explicit_syntax_wins_and_a_mismatch_is_a_schema_error() -> None:
    db = clove.open()
    db.write_schema(OPENFGA, syntax="openfga")
    with pytest.raises(clove.SchemaError):
        db.write_schema(SPICEDB, syntax="openfga")
    with pytest.raises(clove.SchemaError):
        db.write_schema(OPENFGA, syntax="spicedb")
    with pytest.raises(clove.InvalidInputError, match="unknown schema syntax 'cedar'"):
        db.write_schema(SPICEDB, syntax="cedar")  # type: ignore[arg-type]


def test_a_spicedb_schema_may_replace_an_openfga_model() -> None:
    db = clove.open()
    db.write_schema(OPENFGA)
    db.write_schema(SPICEDB)
    db.write_relationships(["document:d1#viewer@user:anne"])
    assert db.read_schema() == SPICEDB
    assert db.schema().semantics == "spicedb"


def test_the_zanzibar_syntax_parses_or_says_it_is_unavailable() -> None:
    text = 'name: "document"\nrelation { name: "viewer" }\n'
    if importlib.util.find_spec("clove.schema.zanzibar") is None:
        with pytest.raises(
            clove.InvalidInputError, match="zanzibar schema syntax is not available"
        ):
            parse_schema_text(text, "zanzibar")
    else:
        assert parse_schema_text(text, "zanzibar").definition("document") is not None
