"""Properties of relations with rewrites (``This`` in unions, intersections, exclusions, arrows).

Random OpenFGA-style schemas and data, answered under both semantics: for every document,
relation and user, ``check`` says yes exactly when ``lookup_resources`` lists the document
and exactly when ``lookup_subjects`` lists the user (or a wildcard that does not exclude it).
Subtracted sides only name relations that cannot lead back to a document, so no cycle
passes through an exclusion (where OpenFGA's "undecided" and a least fixed point differ).
Under OpenFGA's semantics groups are not nested in cycles either: a group cycle under a
subtracted side is "undecided" to check, while lookup_subjects takes its least fixed point
(and a real OpenFGA answers check, ListObjects and ListUsers differently again there).
"""

from __future__ import annotations

from typing import Literal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clove.engine.check import check
from clove.engine.context import CaveatRunner
from clove.engine.resources import lookup_resources
from clove.engine.subjects import lookup_subjects
from clove.engine.typesystem import TypeSystem
from clove.relationships import Operation, Relationship, RelationshipUpdate, SubjectRef
from clove.schema import ir
from clove.schema.ir import ELLIPSIS
from clove.storage.memory import MemoryStore

USERS = ["u0", "u1", "u2"]
GROUPS = ["g0", "g1"]
DOCUMENTS = ["d0", "d1", "d2"]
RELATIONS = ["r0", "r1", "r2"]

USER = ir.AllowedSubject(type="user")
ANY_USER = ir.AllowedSubject(type="user", wildcard=True)
GROUP_MEMBER = ir.AllowedSubject(type="group", relation="member")

FIXED_DOCUMENT_RELATIONS = (
    ir.Relation(name="parent", allowed=(ir.AllowedSubject(type="document"),)),
    ir.Relation(name="owner", allowed=(USER, GROUP_MEMBER)),
    ir.Relation(name="blocked", allowed=(USER, ANY_USER)),
)
GROUP = ir.Definition(
    name="group",
    relations=(
        ir.Relation(name="member", allowed=(USER, GROUP_MEMBER)),
        ir.Relation(name="banned", allowed=(USER,)),
    ),
)
# Relations a subtracted side may name: none of them reaches a document's relations.
LEAVES = ["blocked", "owner"]


def _expression(draw: st.DrawFn, index: int, depth: int) -> ir.Expression:
    """A rewrite for relation ``r{index}``: may name earlier relations and arrows to any."""
    refs = ["owner", *RELATIONS[:index]]
    choice = draw(st.integers(0, 6 if depth < 2 else 2))
    if choice == 0:
        return ir.This()
    if choice == 1:
        return ir.RelationRef(name=draw(st.sampled_from(refs)))
    if choice == 2:
        return ir.Arrow(tupleset="parent", target=draw(st.sampled_from([*RELATIONS, "owner"])))
    if choice == 3:
        return ir.Exclusion(
            base=_expression(draw, index, depth + 1),
            subtracted=ir.RelationRef(name=draw(st.sampled_from(LEAVES))),
        )
    children = tuple(_expression(draw, index, depth + 1) for _ in range(draw(st.integers(2, 3))))
    if choice in (4, 5):
        return ir.Union(children=(ir.This(), *children[1:]) if choice == 5 else children)
    return ir.Intersection(children=children)


@st.composite
def schemas(draw: st.DrawFn, semantics: Literal["spicedb", "openfga"]) -> ir.Schema:
    relations = []
    for index, name in enumerate(RELATIONS):
        allowed = draw(st.lists(st.sampled_from([USER, ANY_USER, GROUP_MEMBER]), unique=True))
        rewrite = _expression(draw, index, 0)
        relations.append(ir.Relation(name=name, allowed=tuple(allowed), rewrite=rewrite))
    document = ir.Definition(name="document", relations=(*FIXED_DOCUMENT_RELATIONS, *relations))
    return ir.Schema(definitions=(ir.Definition(name="user"), GROUP, document), semantics=semantics)


def _subjects(allowed: ir.AllowedSubject) -> list[tuple[str, str, str]]:
    if allowed.wildcard:
        return [("user", "*", ELLIPSIS)]
    if allowed.type == "user":
        return [("user", user, ELLIPSIS) for user in USERS]
    if allowed.type == "group":
        return [("group", group, allowed.relation) for group in GROUPS]
    return [("document", document, ELLIPSIS) for document in DOCUMENTS]


@st.composite
def worlds(
    draw: st.DrawFn, semantics: Literal["spicedb", "openfga"]
) -> tuple[ir.Schema, list[Relationship]]:
    schema = draw(schemas(semantics))
    choices = []
    for definition in schema.definitions:
        ids = {"group": GROUPS, "document": DOCUMENTS}.get(definition.name, [])
        for relation in definition.relations:
            for allowed in relation.allowed:
                for stype, sid, srel in _subjects(allowed):
                    for rid in ids:
                        choices.append((definition.name, rid, relation.name, stype, sid, srel))
    if semantics == "openfga":  # groups nest acyclically: g1 may hold g0#member, not back
        choices = [c for c in choices if not (c[0] == c[3] == "group" and c[1] <= c[4])]
    picked = draw(st.lists(st.sampled_from(choices), max_size=30, unique=True))
    relationships = [
        Relationship(
            resource_type=rtype,
            resource_id=rid,
            relation=relation,
            subject_type=stype,
            subject_id=sid,
            subject_relation=srel,
        )
        for rtype, rid, relation, stype, sid, srel in picked
    ]
    return schema, relationships


def _assert_agreement(schema: ir.Schema, relationships: list[Relationship]) -> None:
    types = TypeSystem(schema)
    for rel in relationships:
        types.validate_relationship(rel)
    store = MemoryStore()
    store.write(
        [RelationshipUpdate(operation=Operation.TOUCH, relationship=r) for r in relationships]
    )
    reader = store.reader(store.head_revision())
    caveats = CaveatRunner(types, None)
    for name in [*RELATIONS, "owner"]:
        listed: dict[str, set[str]] = {}
        for user in USERS:
            subject = SubjectRef(type="user", id=user)
            found = lookup_resources(types, reader, "document", name, subject, caveats)
            assert all(outcome is True for _, outcome in found)
            listed[user] = {resource_id for resource_id, _ in found}
        for document in DOCUMENTS:
            members = lookup_subjects(
                types, reader, "document", document, name, "user", ELLIPSIS, caveats
            )
            wildcard = members.wildcard
            for user in [*USERS, "stranger"]:
                subject = SubjectRef(type="user", id=user)
                answer = check(types, reader, "document", document, name, subject, caveats)
                via_subjects = user in members.concrete or (
                    wildcard is not None and user not in wildcard.excluded
                )
                where = (document, name, user, schema.semantics)
                assert (answer is True) == via_subjects, where
                if user in listed:
                    assert (answer is True) == (document in listed[user]), where


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds("spicedb"))
def test_rewrites_agree_across_questions_with_spicedb_semantics(
    world: tuple[ir.Schema, list[Relationship]],
) -> None:
    _assert_agreement(*world)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds("openfga"))
def test_rewrites_agree_across_questions_with_openfga_semantics(
    world: tuple[ir.Schema, list[Relationship]],
) -> None:
    _assert_agreement(*world)
