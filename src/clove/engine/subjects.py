"""Lookup subjects: every subject of one type in ``resource#relation``, by set algebra.

A ``SubjectSet`` holds concrete subject ids and, at most, one wildcard (``*``) with the ids
it excludes. Every member carries an outcome (``True`` or the missing caveat parameters of a
conditional member; ``False`` members are dropped). The operations follow SpiceDB's
semantics for wildcards: a union keeps both the wildcard and the concrete ids; a subtraction
from a wildcard turns into an exclusion; intersecting a concrete id with a wildcard keeps the
id unless the wildcard excludes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from clove.engine._deep import TooDeep, run_deep
from clove.engine._traversal import Traversal
from clove.engine.budget import Budget
from clove.engine.context import CaveatRunner
from clove.engine.outcome import CYCLE, CYCLE_OUTCOME, Outcome, both, either, negate
from clove.engine.typesystem import TypeSystem
from clove.errors import CloveInternalError, ContextError, CycleError
from clove.relationships import WILDCARD
from clove.schema import ir
from clove.schema.ir import ELLIPSIS
from clove.storage.protocol import Reader


@dataclass(slots=True)
class Wildcard:
    outcome: Outcome
    excluded: dict[str, Outcome] = field(default_factory=dict)


@dataclass(slots=True)
class SubjectSet:
    concrete: dict[str, Outcome] = field(default_factory=dict)
    wildcard: Wildcard | None = None

    def copy(self) -> SubjectSet:
        wildcard = self.wildcard
        return SubjectSet(
            dict(self.concrete),
            None if wildcard is None else Wildcard(wildcard.outcome, dict(wildcard.excluded)),
        )

    # --- union -------------------------------------------------------------------------

    def add_concrete(self, subject_id: str, outcome: Outcome) -> None:
        if outcome is False:
            return
        self.concrete[subject_id] = either(self.concrete.get(subject_id, False), outcome)
        if self.wildcard is not None:
            _include_in_wildcard(self.wildcard, subject_id, outcome)

    def add_wildcard(self, added: Wildcard) -> None:
        if added.outcome is False:
            return
        current = self.wildcard
        if current is None:
            merged = Wildcard(added.outcome, dict(added.excluded))
        else:
            # An id stays excluded only if both wildcards exclude it.
            excluded = {
                sid: both(outcome, added.excluded[sid])
                for sid, outcome in current.excluded.items()
                if sid in added.excluded
            }
            merged = Wildcard(
                either(current.outcome, added.outcome),
                {sid: o for sid, o in excluded.items() if o is not False},
            )
        for sid, outcome in self.concrete.items():
            _include_in_wildcard(merged, sid, outcome)
        self.wildcard = merged

    def union(self, other: SubjectSet) -> None:
        for sid, outcome in other.concrete.items():
            self.add_concrete(sid, outcome)
        if other.wildcard is not None:
            self.add_wildcard(other.wildcard)

    # --- intersection --------------------------------------------------------------------

    def intersect(self, other: SubjectSet) -> SubjectSet:
        result = SubjectSet()
        mine, theirs = self.wildcard, other.wildcard
        if mine is not None and theirs is not None:
            excluded = dict(mine.excluded)
            for sid, outcome in theirs.excluded.items():
                excluded[sid] = either(excluded.get(sid, False), outcome)
            outcome = both(mine.outcome, theirs.outcome)
            if outcome is not False:
                result.wildcard = Wildcard(outcome, excluded)
        for sid, outcome in self.concrete.items():
            found = both(outcome, other.concrete.get(sid, False))
            if theirs is not None:
                found = either(found, _within_wildcard(outcome, sid, theirs))
            if found is not False:
                result.concrete[sid] = found
        if mine is not None:
            for sid, outcome in other.concrete.items():
                found = _within_wildcard(outcome, sid, mine)
                found = either(result.concrete.get(sid, False), found)
                if found is not False:
                    result.concrete[sid] = found
        return result

    # --- subtraction ---------------------------------------------------------------------

    def subtract(self, other: SubjectSet) -> None:
        for sid, outcome in other.concrete.items():
            self._subtract_concrete(sid, outcome)
        if other.wildcard is not None:
            self._subtract_wildcard(other.wildcard)

    def _subtract_concrete(self, subject_id: str, removed: Outcome) -> None:
        current = self.concrete.get(subject_id)
        if current is not None:
            kept = both(current, negate(removed))
            if kept is False:
                del self.concrete[subject_id]
            else:
                self.concrete[subject_id] = kept
        if self.wildcard is not None:
            excluded = self.wildcard.excluded
            excluded[subject_id] = either(excluded.get(subject_id, False), removed)

    def _subtract_wildcard(self, removed: Wildcard) -> None:
        for sid, outcome in list(self.concrete.items()):
            exclusion = removed.excluded.get(sid)
            if exclusion is None:
                kept = both(outcome, negate(removed.outcome))
            elif exclusion is True:
                kept = outcome
            else:
                kept = both(outcome, either(negate(removed.outcome), exclusion))
            if kept is False:
                del self.concrete[sid]
            else:
                self.concrete[sid] = kept
        mine = self.wildcard
        if mine is None:
            return
        if removed.outcome is True and not removed.excluded:
            self.wildcard = None
            return
        # Ids the removed wildcard excludes stay members where this wildcard has them.
        for sid, exclusion in removed.excluded.items():
            existing = mine.excluded.get(sid)
            if existing is True:
                continue
            outcome = both(both(mine.outcome, removed.outcome), exclusion)
            if existing is not None:
                outcome = both(outcome, negate(existing))
            if outcome is not False:
                self.concrete[sid] = outcome
        remaining = both(mine.outcome, negate(removed.outcome))
        self.wildcard = None if remaining is False else Wildcard(remaining, mine.excluded)

    # --- caveats on the path -------------------------------------------------------------

    def under(self, outcome: Outcome) -> SubjectSet:
        """This set as reached through a relationship whose caveat gives ``outcome``."""
        if outcome is True:
            return self
        if outcome is False:
            return SubjectSet()
        result = SubjectSet(
            {sid: both(outcome, o) for sid, o in self.concrete.items()},
        )
        if self.wildcard is not None:
            result.wildcard = Wildcard(
                both(outcome, self.wildcard.outcome), dict(self.wildcard.excluded)
            )
        return result


def _include_in_wildcard(wildcard: Wildcard, subject_id: str, outcome: Outcome) -> None:
    """A concrete member joins the set: the wildcard no longer excludes it (when it is certain)."""
    exclusion = wildcard.excluded.get(subject_id)
    if exclusion is None:
        return
    remaining = both(exclusion, negate(outcome))
    if remaining is False:
        del wildcard.excluded[subject_id]
    else:
        wildcard.excluded[subject_id] = remaining


def _within_wildcard(outcome: Outcome, subject_id: str, wildcard: Wildcard) -> Outcome:
    exclusion = wildcard.excluded.get(subject_id)
    if exclusion is None:
        return both(outcome, wildcard.outcome)
    if exclusion is True:
        return False
    return both(outcome, both(wildcard.outcome, negate(exclusion)))


class SubjectFinder(Traversal[SubjectSet]):
    """Computes subject sets of one subject type (and relation) within one request."""

    __slots__ = ("_caveats", "_identity", "_reader", "_subject_relation", "_subject_type")

    def __init__(
        self,
        types: TypeSystem,
        reader: Reader,
        subject_type: str,
        subject_relation: str,
        caveats: CaveatRunner,
        *,
        budget: Budget | None = None,
        deep: bool = False,
    ) -> None:
        super().__init__(types, budget or Budget(), deep=deep)
        self._reader = reader
        self._subject_type = subject_type
        self._subject_relation = subject_relation
        self._caveats = caveats
        # OpenFGA lists the userset ``type:id#relation`` among its own members.
        self._identity = types.openfga and subject_relation != ELLIPSIS

    def members(self, type_name: str, object_id: str, name: str) -> SubjectSet:
        """The subjects in ``type_name:object_id#name`` (shared: copy before changing it)."""
        found = self.visit(type_name, object_id, name)
        if self._identity and name == self._subject_relation and type_name == self._subject_type:
            found = found.copy()
            found.add_concrete(object_id, True)
        return found

    def _empty(self) -> SubjectSet:
        return SubjectSet()

    def _unknown(self) -> SubjectSet:
        # Every subject undecided: where a cycle through an exclusion starts.
        return SubjectSet(wildcard=Wildcard(CYCLE_OUTCOME))

    def _relation(self, type_name: str, object_id: str, relation: str) -> SubjectSet:
        return self._direct(type_name, object_id, relation)

    def _direct(self, type_name: str, object_id: str, relation: str) -> SubjectSet:
        result = SubjectSet()
        for rel in self._reader.subjects(type_name, object_id, relation):
            if (
                rel.subject_type == self._subject_type
                and rel.subject_relation == self._subject_relation
            ):
                outcome = self._caveats.outcome(rel)
                if rel.subject_id == WILDCARD:
                    result.add_wildcard(Wildcard(outcome))
                else:
                    result.add_concrete(rel.subject_id, outcome)
            if rel.subject_relation != ELLIPSIS:
                nested = self.members(rel.subject_type, rel.subject_id, rel.subject_relation)
                if nested.concrete or nested.wildcard is not None:
                    result.union(nested.under(self._caveats.outcome(rel)))
                    self._budget.spend(1 + len(nested.concrete))  # a union costs its size
        return result

    def _expression(
        self, type_name: str, object_id: str, name: str, expression: ir.Expression
    ) -> SubjectSet:
        match expression:
            case ir.RelationRef(name=ref):
                return self.members(type_name, object_id, ref).copy()
            case ir.This():
                return self._direct(type_name, object_id, name)
            case ir.Union(children=children):
                result = SubjectSet()
                for child in children:
                    result.union(self._expression(type_name, object_id, name, child))
                return result
            case ir.Intersection(children=children):
                result = self._expression(type_name, object_id, name, children[0])
                for child in children[1:]:
                    result = result.intersect(self._expression(type_name, object_id, name, child))
                return result
            case ir.Exclusion(base=base, subtracted=subtracted):
                result = self._expression(type_name, object_id, name, base)
                if result.concrete or result.wildcard is not None:
                    outer = self._negated()
                    try:
                        removed = self._expression(type_name, object_id, name, subtracted)
                    finally:
                        self._negative = outer
                    result.subtract(removed)
                return result
            case ir.Arrow(tupleset=tupleset, target=target, function=function):
                return self._arrow(type_name, object_id, tupleset, target, function == "all")
            case ir.Nil():
                return SubjectSet()
            case _:
                raise CloveInternalError(f"unknown expression node {expression!r}")

    def _arrow(
        self, type_name: str, object_id: str, tupleset: str, target: str, every: bool
    ) -> SubjectSet:
        result: SubjectSet | None = None
        for rel in self._reader.subjects(type_name, object_id, tupleset):
            if rel.subject_id == WILDCARD:
                continue
            found = self.members(rel.subject_type, rel.subject_id, target).under(
                self._caveats.outcome(rel)
            )
            if result is None:
                result = found.copy()
            elif every:
                result = result.intersect(found)
            else:
                result.union(found)
            self._budget.spend(1 + len(found.concrete))
        return result if result is not None else SubjectSet()


def lookup_subjects(
    types: TypeSystem,
    reader: Reader,
    type_name: str,
    object_id: str,
    name: str,
    subject_type: str,
    subject_relation: str,
    caveats: CaveatRunner,
    budget: Budget | None = None,
) -> SubjectSet:
    budget = budget or Budget()
    try:
        finder = SubjectFinder(
            types, reader, subject_type, subject_relation, caveats, budget=budget
        )
        found = finder.members(type_name, object_id, name)
    except TooDeep:
        finder = SubjectFinder(
            types, reader, subject_type, subject_relation, caveats, budget=budget, deep=True
        )
        found = run_deep(lambda: finder.members(type_name, object_id, name))
    budget.settle()
    found = _decided(types, found)
    if types.openfga:
        _require_decided(found)
    return found


def _undecided(outcome: Outcome) -> bool:
    return not isinstance(outcome, bool) and CYCLE in outcome


def _decided(types: TypeSystem, found: SubjectSet) -> SubjectSet:
    """Members left undecided by a cycle through an exclusion: "no" (OpenFGA) or an error."""
    wildcard = found.wildcard
    if not any(map(_undecided, found.concrete.values())) and (
        wildcard is None or not _undecided(wildcard.outcome)
    ):
        return found
    if not types.openfga:
        raise CycleError()
    result = SubjectSet({s: o for s, o in found.concrete.items() if not _undecided(o)})
    if wildcard is not None and not _undecided(wildcard.outcome):
        # An id the wildcard may or may not exclude is not certainly in the set: excluded.
        result.wildcard = Wildcard(wildcard.outcome, dict(wildcard.excluded))
    return result


def _require_decided(found: SubjectSet) -> None:
    """OpenFGA's semantics: a member that needs missing caveat parameters is an error."""
    missing: set[str] = set()
    for outcome in found.concrete.values():
        if not isinstance(outcome, bool):
            missing |= outcome
    if found.wildcard is not None and not isinstance(found.wildcard.outcome, bool):
        missing |= found.wildcard.outcome
    if missing:
        raise ContextError(
            f"missing context parameters for a condition: {', '.join(sorted(missing))}"
        )
