"""The protobuf text format as Zanzibar namespace configs use it: fields, blocks, comments.

This layer knows nothing of namespaces: it turns text into a tree of ``Field``s, each with
the position of its name, and reports unbalanced braces and stray tokens. ``_parser`` gives
the tree its meaning. Accepted, as in protobuf's text format: ``name: value`` and
``name { ... }`` (also ``name: { ... }``), fields optionally ended by ``;`` or ``,``, strings
in double or single quotes with backslash escapes, and ``#`` comments to the end of a line.
``$NAME`` placeholders (``$TUPLE_USERSET_OBJECT``) are values of their own kind.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from clove.errors import SchemaError
from clove.schema.ir import Span

_TOKEN = re.compile(
    r"""
    (?P<space>[ \t\r\n\f]+)
    | (?P<comment>\#[^\n]*)
    | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<placeholder>\$[A-Za-z_][A-Za-z0-9_]*)
    | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
    | (?P<open>\{)
    | (?P<close>\})
    | (?P<colon>:)
    | (?P<separator>[;,])
    """,
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'"}


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    text: str
    span: Span


@dataclass(frozen=True, slots=True)
class Placeholder:
    """A ``$NAME`` value."""

    name: str


@dataclass(frozen=True, slots=True)
class Word:
    """An unquoted value (protobuf's enum names and ``true``/``false``)."""

    text: str


@dataclass(frozen=True, slots=True)
class Message:
    """A ``{ ... }`` block: its fields in order, and where its ``}`` is."""

    fields: tuple[Field, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Field:
    """``name: value`` or ``name { ... }``; ``span`` is where the name starts."""

    name: str
    value: str | Word | Placeholder | Message
    span: Span
    value_span: Span


def parse_text_proto(text: str) -> Message:
    """The top-level fields of ``text``; raises ``SchemaError`` with line:column."""
    return _Reader(tokenize(text)).message_body(top_level=True)


def tokenize(text: str) -> list[Token]:
    """The tokens of ``text`` without spaces and comments, ending with an ``end`` token."""
    tokens: list[Token] = []
    line, line_start, position = 1, 0, 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        span = Span(line=line, column=position - line_start + 1)
        if match is None:
            raise _unexpected_character(text, position, span)
        kind = match.lastgroup or ""
        if kind not in ("space", "comment"):
            tokens.append(Token(kind, match.group(), span))
        for offset, char in enumerate(match.group()):
            if char == "\n":
                line, line_start = line + 1, position + offset + 1
        position = match.end()
    tokens.append(Token("end", "", Span(line=line, column=position - line_start + 1)))
    return tokens


def _unexpected_character(text: str, position: int, span: Span) -> SchemaError:
    char = text[position]
    if char in "\"'":
        return SchemaError("unterminated string", line=span.line, column=span.column)
    return SchemaError(f"unexpected character {char!r}", line=span.line, column=span.column)


def _unquote(token: Token) -> str:
    body = token.text[1:-1]
    out: list[str] = []
    index = 0
    while index < len(body):
        char = body[index]
        if char == "\\":
            escaped = body[index + 1]
            if escaped not in _ESCAPES:
                column = token.span.column + index + 1
                raise SchemaError(
                    f"unknown escape sequence `\\{escaped}` in a string",
                    line=token.span.line,
                    column=column,
                )
            out.append(_ESCAPES[escaped])
            index += 2
        else:
            out.append(char)
            index += 1
    return "".join(out)


class _Reader:
    def __init__(self, tokens: list[Token]) -> None:
        self._tokens = tokens
        self._index = 0

    def _peek(self) -> Token:
        return self._tokens[self._index]

    def _next(self) -> Token:
        token = self._tokens[self._index]
        self._index += 1
        return token

    def message_body(self, *, top_level: bool, opened: Token | None = None) -> Message:
        fields: list[Field] = []
        while True:
            token = self._peek()
            if token.kind == "end":
                if opened is not None:
                    raise SchemaError(
                        "`{` is never closed", line=opened.span.line, column=opened.span.column
                    )
                return Message(tuple(fields), token.span)
            if token.kind == "close":
                if top_level:
                    raise SchemaError(
                        "unexpected `}`: no block is open",
                        line=token.span.line,
                        column=token.span.column,
                    )
                self._next()
                return Message(tuple(fields), token.span)
            fields.append(self.field())

    def field(self) -> Field:
        name = self._next()
        if name.kind != "word":
            raise _expected("a field name", name)
        token = self._peek()
        colon = token.kind == "colon"
        if colon:
            self._next()
            token = self._peek()
        value: str | Word | Placeholder | Message
        if token.kind == "open":
            self._next()
            value = self.message_body(top_level=False, opened=token)
        elif not colon:
            raise _expected(f"`:` or `{{` after `{name.text}`", token)
        elif token.kind == "string":
            value = _unquote(self._next())
        elif token.kind == "placeholder":
            value = Placeholder(self._next().text)
        elif token.kind == "word":
            value = Word(self._next().text)
        else:
            raise _expected(f"a value for `{name.text}`", token)
        if self._peek().kind == "separator":
            self._next()
        return Field(name.text, value, name.span, token.span)


def _expected(what: str, token: Token) -> SchemaError:
    found = "the end of the text" if token.kind == "end" else f"`{token.text}`"
    return SchemaError(
        f"expected {what}, found {found}", line=token.span.line, column=token.span.column
    )
