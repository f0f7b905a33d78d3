"""Package zanzibar owns Zanzibar namespace configurations: text to IR, and IR back to text.

The language is the protobuf text format of the Zanzibar paper's namespace configs::

    name: "doc"
    relation { name: "owner" }
    relation {
      name: "viewer"
      userset_rewrite {
        union {
          child { _this {} }
          child { computed_userset { relation: "owner" } }
          child {
            tuple_to_userset {
              tupleset { relation: "parent" }
              computed_userset { object: $TUPLE_USERSET_OBJECT relation: "viewer" }
            }
          }
        }
      }
    }

``parse_zanzibar`` reads one config or several (see ``_parser`` for the accepted forms and
for how Zanzibar's untyped relations appear in the IR); ``print_zanzibar`` writes text that
parses back to an equal schema; ``looks_like_zanzibar`` tells this language from the others.
"""

from __future__ import annotations

import re

from clove.schema.ir import Schema
from clove.schema.zanzibar._parser import NAMESPACE_BLOCKS, zanzibar_allowed
from clove.schema.zanzibar._parser import parse as _parse
from clove.schema.zanzibar._printer import print_zanzibar

__all__ = ["looks_like_zanzibar", "parse_zanzibar", "print_zanzibar", "zanzibar_allowed"]

_COMMENT = re.compile(r"#[^\n]*")
_OPENING = re.compile(
    rf"\s*(?:name\s*:\s*[\"']|relation\s*:?\s*\{{|(?:{'|'.join(NAMESPACE_BLOCKS)})\s*:?\s*\{{)"
)


def parse_zanzibar(text: str) -> Schema:
    """Parse Zanzibar namespace configs into a schema.

    Raises ``SchemaError`` (with a 1-based ``line`` and ``column``) for the first problem.
    """
    return _parse(text)


def looks_like_zanzibar(text: str) -> bool:
    """Whether ``text`` opens like a namespace config (``name: "..."``, ``relation {``,
    ``namespace {``), comments aside; it says nothing about the rest being valid."""
    return _OPENING.match(_COMMENT.sub("", text)) is not None
