"""Fuzzed worlds: on random acyclic schemas and data, ``check``, ``lookup_resources`` and
``lookup_subjects`` give the same answers, on the memory and SQLite backends; random
relationship text parses or fails only with a RelationshipSyntaxError.

Most worlds are acyclic (a relationship's subject always ranks below its resource), so no
answer depends on a cycle; cyclic ones (``schemas(cycles=True)`` with ``relationships(schema)``)
must agree too, and stay cheap: the engine solves cycles to a fixed point in polynomial time.
A cyclic world whose answer depends on itself through an exclusion has none (CycleError); such
worlds are set aside, as their lookups fail as a whole where a check fails for one resource.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import assume, given
from hypothesis import strategies as st

import clove
from clove.errors import RelationshipSyntaxError
from clove.relationships import parse_relationship
from clove.schema.ir import Schema
from clove.schema.spicedb import print_schema
from fuzz.strategies import (
    OBJECT_IDS,
    fuzz_settings,
    mutated,
    relationships,
    schemas,
)

World = tuple[Schema, list[str]]


def _has_relations(schema: Schema) -> bool:
    return any(definition.relations for definition in schema.definitions)


worlds = (
    schemas(with_caveats=False, max_definitions=3)
    .filter(_has_relations)
    .flatmap(
        lambda schema: st.tuples(st.just(schema), relationships(schema, acyclic=True, min_size=12))
    )
)


def _assert_agreement(db: clove.Database, schema: Schema) -> None:
    for definition in schema.definitions:
        members = [m.name for m in (*definition.relations, *definition.permissions)]
        for member in members:
            for subject_type in (d.name for d in schema.definitions):
                subjects_by_resource = {
                    rid: db.lookup_subjects(f"{definition.name}:{rid}", member, subject_type)
                    for rid in OBJECT_IDS
                }
                for sid in (*OBJECT_IDS, "stranger"):
                    subject = f"{subject_type}:{sid}"
                    listed = {
                        found.resource_id
                        for found in db.lookup_resources(definition.name, member, subject)
                    }
                    for rid in OBJECT_IDS:
                        where = (f"{definition.name}:{rid}", member, subject)
                        has = bool(db.check(f"{definition.name}:{rid}", member, subject))
                        assert has == (rid in listed), where
                        found = subjects_by_resource[rid]
                        concrete = {s.subject_id for s in found if s.subject_id != "*"}
                        wildcard = [s for s in found if s.subject_id == "*"]
                        via_subjects = sid in concrete or any(
                            sid not in w.excluded_subject_ids for w in wildcard
                        )
                        assert has == via_subjects, where


def _load(db: clove.Database, world: World) -> None:
    schema, rels = world
    db.write_schema(print_schema(schema))
    if rels:
        db.write_relationships(rels)


@fuzz_settings(25)
@given(worlds)
def test_check_and_both_lookups_agree_in_memory(world: World) -> None:
    db = clove.open()
    try:
        _load(db, world)
        _assert_agreement(db, world[0])
    finally:
        db.close()


cyclic_worlds = (
    schemas(with_caveats=False, max_definitions=3, cycles=True)
    .filter(_has_relations)
    .flatmap(lambda schema: st.tuples(st.just(schema), relationships(schema, min_size=12)))
)


@fuzz_settings(25)
@given(cyclic_worlds)
def test_check_and_both_lookups_agree_on_cyclic_data(world: World) -> None:
    db = clove.open()
    try:
        _load(db, world)
        try:
            _assert_agreement(db, world[0])
        except clove.CycleError:
            assume(False)
    finally:
        db.close()


@fuzz_settings(8)
@given(worlds)
def test_check_and_both_lookups_agree_on_sqlite(world: World) -> None:
    with tempfile.TemporaryDirectory() as directory:
        db = clove.open(f"sqlite:///{Path(directory) / 'fuzz.db'}")
        try:
            _load(db, world)
            _assert_agreement(db, world[0])
        finally:
            db.close()


@fuzz_settings(50)
@given(
    schemas(max_definitions=2)
    .flatmap(lambda schema: relationships(schema, max_size=3))
    .filter(bool)
    .flatmap(lambda rels: mutated(rels[0]))
)
def test_mutated_relationship_text_fails_only_with_a_syntax_error(text: str) -> None:
    try:
        parse_relationship(text)
    except RelationshipSyntaxError as error:
        assert error.text == text
