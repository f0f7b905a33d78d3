"""Type checking of a schema IR against the rules SpiceDB applies when a schema is written.

The rules, and where SpiceDB states them (``pkg/schemadsl/compiler/translator.go``,
``Definition.Validate`` in ``pkg/schema``, the name patterns of
``proto/internal/core/v1/core.proto``):

- names: definitions ``([a-z][a-z0-9_]{1,62}[a-z0-9]/)*[a-z][a-z0-9_]{1,62}[a-z0-9]``,
  relations and permissions ``[a-z][a-z0-9_]{1,62}[a-z0-9]``; definitions and caveats share one
  namespace; relation and permission names are unique within their definition;
- subject types name existing definitions, ``type#rel`` an existing relation or permission,
  ``with caveat`` an existing caveat, and ``with expiration`` needs ``use expiration``; a subject
  type appears once per relation; ``type#rel`` of *another* definition must not reach a wildcard;
- expressions reference existing relations or permissions; an arrow's left side is a relation
  (never a permission) that does not reach a wildcard, directly or through ``type#rel`` subjects;
  an arrow's right side is only checked to be a well-formed name (SpiceDB's validation does not
  look it up on the tupleset's subject types either);
- caveats have at least one parameter, unique parameter names and known parameter types;
- permissions may not refer to themselves through plain references (without an arrow), which
  SpiceDB rejects for alias chains and otherwise fails on at check time.

Every problem is collected; the one earliest in the source is raised.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from clove.errors import CloveInternalError, SchemaError
from clove.schema.ir import (
    ELLIPSIS,
    AllowedSubject,
    Arrow,
    Caveat,
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

# Words the parser never accepts as names.
KEYWORDS = frozenset({"definition", "caveat", "relation", "permission", "nil", "with"})
# Words that become keywords once ``use expiration`` is in effect.
EXPIRATION_KEYWORDS = frozenset({"expiration", "and"})
USE_FLAGS = ("expiration",)

_RELATION_NAME = re.compile(r"[a-z][a-z0-9_]{1,62}[a-z0-9]")
_DEFINITION_NAME = re.compile(r"([a-z][a-z0-9_]{1,62}[a-z0-9]/)*[a-z][a-z0-9_]{1,62}[a-z0-9]")
_CAVEAT_NAME = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9/_|-]{0,127}")
_WORD = re.compile(r"\w+")
_MAX_DEFINITION_NAME_BYTES = 128

_SCALAR_TYPES = frozenset(
    {
        "any",
        "bool",
        "bytes",
        "double",
        "duration",
        "int",
        "ipaddress",
        "string",
        "timestamp",
        "uint",
    }
)
_GENERIC_TYPES = frozenset({"list", "map"})

_RELATION_NAME_RULE = (
    "names must be 3 to 64 characters of a-z, 0-9 and _, start with a letter and end with a"
    " letter or digit"
)


def caveat_type_problem(caveat_type: CaveatType) -> str | None:
    """Why a caveat parameter type is invalid, or None if it is valid (children included)."""
    name = caveat_type.name
    if name in _GENERIC_TYPES:
        if len(caveat_type.args) != 1:
            return f"type `{name}` takes 1 type argument, found {len(caveat_type.args)}"
    elif name in _SCALAR_TYPES:
        if caveat_type.args:
            return f"type `{name}` takes no type arguments"
    else:
        known = ", ".join(sorted(_SCALAR_TYPES | _GENERIC_TYPES))
        return f"unknown caveat parameter type `{name}` (expected one of: {known})"
    for arg in caveat_type.args:
        problem = caveat_type_problem(arg)
        if problem is not None:
            return problem
    return None


def subject_source(subject: AllowedSubject) -> str:
    """A subject type as it is written in a schema, e.g. ``group#member with cav``."""
    text = subject.type
    if subject.wildcard:
        text += ":*"
    elif subject.relation != ELLIPSIS:
        text += f"#{subject.relation}"
    traits = [subject.caveat] if subject.caveat is not None else []
    if subject.expiration:
        traits.append("expiration")
    if traits:
        text += " with " + " and ".join(traits)
    return text


def check_schema(schema: Schema) -> None:
    """Raise ``SchemaError`` for the earliest problem in ``schema``; return if it is valid."""
    _Checker(schema).run()


class _Checker:
    def __init__(self, schema: Schema) -> None:
        self._schema = schema
        self._errors: list[SchemaError] = []
        self._keywords = KEYWORDS | (EXPIRATION_KEYWORDS if schema.use_expiration else frozenset())
        self._definitions: dict[str, Definition] = {}
        self._caveats: dict[str, Caveat] = {}
        self._members: dict[str, dict[str, Relation | Permission]] = {}
        self._wildcards: dict[tuple[str, str], tuple[str, str] | None] = {}

    def run(self) -> None:
        self._check_top_level_names()
        for caveat in self._schema.caveats:
            self._check_caveat(caveat)
        for definition in self._schema.definitions:
            self._check_definition(definition)
        if self._errors:
            # sorted() is stable: among errors without a position, the first found wins.
            raise sorted(self._errors, key=_error_position)[0]

    def _report(self, message: str, span: Span) -> None:
        self._errors.append(SchemaError(message, line=span.line, column=span.column))

    # --- names ---------------------------------------------------------------------------

    def _check_top_level_names(self) -> None:
        for item in in_source_order(self._schema):
            kind = "caveat" if isinstance(item, Caveat) else "definition"
            if item.name in self._definitions or item.name in self._caveats:
                self._report(
                    f"`{item.name}` is defined more than once (definitions and caveats share"
                    " one namespace)",
                    item.span,
                )
                continue
            if isinstance(item, Caveat):
                self._caveats[item.name] = item
                problem = self._caveat_name_problem(item.name)
            else:
                self._definitions[item.name] = item
                self._members[item.name] = _members_of(item)
                problem = self._definition_name_problem(item.name)
            if problem is not None:
                self._report(f"invalid {kind} name `{item.name}`: {problem}", item.span)

    def _definition_name_problem(self, name: str) -> str | None:
        keyword = self._keyword_in_path(name)
        if keyword is not None:
            return f"`{keyword}` is a keyword"
        if (
            _DEFINITION_NAME.fullmatch(name) is None
            or len(name.encode()) > _MAX_DEFINITION_NAME_BYTES
        ):
            return (
                "each /-separated part must be 3 to 64 characters of a-z, 0-9 and _, start"
                " with a letter and end with a letter or digit (at most 128 bytes in all)"
            )
        return None

    def _caveat_name_problem(self, name: str) -> str | None:
        keyword = self._keyword_in_path(name)
        if keyword is not None:
            return f"`{keyword}` is a keyword"
        if _CAVEAT_NAME.fullmatch(name) is None or not all(
            _WORD.fullmatch(part) for part in name.split("/")
        ):
            return "use letters, digits and _, with / between prefix parts (at most 128 characters)"
        return None

    def _member_name_problem(self, name: str) -> str | None:
        if name in self._keywords:
            return f"`{name}` is a keyword"
        if _RELATION_NAME.fullmatch(name) is None:
            return _RELATION_NAME_RULE
        return None

    def _keyword_in_path(self, name: str) -> str | None:
        for part in name.split("/"):
            if part in self._keywords:
                return part
        return None

    # --- caveats -------------------------------------------------------------------------

    def _check_caveat(self, caveat: Caveat) -> None:
        if not caveat.parameters:
            self._report(f"caveat `{caveat.name}` must have at least one parameter", caveat.span)
        seen: set[str] = set()
        for parameter in caveat.parameters:
            name = parameter.name
            if name in seen:
                self._report(
                    f"duplicate parameter `{name}` on caveat `{caveat.name}`", parameter.span
                )
                continue
            seen.add(name)
            if name in self._keywords or _WORD.fullmatch(name) is None:
                self._report(
                    f"invalid parameter name `{name}` on caveat `{caveat.name}`", parameter.span
                )
            problem = caveat_type_problem(parameter.type)
            if problem is not None:
                self._report(
                    f"invalid type for parameter `{name}` of caveat `{caveat.name}`: {problem}",
                    parameter.span,
                )
        if not caveat.expression.strip():
            self._report(f"caveat `{caveat.name}` has an empty expression", caveat.span)

    # --- definitions ---------------------------------------------------------------------

    def _check_definition(self, definition: Definition) -> None:
        if self._definitions.get(definition.name) is not definition:
            return  # a duplicate, already reported
        seen: set[str] = set()
        for member in _members_in_source_order(definition):
            kind = "relation" if isinstance(member, Relation) else "permission"
            if member.name in seen:
                self._report(
                    f"duplicate relation/permission name `{member.name}` under definition"
                    f" `{definition.name}`",
                    member.span,
                )
                continue
            seen.add(member.name)
            problem = self._member_name_problem(member.name)
            if problem is not None:
                self._report(f"invalid {kind} name `{member.name}`: {problem}", member.span)
        for relation in definition.relations:
            self._check_relation(definition, relation)
        for permission in definition.permissions:
            self._check_expression(definition, permission, permission.expression)
        self._check_cycles(definition)

    def _check_relation(self, definition: Definition, relation: Relation) -> None:
        where = f"relation `{definition.name}#{relation.name}`"
        if not relation.allowed:
            self._report(f"{where} must allow at least one subject type", relation.span)
        sources: set[str] = set()
        for subject in relation.allowed:
            source = subject_source(subject)
            if source in sources:
                self._report(f"duplicate subject type `{source}` on {where}", subject.span)
                continue
            sources.add(source)
            self._check_subject(definition, subject, where)

    def _check_subject(self, definition: Definition, subject: AllowedSubject, where: str) -> None:
        if subject.type not in self._definitions:
            self._report(
                f"definition `{subject.type}` not found (subject type of {where})", subject.span
            )
        elif subject.wildcard:
            if subject.relation != ELLIPSIS:
                self._report(
                    f"wildcard subject type `{subject.type}:*` cannot name a relation ({where})",
                    subject.span,
                )
        elif subject.relation != ELLIPSIS:
            if subject.relation not in self._members[subject.type]:
                self._report(
                    f"relation/permission `{subject.relation}` not found under definition"
                    f" `{subject.type}` (subject type of {where})",
                    subject.span,
                )
            elif subject.type != definition.name:
                # SpiceDB only applies this rule to subject relations of other definitions.
                found = self._wildcard_reached_by(subject.type, subject.relation)
                if found is not None:
                    wildcard_type, via = found
                    self._report(
                        f"for {where}: relation/permission `{subject.type}#{subject.relation}`"
                        f" includes wildcard type `{wildcard_type}` via relation `{via}`:"
                        " wildcard relations cannot be transitively included",
                        subject.span,
                    )
        needs_flag = subject.expiration or (
            subject.caveat == "expiration" and "expiration" not in self._caveats
        )
        if needs_flag and not self._schema.use_expiration:
            self._report(
                f"`with expiration` needs `use expiration` at the top of the schema ({where})",
                subject.span,
            )
        elif subject.caveat is not None and subject.caveat not in self._caveats:
            self._report(
                f"caveat `{subject.caveat}` not found (subject type of {where})", subject.span
            )

    def _wildcard_reached_by(self, definition: str, relation: str) -> tuple[str, str] | None:
        """The wildcard type a relation can hold, directly or through ``type#rel`` subjects.

        Returns ``(wildcard type, "definition#relation" allowing it)``, found depth first in
        the order subject types are written, or None.
        """
        key = (definition, relation)
        if key not in self._wildcards:
            self._wildcards[key] = self._search_wildcard(definition, relation)
        return self._wildcards[key]

    def _search_wildcard(self, definition: str, relation: str) -> tuple[str, str] | None:
        encountered = {(definition, relation)}
        stack: list[tuple[str, Iterator[AllowedSubject]]] = [
            (f"{definition}#{relation}", self._allowed_subjects(definition, relation))
        ]
        while stack:
            reference, subjects = stack[-1]
            subject = next(subjects, None)
            if subject is None:
                stack.pop()
                continue
            if subject.wildcard:
                return subject.type, reference
            key = (subject.type, subject.relation)
            if subject.relation != ELLIPSIS and key not in encountered:
                encountered.add(key)
                stack.append(
                    (
                        f"{subject.type}#{subject.relation}",
                        self._allowed_subjects(subject.type, subject.relation),
                    )
                )
        return None

    def _allowed_subjects(self, definition: str, relation: str) -> Iterator[AllowedSubject]:
        member = self._members.get(definition, {}).get(relation)
        return iter(member.allowed if isinstance(member, Relation) else ())

    # --- permissions ---------------------------------------------------------------------

    def _check_expression(
        self, definition: Definition, permission: Permission, expression: Expression
    ) -> None:
        members = self._members[definition.name]
        match expression:
            case Union(children=children) | Intersection(children=children):
                if not children:
                    kind = "union" if isinstance(expression, Union) else "intersection"
                    self._report(
                        f"empty {kind} in permission `{definition.name}#{permission.name}`",
                        expression.span,
                    )
                for child in children:
                    self._check_expression(definition, permission, child)
            case Exclusion(base=base, subtracted=subtracted):
                self._check_expression(definition, permission, base)
                self._check_expression(definition, permission, subtracted)
            case RelationRef(name=name):
                if name not in members:
                    self._report(
                        f"relation/permission `{name}` not found under definition"
                        f" `{definition.name}` (in permission `{permission.name}`)",
                        expression.span,
                    )
            case Arrow(tupleset=tupleset, target=target):
                self._check_arrow(definition, permission, expression, members.get(tupleset))
                if _RELATION_NAME.fullmatch(target) is None:
                    self._report(
                        f"invalid arrow target `{target}` in permission `{permission.name}`:"
                        f" {_RELATION_NAME_RULE}",
                        expression.span,
                    )
            case Nil():
                pass
            case _:
                raise CloveInternalError(f"unknown expression node {expression!r}")

    def _check_arrow(
        self,
        definition: Definition,
        permission: Permission,
        arrow: Arrow,
        tupleset: Relation | Permission | None,
    ) -> None:
        if tupleset is None:
            self._report(
                f"relation `{arrow.tupleset}` not found under definition `{definition.name}`"
                f" (left side of an arrow in permission `{permission.name}`)",
                arrow.span,
            )
        elif isinstance(tupleset, Permission):
            self._report(
                f"under permission `{permission.name}` of definition `{definition.name}`:"
                " permissions cannot be used on the left hand side of an arrow"
                f" (found `{arrow.tupleset}`)",
                arrow.span,
            )
        else:
            found = self._wildcard_reached_by(definition.name, arrow.tupleset)
            if found is not None:
                wildcard_type, via = found
                self._report(
                    f"for arrow under permission `{permission.name}`: relation"
                    f" `{definition.name}#{arrow.tupleset}` includes wildcard type"
                    f" `{wildcard_type}` via relation `{via}`: wildcard relations cannot be used"
                    " on the left side of arrows",
                    arrow.span,
                )

    def _check_cycles(self, definition: Definition) -> None:
        """Report the first cycle of permissions referring to each other without an arrow."""
        permissions = {permission.name for permission in definition.permissions}
        edges = {
            permission.name: [
                ref for ref in _plain_references(permission.expression) if ref.name in permissions
            ]
            for permission in definition.permissions
        }
        done: set[str] = set()
        for start, references in edges.items():
            if start in done:
                continue
            path = [start]
            on_path = {start}
            stack = [iter(references)]
            while stack:
                ref = next(stack[-1], None)
                if ref is None:
                    stack.pop()
                    finished = path.pop()
                    on_path.discard(finished)
                    done.add(finished)
                    continue
                if ref.name in on_path:
                    cycle = [*path[path.index(ref.name) :], ref.name]
                    self._report(
                        f"under definition `{definition.name}`, there exists a cycle in"
                        f" permissions: {' -> '.join(cycle)} (permissions may only refer to"
                        " themselves through an arrow)",
                        ref.span,
                    )
                    return
                if ref.name not in done:
                    path.append(ref.name)
                    on_path.add(ref.name)
                    stack.append(iter(edges[ref.name]))


def _plain_references(expression: Expression) -> Iterator[RelationRef]:
    """The relation references of an expression that are not behind an arrow."""
    match expression:
        case Union(children=children) | Intersection(children=children):
            for child in children:
                yield from _plain_references(child)
        case Exclusion(base=base, subtracted=subtracted):
            yield from _plain_references(base)
            yield from _plain_references(subtracted)
        case RelationRef():
            yield expression
        case Arrow() | Nil():
            pass
        case _:
            raise CloveInternalError(f"unknown expression node {expression!r}")


def _members_of(definition: Definition) -> dict[str, Relation | Permission]:
    members: dict[str, Relation | Permission] = {}
    for member in _members_in_source_order(definition):
        members.setdefault(member.name, member)
    return members


def _members_in_source_order(definition: Definition) -> list[Relation | Permission]:
    members: list[Relation | Permission] = [*definition.relations, *definition.permissions]
    if all(member.span.line for member in members):
        members.sort(key=lambda member: (member.span.line, member.span.column))
    return members


def in_source_order(schema: Schema) -> list[Caveat | Definition]:
    """Caveats and definitions in the order they were written (caveats first if unknown)."""
    items: list[Caveat | Definition] = [*schema.caveats, *schema.definitions]
    if all(item.span.line for item in items):
        items.sort(key=lambda item: (item.span.line, item.span.column))
    return items


def _error_position(error: SchemaError) -> tuple[bool, int, int]:
    return (error.line == 0, error.line, error.column)
