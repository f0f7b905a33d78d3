"""Fuzzed schemas: generated ones round-trip through the printer and load into a database;
mutated text fails only with a positioned SchemaError."""

from __future__ import annotations

from hypothesis import given

import clove
from clove.errors import CloveError, CloveInternalError, SchemaError
from clove.schema.ir import Schema
from clove.schema.spicedb import check_schema, parse_schema, print_schema
from fuzz.strategies import fuzz_settings, mutated, schemas


@fuzz_settings(40)
@given(schemas(cycles=True))
def test_print_then_parse_is_identity_with_cycles_and_typed_caveats(schema: Schema) -> None:
    check_schema(schema)
    printed = print_schema(schema)
    assert parse_schema(printed) == schema
    assert print_schema(parse_schema(printed)) == printed


@fuzz_settings(40)
@given(schemas(cycles=True, direct_cycles=True))
def test_write_schema_of_a_generated_schema_raises_only_clove_errors(schema: Schema) -> None:
    # Permissions may form cycles and arrows name members that may not exist: some of these
    # schemas are rejected, but only ever with a Clove error.
    db = clove.open()
    try:
        db.write_schema(print_schema(schema))
    except CloveError as error:
        assert not isinstance(error, CloveInternalError), error
        assert isinstance(error, SchemaError), error
    finally:
        db.close()


@fuzz_settings(60)
@given(schemas().flatmap(lambda schema: mutated(print_schema(schema))))
def test_mutated_schema_text_fails_only_with_a_positioned_schema_error(text: str) -> None:
    try:
        parse_schema(text)
    except SchemaError as error:
        assert error.line >= 1, error
        assert error.column >= 1, error
        lines = text.split("\n")
        assert error.line <= len(lines) + 1, error
