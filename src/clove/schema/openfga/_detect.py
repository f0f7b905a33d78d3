"""Telling OpenFGA input (DSL or JSON) from other schema languages, without parsing it."""

from __future__ import annotations

import json
import re

# Blank lines and ``#`` comment lines, then the first word of a DSL model or module.
_DSL_START = re.compile(r"(?:[ \t\f]*(?:#[^\r\n]*)?(?:\r\n|\r|\n))*[ \t\f]*(model|module)(?:\s|$)")


def looks_like_openfga(text: str) -> bool:
    """Whether ``text`` is meant as an OpenFGA model.

    True for DSL text whose first word after blank and comment lines is ``model`` or
    ``module``, and for a JSON object with ``type_definitions`` (or the
    ``authorization_model`` envelope). SpiceDB schemas start with ``definition``, ``caveat``,
    ``use`` or a ``//`` comment, so they never match.
    """
    if _DSL_START.match(text):
        return True
    stripped = text.lstrip()
    if not stripped.startswith("{"):
        return False
    try:
        value = json.loads(stripped)
    except ValueError:
        return False
    if isinstance(value, dict) and isinstance(value.get("authorization_model"), dict):
        value = value["authorization_model"]
    return isinstance(value, dict) and "type_definitions" in value
