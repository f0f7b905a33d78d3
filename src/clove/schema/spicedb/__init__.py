"""Package spicedb owns the SpiceDB schema language: text to checked IR, and IR back to text.

``parse_schema`` lexes, parses and type-checks (with SpiceDB's rules) in one step;
``print_schema`` writes canonical text such that ``parse_schema(print_schema(s)) == s``;
``check_schema`` applies the same type checks to an IR built by other means.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from clove.schema.spicedb._checker import check_schema
from clove.schema.spicedb._parser import parse as _parse
from clove.schema.spicedb._printer import print_schema

if TYPE_CHECKING:
    from clove.schema.ir import Schema

__all__ = ["check_schema", "parse_schema", "print_schema"]


def parse_schema(text: str) -> Schema:
    """Parse and type-check SpiceDB schema text.

    Raises ``SchemaError`` (with a 1-based ``line`` and ``column``) for the first syntax error,
    or for the type error earliest in the text.
    """
    schema = _parse(text)
    check_schema(schema)
    return schema
