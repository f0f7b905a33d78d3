"""Which schema language a text is written in, and its parse into the one IR.

Clove stores schema text exactly as written and parses it again when a revision is loaded, so
the choice of front-end must be a pure function of the text: ``detect_syntax`` is that
function, and ``parse_stored_schema`` falls back to the other languages only for text that an
explicit ``syntax=`` accepted although detection guessed differently.
"""

from __future__ import annotations

from typing import Literal, get_args

from clove.errors import InvalidInputError, SchemaError
from clove.schema import ir
from clove.schema.openfga import looks_like_openfga, parse_openfga_dsl, parse_openfga_json
from clove.schema.spicedb import parse_schema
from clove.schema.zanzibar import looks_like_zanzibar, parse_zanzibar

Syntax = Literal["spicedb", "openfga", "zanzibar"]
SYNTAXES: tuple[Syntax, ...] = get_args(Syntax)


def detect_syntax(text: str) -> Syntax:
    """The language ``text`` is most likely written in (SpiceDB unless it says otherwise)."""
    if looks_like_openfga(text):
        return "openfga"
    if looks_like_zanzibar(text):
        return "zanzibar"
    return "spicedb"


def parse_schema_text(text: str, syntax: Syntax | None = None) -> ir.Schema:
    """Parse and check ``text`` in ``syntax`` (detected when None); raises SchemaError."""
    chosen = detect_syntax(text) if syntax is None else syntax
    match chosen:
        case "spicedb":
            return parse_schema(text)
        case "openfga":
            is_json = text.lstrip().startswith("{")
            return parse_openfga_json(text) if is_json else parse_openfga_dsl(text)
        case "zanzibar":
            return parse_zanzibar(text)
        case _:
            raise InvalidInputError(
                f"unknown schema syntax {syntax!r}: use one of {', '.join(SYNTAXES)}"
            )


def parse_stored_schema(text: str) -> ir.Schema:
    """Parse schema text read back from storage, whichever accepted language it is in."""
    detected = detect_syntax(text)
    try:
        return parse_schema_text(text, detected)
    except SchemaError as first:
        for other in SYNTAXES:
            if other == detected:
                continue
            try:
                return parse_schema_text(text, other)
            except (SchemaError, InvalidInputError):
                continue
        raise first


__all__ = ["SYNTAXES", "Syntax", "detect_syntax", "parse_schema_text", "parse_stored_schema"]
