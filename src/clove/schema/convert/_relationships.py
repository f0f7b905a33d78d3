"""Where stored relationships and checks go when their schema changes language.

Two things rename what data refers to. Rewrites: SpiceDB keeps a relation's stored
relationships under ``<name>_direct`` while a permission keeps the name (see ``_rewrites``),
so only the resource side of a relationship moves; a subject set ``group:eng#member`` means
the whole relation, which keeps its name. Spelling: a type, relation, permission or caveat
SpiceDB cannot spell is renamed everywhere (see ``_names``), subjects and caveats included.
``Renames`` composes both for one conversion, keyed by the names in the source.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from clove.relationships import Relationship
from clove.schema.convert._names import NameChanges
from clove.schema.convert._rewrites import RelationRenames
from clove.schema.convert._subject_sets import SubjectSetMoves
from clove.schema.ir import ELLIPSIS, Definition, Schema


@dataclass(frozen=True, slots=True, kw_only=True)
class Renames:
    """The names data must use after a conversion; keys are the source's names, and a name
    not listed is unchanged.

    ``relations`` maps ``(type, stored relation)`` to the relation relationships are stored
    under; ``subject_sets`` maps ``(type, relation, subject type, subject relation)`` to the
    relation and subject relation of relationships a subject set moves whole (see
    ``_subject_sets``); ``members`` maps ``(type, relation or permission)`` to the name
    checks and subject sets use; ``types`` and ``caveats`` rename object types (resources
    and subjects alike) and caveats.
    """

    relations: Mapping[tuple[str, str], str] = field(default_factory=dict)
    members: Mapping[tuple[str, str], str] = field(default_factory=dict)
    subject_sets: Mapping[tuple[str, str, str, str], tuple[str, str]] = field(default_factory=dict)
    types: Mapping[str, str] = field(default_factory=dict)
    caveats: Mapping[str, str] = field(default_factory=dict)

    def type_name(self, name: str) -> str:
        """The object type ``name`` after the conversion."""
        return self.types.get(name, name)

    def member_name(self, type_name: str, name: str) -> str:
        """The relation or permission ``type_name#name`` is checked as after the conversion."""
        return self.members.get((type_name, name), name)

    def relationship(self, relationship: Relationship) -> Relationship:
        """``relationship`` as the converted schema stores it."""
        resource_type, relation = relationship.resource_type, relationship.relation
        subject_type, subject_relation = relationship.subject_type, relationship.subject_relation
        caveat = relationship.caveat_name
        moved = self.subject_sets.get((resource_type, relation, subject_type, subject_relation))
        if moved is not None:
            relation, subject_relation = moved
        else:
            relation = self.relations.get((resource_type, relation), relation)
            if subject_relation != ELLIPSIS:
                subject_relation = self.member_name(subject_type, subject_relation)
        changed = replace(
            relationship,
            resource_type=self.type_name(resource_type),
            relation=relation,
            subject_type=self.type_name(subject_type),
            subject_relation=subject_relation,
            caveat_name=None if caveat is None else self.caveats.get(caveat, caveat),
        )
        return relationship if changed == relationship else changed


def renames_to_spicedb(
    source: Schema, arrowed: SubjectSetMoves, stored: RelationRenames, names: NameChanges
) -> Renames:
    """Renames for ``source`` written in SpiceDB: ``arrowed`` from writing subject sets as
    arrows, ``stored`` from lowering its rewrites, then ``names`` from spelling the result."""
    relations: dict[tuple[str, str], str] = {}
    members: dict[tuple[str, str], str] = {}
    for definition in source.definitions:
        for relation in definition.relations:
            lowered = stored.get((definition.name, relation.name), relation.name)
            relations[(definition.name, relation.name)] = names.members.get(lowered, lowered)
        for name in _member_names(definition):
            members[(definition.name, name)] = names.members.get(name, name)
    subject_sets = {
        key: (names.members.get(relation, relation), subject_relation)
        for key, (relation, subject_relation) in arrowed.items()
    }
    return _renames(relations, members, subject_sets, names)


def renames_from_spicedb(
    source: Schema, names: NameChanges, lifted: RelationRenames, folded: SubjectSetMoves
) -> Renames:
    """Renames for SpiceDB ``source`` read into another language: ``names`` restored first,
    then ``lifted`` from folding ``<name>_direct`` relations into rewrites, then ``folded``
    from putting subject sets back (keyed by restored names)."""
    relations: dict[tuple[str, str], str] = {}
    members: dict[tuple[str, str], str] = {}
    for definition in source.definitions:
        type_name = names.types.get(definition.name, definition.name)
        for relation in definition.relations:
            original = names.members.get(relation.name, relation.name)
            relations[(definition.name, relation.name)] = lifted.get(
                (type_name, original), original
            )
        for name in _member_names(definition):
            members[(definition.name, name)] = names.members.get(name, name)
    spelled_types = {old: new for new, old in names.types.items()}
    spelled_members = {old: new for new, old in names.members.items()}
    subject_sets = {
        (
            spelled_types.get(type_name, type_name),
            spelled_members.get(relation, relation),
            spelled_types.get(subject_type, subject_type),
            subject_relation,
        ): target
        for (type_name, relation, subject_type, subject_relation), target in folded.items()
    }
    return _renames(relations, members, subject_sets, names)


def _renames(
    relations: dict[tuple[str, str], str],
    members: dict[tuple[str, str], str],
    subject_sets: dict[tuple[str, str, str, str], tuple[str, str]],
    names: NameChanges,
) -> Renames:
    return Renames(
        relations={key: name for key, name in relations.items() if key[1] != name},
        members={key: name for key, name in members.items() if key[1] != name},
        subject_sets=subject_sets,
        types=dict(names.types),
        caveats=dict(names.caveats),
    )


def _member_names(definition: Definition) -> list[str]:
    return [m.name for m in definition.relations] + [m.name for m in definition.permissions]
