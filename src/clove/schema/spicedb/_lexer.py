"""Tokens of the SpiceDB schema language, produced one at a time on the parser's demand.

The lexer is lazy because a caveat body is CEL, not schema language: when the parser reaches the
``{`` of a caveat it asks for the raw body (``scan_caveat_body``) instead of tokens, and
tokenising resumes at the closing ``}``.

Newlines carry no meaning here: statements are separated by keywords (or an optional ``;``), so
a schema folded onto one line lexes the same as its multi-line form.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from typing import NamedTuple

from clove.errors import SchemaError

# Token kinds: "ident" for words (keywords are words the parser treats specially), "eof", and
# for punctuation the punctuation itself.
IDENT = "ident"
EOF = "eof"

# Blanks and comments between two tokens, in one match (an unterminated `/*` stays unmatched).
_GAP = re.compile(r"(?:[ \t\r\n]+|//[^\n]*|/\*.*?\*/)*", re.DOTALL)
_COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.DOTALL)
_TOKEN = re.compile(r"(\w+)|\.\.\.|->|[{}()|+\-&/=:;#*.,<>]")
_STRING_PREFIX_CHARS = frozenset("rRbB")


class Token(NamedTuple):
    """One token; ``doc`` holds the ``/** ... */`` comments written just before it."""

    kind: str
    text: str
    offset: int
    line: int
    column: int
    doc: str | None = None

    def describe(self) -> str:
        """The token as an error message should name it."""
        if self.kind == EOF:
            return "end of input"
        return f"`{self.text}`"


@dataclass(frozen=True, slots=True)
class CaveatBody:
    """The CEL source between a caveat's braces, stripped of surrounding blanks and comments."""

    expression: str
    line: int
    column: int


class Lexer:
    """Turns schema text into tokens, one ``next()`` call at a time."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._pos = 0
        # The line of ``_pos`` and the offset where that line starts, kept up to date as the
        # lexer moves (tokens never span lines, so only gaps and caveat bodies move lines).
        self._line = 1
        self._line_start = 0
        self._line_starts: list[int] | None = None

    def position(self, offset: int) -> tuple[int, int]:
        """The 1-based line and column of any character offset."""
        if self._line_starts is None:
            self._line_starts = [0] + [match.end() for match in re.finditer("\n", self._text)]
        index = bisect.bisect_right(self._line_starts, offset) - 1
        return index + 1, offset - self._line_starts[index] + 1

    def error(self, message: str, offset: int) -> SchemaError:
        line, column = self.position(offset)
        return SchemaError(message, line=line, column=column)

    def next(self) -> Token:
        """The next token, skipping blanks and comments (doc comments are attached to it)."""
        text = self._text
        start = self._pos
        pos = self._skip_gap(start)
        doc = None
        if pos > start:
            self._move_lines(start, pos)
            if text.find("/**", start, pos) >= 0:
                doc = self._docs(start, pos)
        match = _TOKEN.match(text, pos)
        if match is None:
            if pos < len(text):
                raise self.error(f"unexpected character {text[pos]!r}", pos)
            return Token(EOF, "", pos, self._line, pos - self._line_start + 1, doc)
        value = match.group()
        self._pos = match.end()
        kind = IDENT if match.lastindex == 1 else value
        return Token(kind, value, pos, self._line, pos - self._line_start + 1, doc)

    def scan_caveat_body(self) -> CaveatBody:
        """Read raw CEL from just after a caveat's ``{`` up to its matching ``}``.

        Braces inside string literals and comments do not count. Afterwards ``next()`` returns
        the closing ``}``.
        """
        text = self._text
        open_offset = self._pos - 1
        pos = self._pos
        depth = 1
        first: int | None = None
        last_end = pos
        while True:
            pos = self._skip_gap(pos)
            if pos >= len(text):
                raise self.error("caveat expression is missing its closing `}`", open_offset)
            char = text[pos]
            if char == "}":
                depth -= 1
                if depth == 0:
                    break
            elif char == "{":
                depth += 1
            if first is None:
                first = pos
            if char in "\"'":
                pos = self._skip_string(pos)
            else:
                pos += 1
            last_end = pos
        self._move_lines(self._pos, pos)
        self._pos = pos
        if first is None:
            raise self.error("caveat expression is empty", open_offset)
        line, column = self.position(first)
        return CaveatBody(expression=text[first:last_end], line=line, column=column)

    def _skip_gap(self, start: int) -> int:
        """The offset just after the blanks and comments that start at ``start``."""
        text = self._text
        match = _GAP.match(text, start)
        assert match is not None  # the pattern also matches the empty string
        pos = match.end()
        if text.startswith("/*", pos):
            raise self.error("unterminated comment", pos)
        return pos

    def _move_lines(self, start: int, end: int) -> None:
        newlines = self._text.count("\n", start, end)
        if newlines:
            self._line += newlines
            self._line_start = self._text.rfind("\n", start, end) + 1

    def _docs(self, start: int, end: int) -> str | None:
        docs = []
        for match in _COMMENT.finditer(self._text, start, end):
            comment = match.group()
            if comment.startswith("/**") and comment != "/**/":
                doc = _doc_text(comment)
                if doc:
                    docs.append(doc)
        return "\n".join(docs) if docs else None

    def _skip_string(self, pos: int) -> int:
        """The offset just past the CEL string literal whose opening quote is at ``pos``."""
        text = self._text
        quote = text[pos]
        prefix_start = pos
        while prefix_start > 0 and text[prefix_start - 1] in _STRING_PREFIX_CHARS:
            prefix_start -= 1
        prefix = text[prefix_start:pos].lower()
        word_before = prefix_start > 0 and (
            text[prefix_start - 1].isalnum() or text[prefix_start - 1] == "_"
        )
        raw = "r" in prefix and len(prefix) <= 2 and not word_before
        delimiter = quote * 3 if text.startswith(quote * 3, pos) else quote
        index = pos + len(delimiter)
        while index < len(text):
            char = text[index]
            if char == "\\" and not raw:
                index += 2
                continue
            if text.startswith(delimiter, index):
                return index + len(delimiter)
            if char == "\n" and len(delimiter) == 1:
                break
            index += 1
        raise self.error("unterminated string literal in caveat expression", pos)


def _doc_text(comment: str) -> str:
    """The text of a ``/** ... */`` comment without its delimiters and leading ``*`` gutters."""
    lines = []
    for raw_line in comment[3:-2].splitlines():
        line = raw_line.strip()
        if line.startswith("*"):
            line = line[1:].strip()
        lines.append(line)
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)
