"""Check: is a subject (object or subject set) a member of ``resource#relation``?

A depth-first evaluation of the permission expressions over one reader (see
``_traversal``), pruned by the schema: a question whose relation cannot hold the subject's
kind is answered "no" without reading anything.
"""

from __future__ import annotations

from clove.engine._deep import TooDeep, run_deep
from clove.engine._traversal import Traversal
from clove.engine.budget import Budget
from clove.engine.context import CaveatRunner
from clove.engine.outcome import CYCLE, CYCLE_OUTCOME, Outcome, both, either, negate
from clove.engine.typesystem import TypeSystem
from clove.errors import CloveInternalError, ContextError, CycleError
from clove.relationships import WILDCARD, SubjectRef
from clove.schema import ir
from clove.schema.ir import ELLIPSIS
from clove.storage.protocol import Reader


class Checker(Traversal[Outcome]):
    """Answers checks for one subject within one request."""

    __slots__ = ("_caveats", "_kind", "_openfga", "_reader", "_subject")

    def __init__(
        self,
        types: TypeSystem,
        reader: Reader,
        subject: SubjectRef,
        caveats: CaveatRunner,
        *,
        budget: Budget | None = None,
        deep: bool = False,
    ) -> None:
        super().__init__(types, budget or Budget(), deep=deep)
        self._reader = reader
        self._subject = subject
        self._kind = (subject.type, subject.relation)
        self._caveats = caveats
        self._openfga = types.openfga

    def member(self, type_name: str, object_id: str, name: str) -> Outcome:
        """Is the subject in ``type_name:object_id#name``?"""
        subject = self._subject
        if subject.id == object_id and subject.relation == name and subject.type == type_name:
            return True
        if self._kind not in self._types.reach.get((type_name, name), ()):
            return False
        return self.visit(type_name, object_id, name)

    def _empty(self) -> Outcome:
        return False

    def _bottom(self) -> Outcome:
        # SpiceDB's cycle of unions holds what it derives (the least fixed point); under
        # OpenFGA's semantics a question that hangs on a cycle is undecided.
        return CYCLE_OUTCOME if self._openfga else False

    def _unknown(self) -> Outcome:
        return CYCLE_OUTCOME

    def _relation(self, type_name: str, object_id: str, relation: str) -> Outcome:
        return self._direct(type_name, object_id, relation)

    def _direct(self, type_name: str, object_id: str, relation: str) -> Outcome:
        subject = self._subject
        reader = self._reader
        types = self._types
        key = (type_name, object_id, relation)
        outcome: Outcome = False
        # The direct probes first: one indexed lookup each, and usually the answer.
        if self._kind in types.direct_kinds[key[0], relation]:
            rel = reader.find(*key, subject.type, subject.id, subject.relation)
            if rel is not None:
                outcome = self._caveats.outcome(rel)
                if outcome is True:
                    return True
        if (
            subject.relation == ELLIPSIS
            and subject.type in types.wildcard_types[type_name, relation]
        ):
            rel = reader.find(*key, subject.type, WILDCARD, ELLIPSIS)
            if rel is not None:
                outcome = either(outcome, self._caveats.outcome(rel))
                if outcome is True:
                    return True
        if not types.has_subject_sets[type_name, relation]:
            return outcome
        for rel in reader.subject_sets(*key):
            found = self.member(rel.subject_type, rel.subject_id, rel.subject_relation)
            if found is not False:
                outcome = either(outcome, both(found, self._caveats.outcome(rel)))
                if outcome is True:
                    return True
        return outcome

    def _expression(
        self, type_name: str, object_id: str, name: str, expression: ir.Expression
    ) -> Outcome:
        match expression:
            case ir.RelationRef(name=ref):
                return self.member(type_name, object_id, ref)
            case ir.This():
                return self._direct(type_name, object_id, name)
            case ir.Union(children=children):
                outcome: Outcome = False
                for child in children:
                    outcome = either(outcome, self._expression(type_name, object_id, name, child))
                    if outcome is True:
                        return True
                return outcome
            case ir.Intersection(children=children):
                outcome = True
                for child in children:
                    outcome = both(outcome, self._expression(type_name, object_id, name, child))
                    if outcome is False:
                        return False
                return outcome
            case ir.Exclusion(base=base, subtracted=subtracted):
                kept = self._expression(type_name, object_id, name, base)
                if kept is False:
                    return False
                outer = self._negated()
                try:
                    removed = self._expression(type_name, object_id, name, subtracted)
                finally:
                    self._negative = outer
                return both(kept, negate(removed))
            case ir.Arrow(tupleset=tupleset, target=target, function=function):
                return self._arrow(type_name, object_id, tupleset, target, function == "all")
            case ir.Nil():
                return False
            case _:
                raise CloveInternalError(f"unknown expression node {expression!r}")

    def _arrow(
        self, type_name: str, object_id: str, tupleset: str, target: str, every: bool
    ) -> Outcome:
        rels = self._reader.subjects(type_name, object_id, tupleset)
        if every:
            if not rels:
                return False
            outcome: Outcome = True
            for rel in rels:
                found = self.member(rel.subject_type, rel.subject_id, target)
                outcome = both(outcome, both(found, self._caveats.outcome(rel)))
                if outcome is False:
                    return False
            return outcome
        outcome = False
        for rel in rels:
            if rel.subject_id == WILDCARD:
                continue
            found = self.member(rel.subject_type, rel.subject_id, target)
            if found is not False:
                outcome = either(outcome, both(found, self._caveats.outcome(rel)))
                if outcome is True:
                    return True
        return outcome


def settle(types: TypeSystem, outcome: Outcome) -> Outcome:
    """The answer as the schema's semantics give it to the caller.

    SpiceDB's: unchanged (a conditional answer lists the missing caveat parameters); an answer
    left undecided by a cycle through an exclusion is an error (CycleError).
    OpenFGA's: an answer that hangs only on a cycle is "no", and one that needs caveat
    parameters nobody supplied is an error (ContextError), as OpenFGA's check reports it.
    """
    if isinstance(outcome, bool):
        return outcome
    if not types.openfga:
        if CYCLE in outcome:
            raise CycleError()
        return outcome
    missing = outcome - CYCLE_OUTCOME
    if missing:
        raise ContextError(
            f"missing context parameters for a condition: {', '.join(sorted(missing))}"
        )
    return False


def check(
    types: TypeSystem,
    reader: Reader,
    type_name: str,
    object_id: str,
    name: str,
    subject: SubjectRef,
    caveats: CaveatRunner,
    budget: Budget | None = None,
) -> Outcome:
    """Is ``subject`` in ``type_name:object_id#name``? Deep data is handled without limit."""
    budget = budget or Budget()
    try:
        checker = Checker(types, reader, subject, caveats, budget=budget)
        outcome = checker.member(type_name, object_id, name)
    except TooDeep:
        checker = Checker(types, reader, subject, caveats, budget=budget, deep=True)
        outcome = run_deep(lambda: checker.member(type_name, object_id, name))
    budget.settle()
    return settle(types, outcome)
