"""Lookup resources: every ``resource_type`` object on which a subject has a permission.

Walks the relationship graph upward from the subject (breadth first, so depth costs no
stack): through relations that allow the subject (or a subject set it is in), through
permissions that use a relation, and back along arrows. That gives every object that could
hold the permission; a check on each decides (intersections, exclusions and caveats).
"""

from __future__ import annotations

from collections import deque

from clove.engine._deep import TooDeep, run_deep
from clove.engine.check import Checker
from clove.engine.context import CaveatRunner
from clove.engine.outcome import Outcome
from clove.engine.typesystem import TypeSystem
from clove.relationships import WILDCARD, SubjectRef
from clove.schema.ir import ELLIPSIS
from clove.storage.protocol import Reader


def candidate_resources(
    types: TypeSystem, reader: Reader, resource_type: str, name: str, subject: SubjectRef
) -> set[str]:
    """Ids of ``resource_type`` objects that may have ``name`` for ``subject`` (a superset)."""
    start = (subject.type, subject.id, subject.relation)
    seen = {start}
    queue = deque([start])
    found: set[str] = set()
    if subject.relation == ELLIPSIS and subject.id != WILDCARD:
        # Relations holding the wildcard hold every subject of its type.
        for target_type, target in types.wildcard_entries.get(subject.type, ()):
            for rel in reader.resources(subject.type, WILDCARD, ELLIPSIS, target_type, target):
                node = (target_type, rel.resource_id, target)
                if node not in seen:
                    seen.add(node)
                    queue.append(node)
    while queue:
        node = queue.popleft()
        type_name, object_id, relation = node
        if type_name == resource_type and relation == name:
            found.add(object_id)
        nexts: list[tuple[str, str, str]] = []
        for target_type, target in types.entries.get((type_name, relation), ()):
            for rel in reader.resources(type_name, object_id, relation, target_type, target):
                nexts.append((target_type, rel.resource_id, target))
        if relation != ELLIPSIS:
            for permission in types.used_by.get((type_name, relation), ()):
                nexts.append((type_name, object_id, permission))
            for entry in types.arrows_to.get((type_name, relation), ()):
                for rel in reader.resources(
                    type_name, object_id, None, entry.resource_type, entry.tupleset
                ):
                    nexts.append((entry.resource_type, rel.resource_id, entry.permission))
        for nxt in nexts:
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return found


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
) -> list[tuple[str, Outcome]]:
    """(resource id, outcome) for each resource with the permission, sorted by id.

    One checker verifies every candidate, so what one check learns (a folder's viewers, a
    group's members) serves the next: a chain of n folders costs O(n), not O(n²).
    """
    candidates = sorted(candidate_resources(types, reader, resource_type, name, subject))
    if after is not None:
        candidates = [resource_id for resource_id in candidates if resource_id > after]

    def verify(checker: Checker) -> list[tuple[str, Outcome]]:
        found: list[tuple[str, Outcome]] = []
        for resource_id in candidates:
            outcome = checker.member(resource_type, resource_id, name)
            if outcome is not False:
                found.append((resource_id, outcome))
                if limit is not None and len(found) >= limit:
                    break
        return found

    try:
        return verify(Checker(types, reader, subject, caveats))
    except TooDeep:
        deep = Checker(types, reader, subject, caveats, deep=True)
        return run_deep(lambda: verify(deep))
