"""Recursive-descent parser for the OpenFGA DSL: one method per grammar rule.

Grammar (after OpenFGA's ``OpenFGAParser.g4``; NL is one or more line breaks)::

    file            = [NL] ( model_header | module_header ) { NL type_def } { NL condition } [NL]
    model_header    = "model" NL "schema" VERSION
    module_header   = "module" NAME
    type_def        = [ "extend" ] "type" NAME [ NL "relations" { NL relation_decl }+ ]
    relation_decl   = "define" NAME ":" relation_def
    relation_def    = ( direct | rewrite | "(" relation_def ")" ) [ partials ]
    relation_def_nd = ( rewrite | "(" relation_def_nd ")" ) [ partials ]
    partials        = { "or" operand }+ | { "and" operand }+ | "but not" operand
    operand         = rewrite | "(" relation_def_nd ")"
    rewrite         = NAME [ "from" NAME ]
    direct          = "[" restriction { "," restriction } "]"        (line breaks allowed inside)
    restriction     = NAME [ ":" "*" | "#" NAME ] [ "with" NAME ]
    condition       = "condition" NAME "(" parameter { "," parameter } ")" "{" CEL "}"
    parameter       = NAME ":" ( SCALAR | ( "map" | "list" ) "<" SCALAR ">" )

Unlike SpiceDB's, this grammar has no operator precedence: one level of an expression uses one
operator (``a or b and c`` is an error; write ``a or (b and c)``), ``but not`` takes exactly one
operand on each side, and the direct type restriction ``[...]`` may only come first. A chain
``a or b or c`` becomes one n-ary node; parentheses keep their own node.

NAME is a word other than the words OpenFGA's lexer reserves for operators and keywords
(``and``, ``or``, ``from``, ``define``, ...); ``type``, ``model``, ``module``, ``schema``,
``extend`` and ``relation`` are names where a name is expected, as in OpenFGA.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from clove.errors import SchemaError
from clove.schema.ir import (
    AllowedSubject,
    Arrow,
    Caveat,
    CaveatParameter,
    CaveatType,
    Definition,
    Exclusion,
    Expression,
    Intersection,
    Permission,
    Relation,
    RelationRef,
    Span,
    This,
    Union,
)
from clove.schema.openfga._lexer import BUT_NOT, EOF, NEWLINE, VERSION, WORD, Lexer, Token
from clove.schema.openfga._source_map import Location, SourceMap

# Words OpenFGA's lexer turns into operator, keyword or CEL tokens: never names.
RESERVED_WORDS = frozenset(
    {"and", "or", "from", "define", "relations", "condition", "with", "in"}
    | {"true", "false", "null"}
)
CONDITION_SCALAR_TYPES = frozenset(
    {"bool", "string", "int", "uint", "double", "duration", "timestamp", "ipaddress"}
)
CONDITION_CONTAINER_TYPES = frozenset({"map", "list"})

# Parenthesised expressions nest at most this deep (keeps recursion far from Python's limit).
_MAX_NESTING = 100

_OPERATOR_WORDS = {"or": "or", "and": "and"}


@dataclass(frozen=True, slots=True)
class TypeBlock:
    """One ``type`` (or ``extend type``) block of a file."""

    definition: Definition
    extend: bool


@dataclass(slots=True)
class ParsedFile:
    """What one DSL file declares, before files are combined and the model is validated."""

    kind: Literal["model", "module"]
    # The schema version of a model, or the name of a module, and where it is written.
    header: str
    header_span: Span
    types: list[TypeBlock] = field(default_factory=list)
    conditions: list[Caveat] = field(default_factory=list)
    source_map: SourceMap = field(default_factory=SourceMap)


def parse_file(text: str, *, file: str = "") -> ParsedFile:
    """Parse one DSL file (a model or a module) into IR pieces and their locations."""
    return _Parser(text, file)._parse_file()


def _span(token: Token) -> Span:
    return Span(line=token.line, column=token.column)


class _Parser:
    def __init__(self, text: str, file: str) -> None:
        self._file = file
        self._lexer = Lexer(text, file=file)
        self._token = self._lexer.next()
        self._map = SourceMap()
        self._nesting = 0
        self._lookahead: Token | None = None
        # The ``[...]`` of the define being parsed (at most one per define).
        self._direct: tuple[AllowedSubject, ...] | None = None

    # --- token helpers -----------------------------------------------------------------------

    def _advance(self) -> Token:
        token = self._token
        if self._lookahead is not None:
            self._token, self._lookahead = self._lookahead, None
        else:
            self._token = self._lexer.next()
        return token

    def _peek_at_word(self, word: str) -> bool:
        """Whether the token after the current one is the word ``word``."""
        if self._lookahead is None:
            self._lookahead = self._lexer.next()
        return self._lookahead.kind == WORD and self._lookahead.text == word

    def _at(self, kind: str) -> bool:
        return self._token.kind == kind

    def _at_word(self, word: str) -> bool:
        return self._token.kind == WORD and self._token.text == word

    def _error(self, message: str, token: Token | None = None) -> SchemaError:
        token = token or self._token
        return SchemaError(message, line=token.line, column=token.column, file=self._file)

    def _unexpected(self, expected: str) -> SchemaError:
        token = self._token
        if token.kind == WORD and token.text in RESERVED_WORDS:
            return self._error(f"expected {expected}, found keyword `{token.text}`")
        return self._error(f"expected {expected}, found {token.describe()}")

    def _expect(self, kind: str) -> Token:
        if not self._at(kind):
            raise self._unexpected(f"`{kind}`")
        return self._advance()

    def _expect_word(self, word: str) -> Token:
        if not self._at_word(word):
            raise self._unexpected(f"`{word}`")
        return self._advance()

    def _expect_name(self, what: str) -> Token:
        token = self._token
        if token.kind != WORD:
            raise self._unexpected(what)
        if token.text in RESERVED_WORDS:
            raise self._error(f"`{token.text}` is a keyword and cannot be used as {what}")
        return self._advance()

    def _expect_line_end(self, after: str) -> None:
        if not (self._at(NEWLINE) or self._at(EOF)):
            raise self._unexpected(f"end of line after {after}")

    def _skip_newlines(self) -> None:
        while self._at(NEWLINE):
            self._advance()

    def _note(self, node: object, token: Token, part: str = "") -> None:
        self._map.note(node, Location(file=self._file, span=_span(token)), part)

    # --- file structure ----------------------------------------------------------------------

    def _parse_file(self) -> ParsedFile:
        self._skip_newlines()
        if self._at_word("model"):
            parsed = self._parse_model_header()
        elif self._at_word("module"):
            parsed = self._parse_module_header()
        else:
            raise self._unexpected("`model` or `module`")
        parsed.source_map = self._map
        seen_condition = False
        while not self._at(EOF):
            self._expect(NEWLINE)
            self._skip_newlines()
            if self._at(EOF):
                break
            if self._at_word("type") or self._at_word("extend"):
                if seen_condition:
                    raise self._error("types must come before conditions")
                parsed.types.append(self._parse_type_def())
            elif self._at_word("condition"):
                seen_condition = True
                parsed.conditions.append(self._parse_condition())
            else:
                raise self._unexpected("`type` or `condition`")
        return parsed

    def _parse_model_header(self) -> ParsedFile:
        self._expect_word("model")
        if not self._at(NEWLINE):
            raise self._unexpected("a line break after `model`")
        self._skip_newlines()
        self._expect_word("schema")
        if not self._at(VERSION):
            raise self._unexpected("a schema version such as `1.1`")
        version = self._advance()
        self._expect_line_end("the schema version")
        return ParsedFile(kind="model", header=version.text, header_span=_span(version))

    def _parse_module_header(self) -> ParsedFile:
        self._expect_word("module")
        name = self._expect_name("a module name")
        self._expect_line_end("the module name")
        return ParsedFile(kind="module", header=name.text, header_span=_span(name))

    def _parse_type_def(self) -> TypeBlock:
        doc = self._token.doc
        extend = self._at_word("extend")
        if extend:
            self._advance()
        self._expect_word("type")
        name = self._expect_name("a type name")
        self._expect_line_end("the type name")
        relations: list[Relation] = []
        permissions: list[Permission] = []
        if self._at(NEWLINE) and self._peek_at_word("relations"):
            self._advance()
            self._advance()
            self._expect_line_end("`relations`")
            if not (self._at(NEWLINE) and self._peek_at_word("define")):
                if self._at(NEWLINE):
                    self._advance()
                raise self._unexpected("`define`")
            while self._at(NEWLINE) and self._peek_at_word("define"):
                self._advance()
                member = self._parse_relation_decl()
                if isinstance(member, Relation):
                    relations.append(member)
                else:
                    permissions.append(member)
        definition = Definition(
            name=name.text,
            relations=tuple(relations),
            permissions=tuple(permissions),
            doc=doc,
            span=_span(name),
        )
        self._note(definition, name)
        return TypeBlock(definition=definition, extend=extend)

    # --- relations ---------------------------------------------------------------------------

    def _parse_relation_decl(self) -> Relation | Permission:
        define = self._expect_word("define")
        doc = define.doc
        name = self._expect_name("a relation name")
        self._expect(":")
        self._direct = None
        expression = self._parse_relation_def(direct_allowed=True)
        self._expect_line_end(f"the definition of `{name.text}`")
        direct, self._direct = self._direct, None
        member: Relation | Permission
        if direct is not None:
            rewrite = None if isinstance(expression, This) else expression
            member = Relation(
                name=name.text, allowed=direct, rewrite=rewrite, doc=doc, span=_span(name)
            )
        else:
            member = Permission(name=name.text, expression=expression, doc=doc, span=_span(name))
        self._note(member, name)
        return member

    def _parse_relation_def(self, *, direct_allowed: bool) -> Expression:
        token = self._token
        first: Expression
        if self._at("["):
            if not direct_allowed:
                raise self._error(
                    "a direct type restriction `[...]` may only come first in a definition"
                )
            first = self._parse_direct()
        elif self._at("("):
            first = self._parse_grouping(direct_allowed=direct_allowed)
        else:
            first = self._parse_rewrite()
        return self._parse_partials(first, token)

    def _parse_partials(self, first: Expression, start: Token) -> Expression:
        operator = self._operator()
        if operator is None:
            return first
        children = [first]
        while self._operator() == operator:
            self._advance()
            children.append(self._parse_operand())
            if operator == "but not":
                break
        following = self._operator()
        if following is not None:
            if operator == "but not":
                raise self._error(
                    "`but not` takes one operand on each side; add parentheses to combine it"
                )
            raise self._error(f"cannot mix `{operator}` and `{following}` without parentheses")
        node: Expression
        if operator == "or":
            node = Union(children=tuple(children), span=_span(start))
        elif operator == "and":
            node = Intersection(children=tuple(children), span=_span(start))
        else:
            node = Exclusion(base=children[0], subtracted=children[1], span=_span(start))
        self._note(node, start)
        return node

    def _operator(self) -> str | None:
        token = self._token
        if token.kind == BUT_NOT:
            return "but not"
        if token.kind == WORD:
            return _OPERATOR_WORDS.get(token.text)
        return None

    def _parse_operand(self) -> Expression:
        if self._at("["):
            raise self._error(
                "a direct type restriction `[...]` may only come first in a definition"
            )
        if self._at("("):
            return self._parse_grouping(direct_allowed=False)
        return self._parse_rewrite()

    def _parse_grouping(self, *, direct_allowed: bool) -> Expression:
        open_paren = self._expect("(")
        self._nesting += 1
        if self._nesting > _MAX_NESTING:
            raise self._error(f"parentheses nest deeper than {_MAX_NESTING} levels", open_paren)
        expression = self._parse_relation_def(direct_allowed=direct_allowed)
        self._expect(")")
        self._nesting -= 1
        return expression

    def _parse_rewrite(self) -> Expression:
        name = self._expect_name("a relation name")
        if not self._at_word("from"):
            ref = RelationRef(name=name.text, span=_span(name))
            self._note(ref, name)
            return ref
        self._advance()
        tupleset = self._expect_name("a relation name after `from`")
        arrow = Arrow(tupleset=tupleset.text, target=name.text, span=_span(name))
        self._note(arrow, name)
        self._note(arrow, tupleset, "tupleset")
        return arrow

    def _parse_direct(self) -> This:
        open_bracket = self._expect("[")
        if self._direct is not None:
            raise self._error("a definition may have only one direct type restriction `[...]`")
        subjects = [self._parse_restriction()]
        while self._at(","):
            self._advance()
            subjects.append(self._parse_restriction())
        self._skip_newlines()
        self._expect("]")
        self._direct = tuple(subjects)
        this = This(span=_span(open_bracket))
        self._note(this, open_bracket)
        return this

    def _parse_restriction(self) -> AllowedSubject:
        self._skip_newlines()
        type_token = self._expect_name("a type name")
        relation = "..."
        wildcard = False
        relation_token: Token | None = None
        if self._at(":"):
            self._advance()
            self._expect("*")
            wildcard = True
        elif self._at("#"):
            self._advance()
            relation_token = self._expect_name("a relation name after `#`")
            relation = relation_token.text
        condition: Token | None = None
        if self._at_word("with"):
            self._advance()
            condition = self._expect_name("a condition name after `with`")
        self._skip_newlines()
        subject = AllowedSubject(
            type=type_token.text,
            relation=relation,
            wildcard=wildcard,
            caveat=condition.text if condition else None,
            span=_span(type_token),
        )
        self._note(subject, type_token)
        if relation_token is not None:
            self._note(subject, relation_token, "relation")
        if condition is not None:
            self._note(subject, condition, "condition")
        return subject

    # --- conditions --------------------------------------------------------------------------

    def _parse_condition(self) -> Caveat:
        doc = self._token.doc
        self._expect_word("condition")
        name = self._expect_name("a condition name")
        self._expect("(")
        parameters = [self._parse_parameter()]
        self._skip_newlines()
        while self._at(","):
            self._advance()
            parameters.append(self._parse_parameter())
            self._skip_newlines()
        self._expect(")")
        if not self._at("{"):
            raise self._unexpected("`{`")
        body = self._lexer.scan_condition_body()
        self._token = self._lexer.next()
        self._expect("}")
        self._expect_line_end("the condition")
        caveat = Caveat(
            name=name.text,
            parameters=tuple(parameters),
            expression=body.expression,
            doc=doc,
            span=_span(name),
            expression_span=Span(line=body.line, column=body.column),
        )
        self._note(caveat, name)
        return caveat

    def _parse_parameter(self) -> CaveatParameter:
        self._skip_newlines()
        name = self._expect_name("a parameter name")
        self._expect(":")
        parameter_type = self._parse_parameter_type()
        parameter = CaveatParameter(name=name.text, type=parameter_type, span=_span(name))
        self._note(parameter, name)
        return parameter

    def _parse_parameter_type(self) -> CaveatType:
        token = self._token
        if token.kind == WORD and token.text in CONDITION_SCALAR_TYPES:
            self._advance()
            return CaveatType(name=token.text)
        if token.kind == WORD and token.text in CONDITION_CONTAINER_TYPES:
            self._advance()
            self._expect("<")
            element = self._token
            if element.kind != WORD or element.text not in CONDITION_SCALAR_TYPES:
                raise self._unexpected(f"the element type of `{token.text}`")
            self._advance()
            self._expect(">")
            return CaveatType(name=token.text, args=(CaveatType(name=element.text),))
        if token.kind == WORD:
            known = ", ".join(sorted(CONDITION_SCALAR_TYPES | CONDITION_CONTAINER_TYPES))
            raise self._error(f"unknown parameter type `{token.text}` (expected one of {known})")
        raise self._unexpected("a parameter type")
