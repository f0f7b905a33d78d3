"""An OpenFGA DSL model (``model`` / ``schema 1.1``) to validated IR."""

from __future__ import annotations

from clove.errors import SchemaError
from clove.schema.ir import Schema
from clove.schema.openfga._dsl_parser import parse_file
from clove.schema.openfga._validator import validate_model

# The only schema version a single-file DSL model may declare (1.2 is for modular models).
MODEL_SCHEMA_VERSION = "1.1"


def parse_openfga_dsl(text: str) -> Schema:
    """Parse and validate an OpenFGA DSL model with OpenFGA's rules.

    Raises ``SchemaError`` (1-based ``line`` and ``column``) for the first syntax error, or for
    the first rule of OpenFGA's model validation that the model breaks.
    """
    parsed = parse_file(text)
    if parsed.kind != "model":
        raise SchemaError(
            "a `module` file is part of a modular model: load it through its fga.mod",
            line=parsed.header_span.line,
            column=parsed.header_span.column - len("module "),
        )
    if parsed.header != MODEL_SCHEMA_VERSION:
        raise SchemaError(
            f"unsupported schema version `{parsed.header}`: a model must declare "
            f"`schema {MODEL_SCHEMA_VERSION}`",
            line=parsed.header_span.line,
            column=parsed.header_span.column,
        )
    for block in parsed.types:
        if block.extend:
            raise parsed.source_map.error(
                "`extend type` is only allowed in a module of a modular model", block.definition
            )
    schema = Schema(
        definitions=tuple(block.definition for block in parsed.types),
        caveats=tuple(parsed.conditions),
        semantics="openfga",
    )
    validate_model(schema, parsed.source_map)
    return schema
