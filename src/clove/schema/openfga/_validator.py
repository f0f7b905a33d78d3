"""The rules OpenFGA applies when an authorization model is written, checked on the IR.

The rules, after OpenFGA's ``pkg/typesystem`` and the validator of ``openfga/language``:

- names: types match ``[^:#@\\s]{1,254}``, relations and conditions ``[^:#@\\s]{1,50}``; no
  type or relation is called ``self`` or ``this``; types, conditions, the relations of one type
  and the parameters of one condition are each unique;
- type restrictions name defined types, ``type#rel`` a relation defined on ``type``, ``with
  cond`` a defined condition; a restriction is not both a wildcard and a userset and appears
  once per relation;
- rewrites name relations of their own type; in ``X from Y`` the tupleset ``Y`` is a relation
  of the same type that is *only* directly assigned (no rewrite) and only to plain types (no
  ``type#rel``, no ``type:*``), and ``X`` is a relation of at least one of those types;
- every relation has an entry point: some stored tuple can make a subject a member of it
  (``define a: b`` with ``define b: a`` has none: OpenFGA calls it a potential loop);
- every condition is used by some type restriction.

The first problem found is raised as a ``SchemaError`` located by the front-end's source map.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from clove.errors import CloveInternalError
from clove.schema.ir import (
    ELLIPSIS,
    AllowedSubject,
    Arrow,
    Definition,
    Exclusion,
    Expression,
    Intersection,
    Nil,
    Permission,
    Relation,
    RelationRef,
    Schema,
    This,
    Union,
)
from clove.schema.openfga._entrypoints import EntryPoints, rewrite_of
from clove.schema.openfga._source_map import SourceMap

_TYPE_NAME = re.compile(r"[^:#@\s]{1,254}")
_RELATION_NAME = re.compile(r"[^:#@\s]{1,50}")
_RESERVED_NAMES = frozenset({"self", "this"})

Member = Relation | Permission


def validate_model(schema: Schema, source_map: SourceMap) -> None:
    """Raise ``SchemaError`` for the first rule ``schema`` breaks."""
    _Validator(schema, source_map).run()


def members_in_source_order(definition: Definition) -> list[Member]:
    """Relations and permissions of a definition, in the order they were written."""
    members: list[Member] = [*definition.relations, *definition.permissions]
    members.sort(key=lambda member: (member.span.line, member.span.column))
    return members


class _Validator:
    def __init__(self, schema: Schema, source_map: SourceMap) -> None:
        self._schema = schema
        self._map = source_map
        self._types: dict[str, dict[str, Member]] = {}
        for definition in schema.definitions:
            members = self._types.setdefault(definition.name, {})
            for member in members_in_source_order(definition):
                members.setdefault(member.name, member)
        self._conditions = {caveat.name for caveat in schema.caveats}

    def run(self) -> None:
        self._check_names_and_duplicates()
        for definition in self._schema.definitions:
            for member in members_in_source_order(definition):
                self._check_member(definition, member)
        self._check_entrypoints()
        self._check_conditions_used()

    # --- names -------------------------------------------------------------------------------

    def _check_names_and_duplicates(self) -> None:
        seen_types: set[str] = set()
        for definition in self._schema.definitions:
            name = definition.name
            if name in _RESERVED_NAMES:
                raise self._map.error("a type cannot be named `self` or `this`", definition)
            if _TYPE_NAME.fullmatch(name) is None:
                raise self._map.error(
                    f"type name `{name}` must be 1 to 254 characters other than `:`, `#`, `@` "
                    "and blanks",
                    definition,
                )
            if name in seen_types:
                raise self._map.error(f"the type `{name}` is defined more than once", definition)
            seen_types.add(name)
            seen_members: set[str] = set()
            for member in members_in_source_order(definition):
                self._check_member_name(definition, member)
                if member.name in seen_members:
                    raise self._map.error(
                        f"the relation `{member.name}` is defined more than once on type `{name}`",
                        member,
                    )
                seen_members.add(member.name)
        seen_conditions: set[str] = set()
        for caveat in self._schema.caveats:
            if _RELATION_NAME.fullmatch(caveat.name) is None:
                raise self._map.error(
                    f"condition name `{caveat.name}` must be 1 to 50 characters other than "
                    "`:`, `#`, `@` and blanks",
                    caveat,
                )
            if caveat.name in seen_conditions:
                raise self._map.error(
                    f"the condition `{caveat.name}` is defined more than once", caveat
                )
            seen_conditions.add(caveat.name)
            seen_parameters: set[str] = set()
            for parameter in caveat.parameters:
                if parameter.name in seen_parameters:
                    raise self._map.error(
                        f"duplicate parameter `{parameter.name}` on condition `{caveat.name}`",
                        parameter,
                    )
                seen_parameters.add(parameter.name)

    def _check_member_name(self, definition: Definition, member: Member) -> None:
        if member.name in _RESERVED_NAMES:
            raise self._map.error("a relation cannot be named `self` or `this`", member)
        if _RELATION_NAME.fullmatch(member.name) is None:
            raise self._map.error(
                f"relation name `{member.name}` of type `{definition.name}` must be 1 to 50 "
                "characters other than `:`, `#`, `@` and blanks",
                member,
            )

    # --- type restrictions and rewrites --------------------------------------------------------

    def _check_member(self, definition: Definition, member: Member) -> None:
        if isinstance(member, Relation):
            if not member.allowed:
                raise self._map.error(
                    f"the assignable relation `{member.name}` must have at least one type",
                    member,
                )
            seen: set[tuple[str, str, bool, str | None]] = set()
            for subject in member.allowed:
                self._check_restriction(definition, member, subject)
                key = (subject.type, subject.relation, subject.wildcard, subject.caveat)
                if key in seen:
                    raise self._map.error(
                        f"the type restriction `{_restriction_text(subject)}` appears more "
                        f"than once in relation `{member.name}`",
                        subject,
                    )
                seen.add(key)
        self._check_expression(definition, member, rewrite_of(member))

    def _check_restriction(
        self, definition: Definition, member: Member, subject: AllowedSubject
    ) -> None:
        where = f"(in relation `{member.name}` of type `{definition.name}`)"
        related = self._types.get(subject.type)
        if related is None:
            raise self._map.error(f"the type `{subject.type}` is not defined {where}", subject)
        if subject.wildcard and subject.relation != ELLIPSIS:
            raise self._map.error(
                f"the type restriction `{_restriction_text(subject)}` cannot be both a "
                f"wildcard and a userset {where}",
                subject,
            )
        if subject.relation != ELLIPSIS and subject.relation not in related:
            raise self._map.error(
                f"`{subject.relation}` is not a relation of type `{subject.type}` {where}",
                subject,
                "relation",
            )
        if subject.caveat is not None and subject.caveat not in self._conditions:
            raise self._map.error(
                f"the condition `{subject.caveat}` is not defined {where}", subject, "condition"
            )

    def _check_expression(
        self, definition: Definition, member: Member, expression: Expression
    ) -> None:
        members = self._types[definition.name]
        match expression:
            case This() | Nil():
                return
            case RelationRef(name=name):
                if name not in members:
                    raise self._map.error(
                        f"the relation `{name}` does not exist on type `{definition.name}`",
                        expression,
                    )
            case Arrow():
                self._check_arrow(definition, expression)
            case Union(children=children) | Intersection(children=children):
                seen: list[Expression] = []
                for child in children:
                    if child in seen:
                        raise self._map.error(
                            f"the same operand appears twice in the definition of `{member.name}`",
                            child,
                        )
                    seen.append(child)
                    self._check_expression(definition, member, child)
            case Exclusion(base=base, subtracted=subtracted):
                self._check_expression(definition, member, base)
                self._check_expression(definition, member, subtracted)
            case _:
                raise CloveInternalError(f"unknown expression {expression!r}")

    def _check_arrow(self, definition: Definition, arrow: Arrow) -> None:
        tupleset = self._types[definition.name].get(arrow.tupleset)
        if tupleset is None:
            raise self._map.error(
                f"the relation `{arrow.tupleset}` does not exist on type `{definition.name}`",
                arrow,
                "tupleset",
            )
        if not isinstance(tupleset, Relation) or tupleset.rewrite is not None:
            raise self._map.error(
                f"`{arrow.tupleset}` relation used inside `from` must be a direct relation "
                "(only `[...]` type restrictions, no rewrite)",
                arrow,
                "tupleset",
            )
        for subject in tupleset.allowed:
            if subject.wildcard or subject.relation != ELLIPSIS:
                raise self._map.error(
                    f"`{arrow.tupleset}` relation used inside `from` may only allow plain types, "
                    f"not `{_restriction_text(subject)}`",
                    arrow,
                    "tupleset",
                )
        if not any(
            arrow.target in self._types.get(subject.type, {}) for subject in tupleset.allowed
        ):
            types = ", ".join(f"`{subject.type}`" for subject in tupleset.allowed)
            raise self._map.error(
                f"the relation `{arrow.target}` does not exist on any type of "
                f"`{arrow.tupleset}` ({types})",
                arrow,
            )

    # --- entry points ----------------------------------------------------------------------------

    def _check_entrypoints(self) -> None:
        analysis = EntryPoints(self._types)
        for definition in self._schema.definitions:
            for member in members_in_source_order(definition):
                if analysis.has_entrypoint(definition.name, member.name):
                    continue
                reason = (
                    "potential loop"
                    if analysis.is_loop(definition.name, member)
                    else ("no entrypoint")
                )
                raise self._map.error(
                    f"`{member.name}` is an impossible relation for `{definition.name}` "
                    f"({reason}): no stored tuple can ever make a subject a member of it",
                    member,
                )

    # --- conditions ------------------------------------------------------------------------------

    def _check_conditions_used(self) -> None:
        used = {subject.caveat for subject in _all_restrictions(self._schema)}
        for caveat in self._schema.caveats:
            if caveat.name not in used:
                raise self._map.error(
                    f"the condition `{caveat.name}` is not used in the model", caveat
                )


def _all_restrictions(schema: Schema) -> Iterator[AllowedSubject]:
    for definition in schema.definitions:
        for relation in definition.relations:
            yield from relation.allowed


def _restriction_text(subject: AllowedSubject) -> str:
    text = subject.type
    if subject.wildcard:
        text += ":*"
    if subject.relation != ELLIPSIS:
        text += f"#{subject.relation}"
    if subject.caveat is not None:
        text += f" with {subject.caveat}"
    return text
