"""Lookup resources: every ``resource_type`` object on which a subject has a permission.

Walks the relationship graph upward from the subject (breadth first, so depth costs no
stack): through relations that allow the subject (or a subject set it is in), through
permissions that use a relation, and back along arrows. That gives every object that could
hold the permission; a check decides each one that was not reached along a chain of plain
unions (intersections, exclusions, caveats, ``all()`` arrows).
"""

from __future__ import annotations

from collections import deque

from clove.engine._deep import TooDeep, run_deep
from clove.engine.budget import Budget
from clove.engine.check import Checker, settle
from clove.engine.context import CaveatRunner
from clove.engine.outcome import Outcome
from clove.engine.typesystem import TypeSystem
from clove.errors import MaxDepthExceededError
from clove.relationships import WILDCARD, SubjectRef
from clove.schema.ir import ELLIPSIS
from clove.storage.protocol import Reader

Node = tuple[str, str, str]


def candidate_resources(
    types: TypeSystem,
    reader: Reader,
    resource_type: str,
    name: str,
    subject: SubjectRef,
    budget: Budget,
) -> dict[str, bool]:
    """Objects of ``resource_type`` that may have ``name`` for ``subject`` (a superset).

    Each id maps to whether it is *certain*: reached along a chain of uncaveated
    relationships and union-only permissions, so that no check is needed to confirm it.
    Nodes whose kind cannot flow into ``resource_type#name`` are never expanded.
    """
    goal = (resource_type, name)
    useful = types.reach.get(goal, frozenset()) | {goal}
    certain: dict[Node, bool] = {}
    queue: deque[Node] = deque()
    # Breadth first, each node's level is the fewest steps from the subject to it: past the
    # server's ``max_depth`` the lookup fails as a check that deep would.
    max_depth = types.max_depth
    levels: dict[Node, int] = {}
    level = -1  # the level of the node being expanded; the subject's own is 0

    def visit(node: Node, sure: bool) -> None:
        known = certain.get(node)
        if known is None or (sure and not known):
            if known is None and max_depth is not None:
                if level + 1 > max_depth:
                    raise MaxDepthExceededError(max_depth)
                levels[node] = level + 1
            certain[node] = sure
            queue.append(node)

    visit((subject.type, subject.id, subject.relation), True)
    if subject.relation == ELLIPSIS and subject.id != WILDCARD:
        # Relations holding the wildcard hold every subject of its type.
        for target_type, target, simple in types.wildcard_entries.get(subject.type, ()):
            if (target_type, target) in useful:
                for rel in reader.resources(subject.type, WILDCARD, ELLIPSIS, target_type, target):
                    visit(
                        (target_type, rel.resource_id, target), simple and rel.caveat_name is None
                    )
    while queue:
        node = queue.popleft()
        budget.spend()
        type_name, object_id, relation = node
        sure = certain[node]
        if max_depth is not None:
            level = levels[node]
        for target_type, target, simple in types.entries.get((type_name, relation), ()):
            if (target_type, target) not in useful:
                continue
            sure_here = sure and simple
            for rel in reader.resources(type_name, object_id, relation, target_type, target):
                visit((target_type, rel.resource_id, target), sure_here and rel.caveat_name is None)
        if relation == ELLIPSIS:
            continue
        for permission in types.used_by.get((type_name, relation), ()):
            if (type_name, permission) in useful:
                simple = types.union_only[type_name, permission]
                visit((type_name, object_id, permission), sure and simple)
        for entry in types.arrows_to.get((type_name, relation), ()):
            if (entry.resource_type, entry.permission) not in useful:
                continue
            simple = sure and types.union_only[entry.resource_type, entry.permission]
            for rel in reader.resources(
                type_name, object_id, None, entry.resource_type, entry.tupleset
            ):
                visit(
                    (entry.resource_type, rel.resource_id, entry.permission),
                    simple and rel.caveat_name is None,
                )
    return {
        object_id: sure
        for (type_name, object_id, relation), sure in certain.items()
        if type_name == resource_type and relation == name
    }


def lookup_resources(
    types: TypeSystem,
    reader: Reader,
    resource_type: str,
    name: str,
    subject: SubjectRef,
    caveats: CaveatRunner,
    *,
    after: str | None = None,
    limit: int | None = None,
    budget: Budget | None = None,
) -> list[tuple[str, Outcome]]:
    """(resource id, outcome) for each resource with the permission, sorted by id.

    One checker verifies every candidate, so what one check learns (a folder's viewers, a
    group's members) serves the next: a chain of n folders costs O(n), not O(n²).
    """
    budget = budget or Budget()
    candidates = candidate_resources(types, reader, resource_type, name, subject, budget)
    ordered = sorted(candidates)
    if after is not None:
        ordered = [resource_id for resource_id in ordered if resource_id > after]

    def verify(checker: Checker) -> list[tuple[str, Outcome]]:
        found: list[tuple[str, Outcome]] = []
        for resource_id in ordered:
            budget.spend()
            if candidates[resource_id]:
                outcome: Outcome = True
            else:
                outcome = settle(types, checker.member(resource_type, resource_id, name))
            if outcome is not False:
                found.append((resource_id, outcome))
                if limit is not None and len(found) >= limit:
                    break
        return found

    try:
        found = verify(Checker(types, reader, subject, caveats, budget=budget))
    except TooDeep:
        deep = Checker(types, reader, subject, caveats, budget=budget, deep=True)
        found = run_deep(lambda: verify(deep))
    budget.settle()
    return found
