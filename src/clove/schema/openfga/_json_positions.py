"""JSON decoding that remembers where each object starts, for located error messages.

Python's ``json`` module forgets positions once it has built a value. This decoder runs the
standard pure-Python scanner with its object rule wrapped, recording the offset of each
object's ``{``; it also refuses duplicate keys, which plain ``json.loads`` would silently
collapse (a model with two ``viewer`` relations must be an error, not the last one winning).
"""

from __future__ import annotations

import bisect
import json
import json.decoder
import json.scanner
from typing import Any

from clove.errors import SchemaError
from clove.schema.ir import NO_SPAN, Span


class DecodedJSON:
    """A decoded JSON document and the line:column of each of its objects."""

    def __init__(self, value: object, text: str, offsets: dict[int, tuple[object, int]]) -> None:
        self.value = value
        self._offsets = offsets
        self._line_starts = [0] + [i + 1 for i, char in enumerate(text) if char == "\n"]

    def span(self, node: object) -> Span:
        """Where the object ``node`` (a dict of this document) starts, or ``NO_SPAN``."""
        entry = self._offsets.get(id(node))
        if entry is None:
            return NO_SPAN
        line, column = self.position(entry[1])
        return Span(line=line, column=column)

    def position(self, offset: int) -> tuple[int, int]:
        """The 1-based line and column of a character offset."""
        index = bisect.bisect_right(self._line_starts, offset) - 1
        return index + 1, offset - self._line_starts[index] + 1


def decode_json(text: str) -> DecodedJSON:
    """Decode ``text``; ``SchemaError`` with line:column for malformed JSON or duplicate keys."""
    offsets: dict[int, tuple[object, int]] = {}
    decoder = _PositionDecoder(offsets)
    try:
        value = decoder.decode(text)
    except json.JSONDecodeError as error:
        raise SchemaError(
            f"invalid JSON: {error.msg}", line=error.lineno, column=error.colno
        ) from None
    except RecursionError:
        raise SchemaError("invalid JSON: nested too deeply") from None
    except _DuplicateKeyError as error:
        decoded = DecodedJSON(None, text, {})
        line, column = decoded.position(error.offset)
        raise SchemaError(f"duplicate key {error.key!r}", line=line, column=column) from None
    return DecodedJSON(value, text, offsets)


class _DuplicateKeyError(Exception):
    def __init__(self, key: str, offset: int) -> None:
        super().__init__(key)
        self.key = key
        self.offset = offset


class _PositionDecoder(json.JSONDecoder):
    def __init__(self, offsets: dict[int, tuple[object, int]]) -> None:
        super().__init__()
        self._offsets = offsets
        self.memo: dict[str, str] = {}
        self.parse_object = self._parse_object
        # The pure-Python scanner calls ``parse_object`` back; the C scanner would not.
        self.scan_once = json.scanner.py_make_scanner(self)  # type: ignore[attr-defined]

    def _parse_object(self, s_and_end: tuple[str, int], *args: Any, **kwargs: Any) -> Any:
        text, start = s_and_end
        pairs, end = json.decoder.JSONObject(  # type: ignore[attr-defined]
            s_and_end, self.strict, self.scan_once, None, list, self.memo
        )
        result: dict[str, object] = {}
        for key, value in pairs:
            if key in result:
                raise _DuplicateKeyError(key, text.rfind(json.dumps(key), start, end))
            result[key] = value
        self._offsets[id(result)] = (result, start - 1)
        return result, end
