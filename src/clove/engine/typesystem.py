"""A schema compiled for evaluation: fast member lookup, compiled caveats, reverse indexes."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

from clove.caveats import CompiledCaveat, compile_caveat
from clove.caveats._compile import DEFAULT_MAX_COST
from clove.errors import CloveInternalError, RelationshipTypeError, UnknownTypeError
from clove.relationships import WILDCARD, Relationship
from clove.schema import ir
from clove.schema.ir import ELLIPSIS

# The default bound on one caveat evaluation's estimated cost (see ``CompiledCaveat.cost``).
DEFAULT_MAX_CAVEAT_COST = DEFAULT_MAX_COST
OPENFGA_RESOLUTION_LIMIT = 25


@dataclass(frozen=True, slots=True)
class ArrowEntry:
    """``permission`` on ``resource_type`` walks ``tupleset`` and evaluates some target."""

    resource_type: str
    tupleset: str
    permission: str


class TypeSystem:
    """The schema as the engine uses it; built once per schema revision."""

    def __init__(
        self,
        schema: ir.Schema,
        *,
        max_depth: int | None = None,
        max_caveat_cost: int = DEFAULT_MAX_CAVEAT_COST,
    ) -> None:
        """``max_depth`` bounds the nested steps of one check or lookup (None: unbounded);
        ``max_caveat_cost`` the cost of one caveat evaluation (see ``CompiledCaveat.cost``)."""
        if max_depth is not None and max_depth < 1:
            raise ValueError(f"max_depth must be positive, not {max_depth}")
        self.schema = schema
        # OpenFGA's answers where they differ from SpiceDB's (see ``ir.Schema.semantics``).
        self.openfga = schema.semantics == "openfga"
        self.max_depth = max_depth
        # How many nested questions one evaluation may open: OpenFGA stops at 25, and a
        # server bounds every evaluation at its ``max_depth``, as SpiceDB bounds dispatch.
        limits = [limit for limit in (max_depth,) if limit is not None]
        if self.openfga:
            limits.append(OPENFGA_RESOLUTION_LIMIT)
        self.resolution_limit: int | None = min(limits) if limits else None
        self.members: dict[str, dict[str, ir.Relation | ir.Permission]] = {}
        for definition in schema.definitions:
            table: dict[str, ir.Relation | ir.Permission] = {}
            for relation in definition.relations:
                table[relation.name] = relation
            for permission in definition.permissions:
                table[permission.name] = permission
            self.members[definition.name] = table
        self.caveats: dict[str, CompiledCaveat] = {
            caveat.name: compile_caveat(caveat, max_cost=max_caveat_cost)
            for caveat in schema.caveats
        }
        self.direct_kinds: dict[tuple[str, str], frozenset[tuple[str, str]]] = {}
        self.wildcard_types: dict[tuple[str, str], frozenset[str]] = {}
        self.has_subject_sets: dict[tuple[str, str], bool] = {}
        for definition in schema.definitions:
            for relation in definition.relations:
                key = (definition.name, relation.name)
                kinds = relation.allowed
                self.direct_kinds[key] = frozenset(
                    (a.type, a.relation) for a in kinds if not a.wildcard
                )
                self.wildcard_types[key] = frozenset(a.type for a in kinds if a.wildcard)
                self.has_subject_sets[key] = any(a.relation != ELLIPSIS for a in kinds)
        # (subject type, subject relation, wildcard, caveat) each relation allows.
        self.allowed_shapes: dict[tuple[str, str], frozenset[tuple[str, str, bool, str | None]]] = {
            (definition.name, relation.name): frozenset(
                (a.type, a.relation, a.wildcard, a.caveat) for a in relation.allowed
            )
            for definition in schema.definitions
            for relation in definition.relations
        }
        self.reach = _reachability(schema, self.members)
        # Permissions (and rewritten relations) that are unions of relations, permissions,
        # ``any`` arrows and stored relationships only: membership of any part is membership
        # of the whole.
        self.union_only: dict[tuple[str, str], bool] = {
            (definition.name, name): _union_only(expression)
            for definition in schema.definitions
            for name, expression in _expressions(definition)
        }
        # (resource type, permission, subject type, subject relation) already validated.
        self.known_questions: set[tuple[str, str, str, str]] = set()
        # Reverse indexes for lookup_resources: how membership flows upward.
        # An entry (type, relation, simple) says a stored relationship makes its subject a
        # member of type#relation, certainly so when ``simple`` (no rewrite narrows it).
        self.entries: dict[tuple[str, str], list[tuple[str, str, bool]]] = defaultdict(list)
        self.wildcard_entries: dict[str, list[tuple[str, str, bool]]] = defaultdict(list)
        self.used_by: dict[tuple[str, str], list[str]] = defaultdict(list)
        self.arrows_to: dict[tuple[str, str], list[ArrowEntry]] = defaultdict(list)
        for definition in schema.definitions:
            for relation in definition.relations:
                if relation.rewrite is not None and not _stored_is_positive(relation.rewrite):
                    continue
                simple = self.union_only.get((definition.name, relation.name), True)
                for allowed in relation.allowed:
                    entry = (definition.name, relation.name, simple)
                    if allowed.wildcard:
                        self.wildcard_entries[allowed.type].append(entry)
                    else:
                        self.entries[(allowed.type, allowed.relation)].append(entry)
            for name, expression in _expressions(definition):
                for ref in _positive_refs(expression):
                    match ref:
                        case ir.RelationRef(name=used):
                            self.used_by[(definition.name, used)].append(name)
                        case ir.Arrow(tupleset=tupleset, target=target):
                            arrow = ArrowEntry(definition.name, tupleset, name)
                            for subject_type in self._tupleset_types(definition, tupleset):
                                self.arrows_to[(subject_type, target)].append(arrow)
                        case _:
                            raise CloveInternalError(f"unexpected reference {ref!r}")

    def _tupleset_types(self, definition: ir.Definition, tupleset: str) -> set[str]:
        relation = definition.relation(tupleset)
        return {allowed.type for allowed in relation.allowed} if relation else set()

    def member(self, type_name: str, name: str) -> ir.Relation | ir.Permission | None:
        table = self.members.get(type_name)
        return None if table is None else table.get(name)

    def require_member(self, type_name: str, name: str) -> ir.Relation | ir.Permission:
        """The relation or permission, or UnknownTypeError naming what is missing."""
        table = self.members.get(type_name)
        if table is None:
            raise UnknownTypeError(f"object definition `{type_name}` not found")
        member = table.get(name)
        if member is None:
            raise UnknownTypeError(
                f"relation/permission `{name}` not found under definition `{type_name}`"
            )
        return member

    def require_type(self, type_name: str) -> None:
        if type_name not in self.members:
            raise UnknownTypeError(f"object definition `{type_name}` not found")

    def require_caveat(self, name: str) -> CompiledCaveat:
        caveat = self.caveats.get(name)
        if caveat is None:
            raise UnknownTypeError(f"caveat `{name}` not found")
        return caveat

    def validate_relationship(self, rel: Relationship) -> None:
        """Raise unless the schema allows ``rel``: types, relation, caveat, expiration, context."""
        member = self.require_member(rel.resource_type, rel.relation)
        if not isinstance(member, ir.Relation):
            raise RelationshipTypeError(
                f"cannot write a relationship to permission `{rel.relation}` "
                f"of definition `{rel.resource_type}`"
            )
        self.require_type(rel.subject_type)
        if rel.subject_relation != ELLIPSIS:
            self.require_member(rel.subject_type, rel.subject_relation)
        wildcard = rel.subject_id == WILDCARD
        if wildcard:
            shape = f"{rel.subject_type}:*"
        elif rel.subject_relation == ELLIPSIS:
            shape = rel.subject_type
        else:
            shape = f"{rel.subject_type}#{rel.subject_relation}"
        where = f"relation `{rel.resource_type}#{rel.relation}`"
        candidates = [
            allowed
            for allowed in member.allowed
            if allowed.type == rel.subject_type
            and allowed.wildcard == wildcard
            and (wildcard or allowed.relation == rel.subject_relation)
        ]
        if not candidates:
            raise RelationshipTypeError(f"subjects of type `{shape}` are not allowed on {where}")
        matching = [allowed for allowed in candidates if allowed.caveat == rel.caveat_name]
        if not matching:
            if rel.caveat_name is None:
                raise RelationshipTypeError(
                    f"subjects of type `{shape}` on {where} must have a caveat"
                )
            raise RelationshipTypeError(
                f"subjects of type `{shape} with {rel.caveat_name}` are not allowed on {where}"
            )
        if rel.expiration is not None and not any(allowed.expiration for allowed in matching):
            raise RelationshipTypeError(
                f"subjects of type `{shape}` on {where} cannot have an expiration"
            )
        if rel.caveat_name is not None and rel.caveat_context:
            self.require_caveat(rel.caveat_name).convert_context(rel.caveat_context)


def _reachability(
    schema: ir.Schema, members: dict[str, dict[str, ir.Relation | ir.Permission]]
) -> dict[tuple[str, str], frozenset[tuple[str, str]]]:
    """For each relation and permission, the kinds of subject (type, relation) it can hold.

    A least fixed point over the schema: a check whose subject kind is not in the set is
    answered "no" without reading anything.
    """
    reach: dict[tuple[str, str], set[tuple[str, str]]] = {
        (type_name, name): set() for type_name, table in members.items() for name in table
    }
    sources: dict[tuple[str, str], list[tuple[str, str]]] = {key: [] for key in reach}
    for definition in schema.definitions:
        for relation in definition.relations:
            key = (definition.name, relation.name)
            for allowed in relation.allowed:
                reach[key].add((allowed.type, allowed.relation))
                if allowed.relation != ELLIPSIS:
                    sources[key].append((allowed.type, allowed.relation))
        for name, expression in _expressions(definition):
            key = (definition.name, name)
            for ref in _all_refs(expression):
                match ref:
                    case ir.RelationRef(name=name):
                        sources[key].append((definition.name, name))
                    case ir.Arrow(tupleset=tupleset, target=target):
                        tupleset_relation = definition.relation(tupleset)
                        for allowed in tupleset_relation.allowed if tupleset_relation else ():
                            sources[key].append((allowed.type, target))
                    case _:
                        raise CloveInternalError(f"unexpected reference {ref!r}")
    # Identity: ``X:x#n`` holds the subject set ``X:x#n`` itself.
    for key, found_from in sources.items():
        reach[key].update(found_from)
    changed = True
    while changed:
        changed = False
        for key, found in reach.items():
            before = len(found)
            for source in sources[key]:
                found.update(reach.get(source, ()))
            changed = changed or len(found) != before
    return {key: frozenset(found) for key, found in reach.items()}


def _expressions(definition: ir.Definition) -> Iterator[tuple[str, ir.Expression]]:
    """Every permission's expression and every relation's rewrite, by member name."""
    for relation in definition.relations:
        if relation.rewrite is not None:
            yield relation.name, relation.rewrite
    for permission in definition.permissions:
        yield permission.name, permission.expression


def _stored_is_positive(expression: ir.Expression) -> bool:
    """Whether stored relationships (``This``) can make a subject a member of the rewrite."""
    match expression:
        case ir.This():
            return True
        case ir.Union(children=children) | ir.Intersection(children=children):
            return any(_stored_is_positive(child) for child in children)
        case ir.Exclusion(base=base):
            return _stored_is_positive(base)
        case _:
            return False


def _union_only(expression: ir.Expression) -> bool:
    match expression:
        case ir.RelationRef() | ir.This():
            return True
        case ir.Arrow(function=function):
            return function == "any"
        case ir.Union(children=children):
            return all(_union_only(child) for child in children)
        case _:
            return False


def _all_refs(expression: ir.Expression) -> Iterator[ir.RelationRef | ir.Arrow]:
    """Every reference in an expression, both sides of an exclusion included."""
    match expression:
        case ir.RelationRef() | ir.Arrow():
            yield expression
        case ir.Union(children=children) | ir.Intersection(children=children):
            for child in children:
                yield from _all_refs(child)
        case ir.Exclusion(base=base, subtracted=subtracted):
            yield from _all_refs(base)
            yield from _all_refs(subtracted)
        case ir.Nil() | ir.This():
            return
        case _:
            raise CloveInternalError(f"unknown expression node {expression!r}")


def _positive_refs(expression: ir.Expression) -> Iterator[ir.RelationRef | ir.Arrow]:
    """References through which membership can flow (not the subtracted side of ``-``)."""
    match expression:
        case ir.RelationRef() | ir.Arrow():
            yield expression
        case ir.Union(children=children) | ir.Intersection(children=children):
            for child in children:
                yield from _positive_refs(child)
        case ir.Exclusion(base=base):
            yield from _positive_refs(base)
        case ir.Nil() | ir.This():
            return
        case _:
            raise CloveInternalError(f"unknown expression node {expression!r}")


__all__ = ["ELLIPSIS", "OPENFGA_RESOLUTION_LIMIT", "ArrowEntry", "TypeSystem"]
