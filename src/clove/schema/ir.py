"""The schema IR: what every front-end compiles to and what the engine evaluates.

Nodes are frozen, keyword-only, slotted dataclasses. Source positions (``span``) are kept for
error messages but take no part in equality, so ``parse(print(ir)) == ir`` holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

# The subject relation written ``#...`` (or left out): the subject object itself.
ELLIPSIS = "..."


@dataclass(frozen=True, slots=True, kw_only=True)
class Span:
    """A 1-based line and column in the source text."""

    line: int
    column: int


NO_SPAN = Span(line=0, column=0)


# --- permission expressions ------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Union:
    """``a + b + ...``: member of any child."""

    children: tuple[Expression, ...]
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Intersection:
    """``a & b & ...``: member of every child."""

    children: tuple[Expression, ...]
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Exclusion:
    """``base - subtracted``: member of ``base`` and not of ``subtracted``."""

    base: Expression
    subtracted: Expression
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class RelationRef:
    """A relation or permission of the same object (a computed userset)."""

    name: str
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Arrow:
    """``tupleset->target`` (``any``) or ``tupleset.all(target)`` (``all``).

    For every subject object of the ``tupleset`` relation, ``target`` is evaluated on that
    object; ``any`` unions the answers, ``all`` intersects them.
    """

    tupleset: str
    target: str
    function: Literal["any", "all"] = "any"
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Nil:
    """``nil``: the empty set."""

    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class This:
    """The relationships stored for the relation being defined.

    Appears only in a ``Relation.rewrite``: OpenFGA's direct type restrictions in
    ``define viewer: [user] or editor`` and Zanzibar's ``_this {}``.
    """

    span: Span = field(default=NO_SPAN, compare=False, repr=False)


Expression = Union | Intersection | Exclusion | RelationRef | Arrow | Nil | This


# --- definitions -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class AllowedSubject:
    """One allowed subject type of a relation, e.g. ``group#member with some_caveat``.

    ``relation`` is ``ELLIPSIS`` for plain objects (``user``), else the subject relation.
    ``wildcard`` is True for ``user:*`` (then ``relation`` is ``ELLIPSIS``).
    """

    type: str
    relation: str = ELLIPSIS
    wildcard: bool = False
    caveat: str | None = None
    expiration: bool = False
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Relation:
    """``relation name: type | type#rel | type:* | type with caveat and expiration``.

    A relation holds stored relationships of the ``allowed`` subject types. ``rewrite``, when
    set, derives its members from an expression in which ``This`` stands for those stored
    relationships (OpenFGA's ``define viewer: [user] or editor``, Zanzibar's
    ``userset_rewrite``); ``None`` means the stored relationships alone. The SpiceDB language
    has no rewrites on relations; it writes them as a relation plus a permission.
    """

    name: str
    allowed: tuple[AllowedSubject, ...]
    rewrite: Expression | None = None
    doc: str | None = field(default=None, compare=False)
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Permission:
    """``permission name = expression``."""

    name: str
    expression: Expression
    doc: str | None = field(default=None, compare=False)
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Definition:
    """``definition name { relations and permissions }``."""

    name: str
    relations: tuple[Relation, ...] = ()
    permissions: tuple[Permission, ...] = ()
    doc: str | None = field(default=None, compare=False)
    span: Span = field(default=NO_SPAN, compare=False, repr=False)

    def relation(self, name: str) -> Relation | None:
        for relation in self.relations:
            if relation.name == name:
                return relation
        return None

    def permission(self, name: str) -> Permission | None:
        for permission in self.permissions:
            if permission.name == name:
                return permission
        return None


# --- caveats ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CaveatType:
    """A caveat parameter type: ``int``, ``list<string>``, ``map<any>`` ...

    ``name`` is one of int, uint, bool, string, double, bytes, duration, timestamp, list, map,
    ipaddress, any; ``args`` holds the element type of ``list`` and ``map``.
    """

    name: str
    args: tuple[CaveatType, ...] = ()

    def __str__(self) -> str:
        if self.args:
            return f"{self.name}<{', '.join(str(arg) for arg in self.args)}>"
        return self.name


@dataclass(frozen=True, slots=True, kw_only=True)
class CaveatParameter:
    name: str
    type: CaveatType
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Caveat:
    """``caveat name(param type, ...) { CEL expression }``.

    ``expression`` is the CEL source, stripped of surrounding whitespace.
    """

    name: str
    parameters: tuple[CaveatParameter, ...]
    expression: str
    doc: str | None = field(default=None, compare=False)
    span: Span = field(default=NO_SPAN, compare=False, repr=False)
    expression_span: Span = field(default=NO_SPAN, compare=False, repr=False)


# --- the whole schema ------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Schema:
    """A whole schema: definitions and caveats in source order.

    ``semantics`` names the engine whose answers the schema's author expects where engines
    differ: ``"openfga"`` (set by the OpenFGA front-end) makes a missing caveat parameter an
    error instead of a conditional answer, and answers usersets and typed wildcards as
    OpenFGA's check, list objects and list users do. It is how a model is read, not what it
    says, so it takes no part in equality: a model converted between languages compares equal.
    """

    definitions: tuple[Definition, ...] = ()
    caveats: tuple[Caveat, ...] = ()
    use_expiration: bool = False
    semantics: Literal["spicedb", "openfga"] = field(default="spicedb", compare=False)

    def definition(self, name: str) -> Definition | None:
        for definition in self.definitions:
            if definition.name == name:
                return definition
        return None

    def caveat(self, name: str) -> Caveat | None:
        for caveat in self.caveats:
            if caveat.name == name:
                return caveat
        return None
