"""Recursive-descent parser for the SpiceDB schema language: one method per grammar rule.

Grammar (``;`` may end any statement; newlines mean nothing)::

    schema          = { use_directive | definition | caveat }
    use_directive   = "use" IDENT                          (before any definition or caveat)
    definition      = "definition" type_path "{" { relation | permission } "}"
    type_path       = IDENT { "/" IDENT }
    relation        = "relation" IDENT ":" allowed_subject { "|" allowed_subject }
    allowed_subject = type_path [ ":" "*" | "#" ( IDENT | "..." ) ]
                      [ "with" ( type_path [ "and" "expiration" ] | "expiration" ) ]
    permission      = "permission" IDENT "=" expression
    expression      = exclusion
    exclusion       = intersection { "-" intersection }
    intersection    = union { "&" union }
    union           = arrow { "+" arrow }
    arrow           = "(" expression ")" | "nil"
                    | IDENT [ "->" IDENT | "." ( "any" | "all" ) "(" IDENT ")" ]
    caveat          = "caveat" type_path "(" parameter { "," parameter } ")" "{" CEL "}"
    parameter       = IDENT caveat_type
    caveat_type     = IDENT [ "<" caveat_type { "," caveat_type } ">" ]

Precedence and associativity follow SpiceDB's parser (``pkg/schemadsl/parser/parser.go``, whose
operator table ``-``, ``&``, ``+`` is nested so that ``+`` binds tightest and ``-`` loosest): all
three operators are left-associative, so ``a - b + c`` is ``a - (b + c)`` and ``a + b & c`` is
``(a + b) & c``. Like SpiceDB's compiler, chains of ``+`` and of ``&`` (parenthesised or not)
collapse into one n-ary node; ``-`` stays binary.
"""

from __future__ import annotations

from typing import Literal

from clove.errors import SchemaError
from clove.schema.ir import (
    ELLIPSIS,
    AllowedSubject,
    Arrow,
    Caveat,
    CaveatParameter,
    CaveatType,
    Definition,
    Exclusion,
    Expression,
    Intersection,
    Nil,
    Permission,
    Relation,
    RelationRef,
    Schema,
    Span,
    Union,
)
from clove.schema.spicedb._checker import (
    EXPIRATION_KEYWORDS,
    KEYWORDS,
    USE_FLAGS,
    caveat_type_problem,
)
from clove.schema.spicedb._lexer import EOF, IDENT, Lexer, Token

# Parenthesised expressions nest at most this deep (keeps recursion far from Python's limit).
_MAX_NESTING = 100


def parse(text: str) -> Schema:
    """Parse schema text into IR without type checking it."""
    return _Parser(text)._parse_schema()


def _span(token: Token) -> Span:
    return Span(line=token.line, column=token.column)


class _Parser:
    def __init__(self, text: str) -> None:
        self._lexer = Lexer(text)
        self._token = self._lexer.next()
        self._keywords = KEYWORDS
        self._flags: set[str] = set()
        self._seen_definition = False
        self._nesting = 0

    # --- token helpers -------------------------------------------------------------------

    def _advance(self) -> Token:
        token = self._token
        self._token = self._lexer.next()
        return token

    def _at(self, kind: str) -> bool:
        return self._token.kind == kind

    def _at_keyword(self, word: str) -> bool:
        token = self._token
        return token.kind == IDENT and token.text == word and word in self._keywords

    def _error(self, message: str, token: Token | None = None) -> SchemaError:
        token = token or self._token
        return SchemaError(message, line=token.line, column=token.column)

    def _unexpected(self, expected: str) -> SchemaError:
        token = self._token
        if token.kind == IDENT and token.text in self._keywords:
            return self._error(f"expected {expected}, found keyword `{token.text}`")
        return self._error(f"expected {expected}, found {token.describe()}")

    def _expect(self, kind: str) -> Token:
        if not self._at(kind):
            raise self._unexpected(f"`{kind}`")
        return self._advance()

    def _expect_name(self, what: str) -> Token:
        """An identifier that is not a keyword."""
        if not self._at(IDENT) or self._token.text in self._keywords:
            raise self._unexpected(what)
        return self._advance()

    def _skip_semicolons(self) -> None:
        while self._at(";"):
            self._advance()

    # --- grammar rules -------------------------------------------------------------------

    def _parse_schema(self) -> Schema:
        definitions: list[Definition] = []
        caveats: list[Caveat] = []
        while True:
            self._skip_semicolons()
            if self._at(EOF):
                break
            if self._at_keyword("definition"):
                definitions.append(self._parse_definition())
            elif self._at_keyword("caveat"):
                caveats.append(self._parse_caveat())
            elif self._at(IDENT) and self._token.text == "use":
                self._parse_use_directive()
            else:
                raise self._unexpected("`definition`, `caveat` or `use`")
        return Schema(
            definitions=tuple(definitions),
            caveats=tuple(caveats),
            use_expiration="expiration" in self._flags,
        )

    def _parse_use_directive(self) -> None:
        use = self._advance()
        if not self._at(IDENT):
            raise self._unexpected("a feature name after `use`")
        flag = self._advance()
        if self._seen_definition:
            raise self._error("`use` must come before any definition or caveat", use)
        if flag.text not in USE_FLAGS:
            options = ", ".join(USE_FLAGS)
            raise self._error(f"unknown use flag `{flag.text}` (options are: {options})", flag)
        if flag.text in self._flags:
            raise self._error(f"duplicate `use {flag.text}`", use)
        self._flags.add(flag.text)
        self._keywords = self._keywords | EXPIRATION_KEYWORDS

    def _parse_type_path(self, what: str) -> tuple[str, Token]:
        first = self._expect_name(what)
        parts = [first.text]
        while self._at("/"):
            self._advance()
            parts.append(self._expect_name(what).text)
        return "/".join(parts), first

    def _parse_definition(self) -> Definition:
        keyword = self._advance()
        self._seen_definition = True
        name, name_token = self._parse_type_path("a definition name")
        self._expect("{")
        relations: list[Relation] = []
        permissions: list[Permission] = []
        while True:
            self._skip_semicolons()
            if self._at("}"):
                self._advance()
                break
            if self._at_keyword("relation"):
                relations.append(self._parse_relation())
            elif self._at_keyword("permission"):
                permissions.append(self._parse_permission())
            else:
                raise self._unexpected("`relation`, `permission` or `}`")
        return Definition(
            name=name,
            relations=tuple(relations),
            permissions=tuple(permissions),
            doc=keyword.doc,
            span=_span(name_token),
        )

    def _parse_relation(self) -> Relation:
        keyword = self._advance()
        name = self._expect_name("a relation name")
        self._expect(":")
        allowed = [self._parse_allowed_subject()]
        while self._at("|"):
            self._advance()
            allowed.append(self._parse_allowed_subject())
        return Relation(name=name.text, allowed=tuple(allowed), doc=keyword.doc, span=_span(name))

    def _parse_allowed_subject(self) -> AllowedSubject:
        type_name, type_token = self._parse_type_path("a subject type")
        relation = ELLIPSIS
        wildcard = False
        if self._at(":"):
            self._advance()
            self._expect("*")
            wildcard = True
        elif self._at("#"):
            self._advance()
            if self._at("..."):
                self._advance()
            else:
                relation = self._expect_name("a subject relation or `...`").text
        caveat: str | None = None
        expiration = False
        if self._at_keyword("with"):
            self._advance()
            if self._at_keyword("expiration"):
                self._advance()
                expiration = True
                if self._at_keyword("and"):
                    raise self._error(
                        "the caveat comes before `expiration`: write `with some_caveat and"
                        " expiration`"
                    )
            else:
                caveat, _ = self._parse_type_path("a caveat name or `expiration`")
                if self._at(IDENT) and self._token.text == "and":
                    if not self._at_keyword("and"):
                        raise self._error(
                            "`and expiration` needs `use expiration` at the top of the schema"
                        )
                    self._advance()
                    if not self._at_keyword("expiration"):
                        raise self._unexpected("`expiration` after `and`")
                    self._advance()
                    expiration = True
        return AllowedSubject(
            type=type_name,
            relation=relation,
            wildcard=wildcard,
            caveat=caveat,
            expiration=expiration,
            span=_span(type_token),
        )

    def _parse_permission(self) -> Permission:
        keyword = self._advance()
        name = self._expect_name("a permission name")
        self._expect("=")
        expression = self._parse_expression()
        return Permission(name=name.text, expression=expression, doc=keyword.doc, span=_span(name))

    def _parse_expression(self) -> Expression:
        return self._parse_exclusion()

    def _parse_exclusion(self) -> Expression:
        expression = self._parse_intersection()
        while self._at("-"):
            self._advance()
            subtracted = self._parse_intersection()
            expression = Exclusion(base=expression, subtracted=subtracted, span=expression.span)
        return expression

    def _parse_intersection(self) -> Expression:
        first = self._parse_union()
        if not self._at("&"):
            return first
        children = _flatten(first, Intersection)
        while self._at("&"):
            self._advance()
            children.extend(_flatten(self._parse_union(), Intersection))
        return Intersection(children=tuple(children), span=first.span)

    def _parse_union(self) -> Expression:
        first = self._parse_arrow()
        if not self._at("+"):
            return first
        children = _flatten(first, Union)
        while self._at("+"):
            self._advance()
            children.extend(_flatten(self._parse_arrow(), Union))
        return Union(children=tuple(children), span=first.span)

    def _parse_arrow(self) -> Expression:
        if self._at("("):
            opening = self._advance()
            self._nesting += 1
            if self._nesting > _MAX_NESTING:
                raise self._error(
                    f"expression nests parentheses more than {_MAX_NESTING} deep", opening
                )
            expression = self._parse_expression()
            self._nesting -= 1
            self._expect(")")
            return expression
        if self._at_keyword("nil"):
            return Nil(span=_span(self._advance()))
        name = self._expect_name("a relation or permission name, `nil` or `(`")
        if self._at("->"):
            self._advance()
            target = self._expect_name("a relation or permission name after `->`")
            arrow = Arrow(tupleset=name.text, target=target.text, span=_span(name))
        elif self._at("."):
            self._advance()
            if not (self._at(IDENT) and self._token.text in ("any", "all")):
                raise self._unexpected("`any` or `all` after `.`")
            function: Literal["any", "all"] = "all" if self._advance().text == "all" else "any"
            self._expect("(")
            target = self._expect_name("a relation or permission name")
            self._expect(")")
            arrow = Arrow(
                tupleset=name.text, target=target.text, function=function, span=_span(name)
            )
        else:
            return RelationRef(name=name.text, span=_span(name))
        if self._at("->") or self._at("."):
            raise self._error("nested arrows are not supported")
        return arrow

    def _parse_caveat(self) -> Caveat:
        keyword = self._advance()
        self._seen_definition = True
        name, name_token = self._parse_type_path("a caveat name")
        self._expect("(")
        if self._at(")"):
            raise self._error(f"caveat `{name}` must have at least one parameter")
        parameters = [self._parse_parameter()]
        while self._at(","):
            self._advance()
            parameters.append(self._parse_parameter())
        self._expect(")")
        if not self._at("{"):
            raise self._unexpected("`{`")
        body = self._lexer.scan_caveat_body()
        self._token = self._lexer.next()
        self._expect("}")
        return Caveat(
            name=name,
            parameters=tuple(parameters),
            expression=body.expression,
            doc=keyword.doc,
            span=_span(name_token),
            expression_span=Span(line=body.line, column=body.column),
        )

    def _parse_parameter(self) -> CaveatParameter:
        name = self._expect_name("a parameter name")
        return CaveatParameter(name=name.text, type=self._parse_caveat_type(), span=_span(name))

    def _parse_caveat_type(self) -> CaveatType:
        if not self._at(IDENT):
            raise self._unexpected("a parameter type")
        name = self._advance()
        args: list[CaveatType] = []
        if self._at("<"):
            self._advance()
            args.append(self._parse_caveat_type())
            while self._at(","):
                self._advance()
                args.append(self._parse_caveat_type())
            self._expect(">")
        caveat_type = CaveatType(name=name.text, args=tuple(args))
        problem = caveat_type_problem(caveat_type)
        if problem is not None:
            raise self._error(problem, name)
        return caveat_type


def _flatten(expression: Expression, kind: type[Union] | type[Intersection]) -> list[Expression]:
    """The operands ``expression`` contributes to an n-ary node of ``kind``."""
    if isinstance(expression, kind):
        return list(expression.children)
    return [expression]
