"""Which schema language a text is written in, and its parse into the one IR.

Clove stores schema text exactly as written and parses it again when a revision is loaded, so
the choice of front-end must be a pure function of the text: ``detect_syntax`` is that
function, and ``parse_stored_schema`` falls back to the other languages only for text that an
explicit ``syntax=`` accepted although detection guessed differently.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
from typing import Literal, get_args

from clove.errors import CloveInternalError, InvalidInputError, SchemaError
from clove.schema import ir

Syntax = Literal["spicedb", "openfga", "zanzibar"]
SYNTAXES: tuple[Syntax, ...] = get_args(Syntax)

# Until the front-ends export their own detectors: an OpenFGA DSL model opens with
# ``model``, a Zanzibar namespace config in protobuf text format with ``name: "..."``.
_OPENFGA_START = re.compile(r"\A(?:\s|#[^\n]*\n)*model\b")
_ZANZIBAR_START = re.compile(r'\A(?:\s|#[^\n]*\n)*name\s*:\s*"')


def detect_syntax(text: str) -> Syntax:
    """The language ``text`` is most likely written in (SpiceDB unless it says otherwise)."""
    if _front_end_says("openfga", "looks_like_openfga", text, _OPENFGA_START):
        return "openfga"
    if _front_end_says("zanzibar", "looks_like_zanzibar", text, _ZANZIBAR_START):
        return "zanzibar"
    return "spicedb"


def _front_end_says(package: str, detector: str, text: str, fallback: re.Pattern[str]) -> bool:
    """Ask ``clove.schema.<package>.<detector>`` whether ``text`` is in its language."""
    try:
        module = importlib.import_module(f"clove.schema.{package}")
    except ImportError:
        module = None
    looks_like = getattr(module, detector, None)
    if looks_like is None:
        return fallback.match(text) is not None
    return bool(looks_like(text))


def parse_schema_text(text: str, syntax: Syntax | None = None) -> ir.Schema:
    """Parse and check ``text`` in ``syntax`` (detected when None); raises SchemaError."""
    chosen = detect_syntax(text) if syntax is None else syntax
    match chosen:
        case "spicedb":
            from clove.schema.spicedb import parse_schema

            return parse_schema(text)
        case "openfga":
            from clove.schema.openfga import parse_openfga_dsl

            schema = parse_openfga_dsl(text)
            if schema.semantics != "openfga":
                schema = dataclasses.replace(schema, semantics="openfga")
            return schema
        case "zanzibar":
            # The Zanzibar front-end (``clove.schema.zanzibar``) plugs in here.
            try:
                zanzibar = importlib.import_module("clove.schema.zanzibar")
            except ImportError:
                zanzibar = None
            parse_zanzibar = getattr(zanzibar, "parse_zanzibar", None)
            if parse_zanzibar is None:
                raise InvalidInputError(
                    "the zanzibar schema syntax is not available in this build of Clove"
                )
            parsed = parse_zanzibar(text)
            if not isinstance(parsed, ir.Schema):
                raise CloveInternalError(f"parse_zanzibar returned {type(parsed).__name__}")
            return parsed
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
