"""Tokens of the OpenFGA modeling language (DSL), produced one at a time on the parser's demand.

Unlike the SpiceDB language, the OpenFGA DSL is line-oriented: a ``define`` ends at the end of
its line (only a ``[...]`` type restriction list may span lines), so line breaks are tokens
(``NEWLINE``, one for any run of blank lines). A ``#`` starts a comment when it begins a line or
follows a blank (``group#member`` is a subject relation, ``viewer  # note`` a comment); comment
lines vanish entirely, and the comment lines just above a token become its ``doc``.

The lexer is lazy because a condition body is CEL, not DSL: at the ``{`` of a condition the
parser asks for the raw body (``scan_condition_body``) and tokenising resumes at the ``}``.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from typing import NamedTuple

from clove.errors import SchemaError

# Token kinds: "word" (names and keywords alike; which is which depends on the position),
# "version" (``1.1``), "but not", "newline", "eof", and punctuation as itself.
WORD = "word"
VERSION = "version"
BUT_NOT = "but not"
NEWLINE = "newline"
EOF = "eof"

_BLANKS = re.compile(r"[ \t\f]*")
_TOKEN = re.compile(
    r"(?P<but_not>but[ \t]+not)(?![\w-])"
    r"|(?P<version>[0-9]+\.[0-9]+)(?![\w.])"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_-]*)"
    r"|[\[\](),:#*<>{}]"
)
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


class Token(NamedTuple):
    """One token; ``doc`` holds the text of the comment lines written just above it."""

    kind: str
    text: str
    line: int
    column: int
    doc: str | None = None

    def describe(self) -> str:
        """The token as an error message should name it."""
        if self.kind == EOF:
            return "end of input"
        if self.kind == NEWLINE:
            return "end of line"
        return f"`{self.text}`"


@dataclass(frozen=True, slots=True)
class ConditionBody:
    """The CEL source between a condition's braces, stripped of surrounding blanks."""

    expression: str
    line: int
    column: int


class Lexer:
    """Turns DSL text into tokens, one ``next()`` call at a time."""

    def __init__(self, text: str, *, file: str = "") -> None:
        self._text = text
        self._file = file
        self._pos = 0
        self._line_starts = [0] + [match.end() for match in _LINE_BREAK.finditer(text)]
        # Comment lines seen since the last token, waiting to become the next token's doc.
        self._pending_doc: list[str] = []

    def position(self, offset: int) -> tuple[int, int]:
        """The 1-based line and column of a character offset."""
        index = bisect.bisect_right(self._line_starts, offset) - 1
        return index + 1, offset - self._line_starts[index] + 1

    def error(self, message: str, offset: int) -> SchemaError:
        line, column = self.position(offset)
        return SchemaError(message, line=line, column=column, file=self._file)

    def next(self) -> Token:
        """The next token; blanks and comments are skipped, line breaks are ``NEWLINE``."""
        text = self._text
        pos = self._skip_blanks(self._pos)
        if pos < len(text) and text[pos] in "\r\n":
            return self._newline(pos)
        if pos >= len(text):
            self._pos = pos
            line, column = self.position(pos)
            return Token(EOF, "", line, column)
        match = _TOKEN.match(text, pos)
        if match is None:
            raise self.error(f"unexpected character {text[pos]!r}", pos)
        self._pos = match.end()
        value = match.group()
        if match.group("but_not") is not None:
            kind = BUT_NOT
        elif match.group("version") is not None:
            kind = VERSION
        elif match.group("word") is not None:
            kind = WORD
        else:
            kind = value
        line, column = self.position(pos)
        return Token(kind, value, line, column, self._take_doc())

    def scan_condition_body(self) -> ConditionBody:
        """Read raw CEL from just after a condition's ``{`` to its matching ``}``.

        Braces inside string literals and ``//`` comments do not count. Afterwards ``next()``
        returns the closing ``}``.
        """
        text = self._text
        open_offset = self._pos - 1
        pos = self._pos
        depth = 1
        while True:
            if pos >= len(text):
                raise self.error("condition expression is missing its closing `}`", open_offset)
            char = text[pos]
            if char == "}":
                depth -= 1
                if depth == 0:
                    break
            elif char == "{":
                depth += 1
            if char in "\"'":
                pos = self._skip_string(pos)
            elif text.startswith("//", pos):
                end = text.find("\n", pos)
                pos = len(text) if end < 0 else end
            else:
                pos += 1
        raw = text[self._pos : pos]
        self._pos = pos
        expression = raw.strip()
        if not expression:
            raise self.error("condition expression is empty", open_offset)
        line, column = self.position(self._pos - len(raw) + (len(raw) - len(raw.lstrip())))
        return ConditionBody(expression=expression, line=line, column=column)

    # --- helpers -----------------------------------------------------------------------------

    def _skip_blanks(self, pos: int) -> int:
        """Skip blanks and a trailing comment (a ``#`` at a line start or after a blank)."""
        text = self._text
        match = _BLANKS.match(text, pos)
        assert match is not None  # the pattern also matches the empty string
        end = match.end()
        at_line_start = pos == 0 or text[pos - 1] in "\r\n"
        if end < len(text) and text[end] == "#" and (end > pos or at_line_start):
            return self._skip_to_line_end(end)
        return end

    def _skip_to_line_end(self, pos: int) -> int:
        match = _LINE_BREAK.search(self._text, pos)
        return len(self._text) if match is None else match.start()

    def _newline(self, pos: int) -> Token:
        """One ``NEWLINE`` token for a run of line breaks, blank lines and comment lines."""
        text = self._text
        line, column = self.position(pos)
        self._pending_doc = []
        while pos < len(text) and text[pos] in "\r\n":
            pos = _LINE_BREAK.match(text, pos).end()  # type: ignore[union-attr]
            blank = _BLANKS.match(text, pos)
            assert blank is not None
            after = blank.end()
            if after < len(text) and text[after] == "#":
                end = self._skip_to_line_end(after)
                self._pending_doc.append(text[after + 1 : end].strip())
                pos = end
            elif after >= len(text) or text[after] in "\r\n":
                self._pending_doc = []
                pos = after
            else:
                break
        self._pos = pos
        return Token(NEWLINE, "\n", line, column)

    def _take_doc(self) -> str | None:
        if not self._pending_doc:
            return None
        doc = "\n".join(self._pending_doc).strip()
        self._pending_doc = []
        return doc or None

    def _skip_string(self, pos: int) -> int:
        """The offset just past the CEL string literal whose opening quote is at ``pos``."""
        text = self._text
        quote = text[pos]
        delimiter = quote * 3 if text.startswith(quote * 3, pos) else quote
        raw = pos > 0 and text[pos - 1] in "rR"
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
        raise self.error("unterminated string literal in condition expression", pos)
