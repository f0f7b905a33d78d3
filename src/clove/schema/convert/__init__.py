"""Package convert owns translation between schema languages: SpiceDB, OpenFGA (DSL and
JSON) and Zanzibar namespace configs, through the one IR.

``convert(text, to=...)`` reads a schema in any of the four languages (detected unless
``source_syntax`` says) and writes it in another. SpiceDB has no rewrites on relations, so a
relation with a rewrite is written there as a stored relation ``<name>_direct`` plus a
permission ``<name>``, and that pattern in a SpiceDB source is read back as the relation with
its rewrite (see ``_rewrites``). Stored relationships then live under another relation name;
``relation_renames`` says which, and ``convert_relationships`` moves data accordingly, so the
converted model answers the same checks on the converted data. Names SpiceDB's grammar cannot
spell (``a1``, ``scopeA``, a type called ``permission``) get a valid spelling there, with the
original recorded in a ``clove:name`` doc comment that converting back honours (see
``_names``); types, members and caveats of data then move too. A subject set that reaches a
wildcard, which SpiceDB forbids, is written as an arrow over a relation to its type (see
``_subject_sets``), and its relationships move there. Constructs the target cannot
express raise ``SchemaConversionError``; input that does not parse raises ``SchemaError``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Literal, get_args

from clove.errors import SchemaConversionError, SchemaError
from clove.relationships import Relationship, parse_relationship
from clove.schema._expressible import (
    check_rewrites_and_arrows,
    member_expressions,
    subexpressions,
)
from clove.schema.convert._names import NameChanges, respelled_in, restore_names, spell_names
from clove.schema.convert._relationships import Renames, renames_from_spicedb, renames_to_spicedb
from clove.schema.convert._rewrites import lift_rewrites, lower_rewrites
from clove.schema.convert._subject_sets import arrow_subject_sets, subject_sets_from_arrows
from clove.schema.ir import ELLIPSIS, Arrow, Schema
from clove.schema.openfga import parse_openfga_dsl, parse_openfga_json
from clove.schema.openfga._json_printer import print_openfga_json
from clove.schema.openfga._printer import print_openfga_dsl
from clove.schema.spicedb import check_schema, parse_schema, print_schema
from clove.schema.syntax import detect_syntax
from clove.schema.zanzibar import parse_zanzibar, print_zanzibar

__all__ = [
    "LANGUAGES",
    "Conversion",
    "Language",
    "Renames",
    "convert",
    "convert_relationships",
    "convert_schema",
    "detect_language",
    "lift_rewrites",
    "lower_rewrites",
    "parse_any",
    "plain_tuplesets",
    "print_openfga_dsl",
    "print_openfga_json",
    "print_spicedb",
    "print_zanzibar",
    "relation_renames",
    "restore_names",
    "spell_names",
]

Language = Literal["spicedb", "openfga", "openfga-json", "zanzibar"]
LANGUAGES: tuple[Language, ...] = get_args(Language)


@dataclass(frozen=True, slots=True, kw_only=True)
class Conversion:
    """A converted schema: its text, its IR, and the names its data must now use.

    ``renames`` says where stored relationships go (``convert_relationships``) and what
    checks ask for: renamed stored relations, relations and permissions, types and caveats,
    keyed by the source's names; all others keep their names.
    """

    text: str
    schema: Schema
    renames: Renames


def detect_language(text: str) -> Language:
    """The language ``text`` is written in: JSON objects are OpenFGA models, ``model`` /
    ``module`` headers the OpenFGA DSL, ``name: "..."`` / ``namespace {`` Zanzibar configs,
    and anything else SpiceDB (whose parser then reports what is wrong)."""
    syntax = detect_syntax(text)
    if syntax == "openfga" and text.lstrip().startswith("{"):
        return "openfga-json"
    return syntax


def parse_any(text: str, *, syntax: Language | None = None) -> Schema:
    """Parse ``text`` in ``syntax`` (detected when None) into the IR, as that language means it.

    SpiceDB text is returned as written (relations never carry rewrites there, and
    ``clove:name`` annotations stay doc comments); use ``restore_names`` and then
    ``lift_rewrites`` to read it as another language would.
    """
    language = syntax or detect_language(text)
    match language:
        case "spicedb":
            return parse_schema(text)
        case "zanzibar":
            return parse_zanzibar(text)
        case "openfga":
            return parse_openfga_dsl(text)
        case "openfga-json":
            return parse_openfga_json(text)
        case _:
            raise _unknown_language(language)


def print_spicedb(schema: Schema) -> str:
    """SpiceDB text for any IR: relation rewrites become ``<name>_direct`` + a permission, and
    names SpiceDB cannot spell are respelled (the original kept in a ``clove:name`` comment).

    The result is type-checked with SpiceDB's rules; a schema that breaks them (a wildcard
    reached through a subject set, for example) raises ``SchemaConversionError``.
    """
    return print_schema(_to_spicedb(schema)[0])


def convert_schema(text: str, *, to: Language, source_syntax: Language | None = None) -> Conversion:
    """Convert ``text`` to the language ``to``, with the IR and the relation renames."""
    source = source_syntax or detect_language(text)
    if to not in LANGUAGES:
        raise _unknown_language(to)
    schema = parse_any(text, syntax=source)
    renames = Renames()
    if source == "spicedb" and to != "spicedb":
        parsed = schema
        schema, names = restore_names(parsed)
        schema, lifted = lift_rewrites(schema)
        schema, folded = subject_sets_from_arrows(schema)
        renames = renames_from_spicedb(parsed, names, lifted, folded)
    if source == "zanzibar" and to in ("openfga", "openfga-json"):
        schema = plain_tuplesets(schema)
    match to:
        case "spicedb":
            target, renames = _to_spicedb(schema)
            return Conversion(text=print_schema(target), schema=target, renames=renames)
        case "openfga":
            output = print_openfga_dsl(schema)
        case "openfga-json":
            output = print_openfga_json(schema)
        case _:
            output = print_zanzibar(schema)
    return Conversion(text=output, schema=schema, renames=renames)


def convert(text: str, *, to: Language, source_syntax: Language | None = None) -> str:
    """``text`` (in ``source_syntax``, detected when None) written in the language ``to``."""
    return convert_schema(text, to=to, source_syntax=source_syntax).text


def relation_renames(
    text: str, *, to: Language, source_syntax: Language | None = None
) -> dict[tuple[str, str], str]:
    """``(definition, stored relation)`` → its name after converting ``text`` to ``to``."""
    return dict(convert_schema(text, to=to, source_syntax=source_syntax).renames.relations)


def convert_relationships(
    relationships: Iterable[Relationship | str],
    renames: Renames | Mapping[tuple[str, str], str],
) -> list[Relationship]:
    """Relationships as the converted schema stores them.

    ``renames`` is a conversion's ``Renames``, or just its stored relations. A relation
    renamed because it has a rewrite moves on the resource side only: subject sets such as
    ``group:eng#member`` mean the whole relation, rewrite included, which the converted
    schema keeps under its name. A respelled name moves everywhere: object types of
    resources and subjects, subject relations, caveats.
    """
    if not isinstance(renames, Renames):
        renames = Renames(relations=renames)
    return [
        renames.relationship(parse_relationship(rel) if isinstance(rel, str) else rel)
        for rel in relationships
    ]


def plain_tuplesets(schema: Schema) -> Schema:
    """Zanzibar relations read by a tuple_to_userset, restricted to plain objects.

    Zanzibar relations accept any userset, but OpenFGA's ``from`` reads only relations of
    plain types; a tupleset relation points at objects anyway, so it keeps its meaning.
    """
    definitions = []
    for definition in schema.definitions:
        tuplesets = {
            node.tupleset
            for _, expression in member_expressions(definition)
            for node in subexpressions(expression)
            if isinstance(node, Arrow)
        }
        relations = tuple(
            replace(
                relation,
                allowed=tuple(s for s in relation.allowed if s.relation == ELLIPSIS),
            )
            if relation.name in tuplesets
            else relation
            for relation in definition.relations
        )
        definitions.append(replace(definition, relations=relations))
    return replace(schema, definitions=tuple(definitions))


def _to_spicedb(schema: Schema) -> tuple[Schema, Renames]:
    """``schema`` as SpiceDB can write it, checked by SpiceDB's rules, and the renames."""
    check_rewrites_and_arrows(schema, "SpiceDB")
    arrowed, moved = arrow_subject_sets(schema)
    lowered, stored = lower_rewrites(arrowed)
    target, names = spell_names(lowered)
    _check_spicedb(target, names)
    return target, renames_to_spicedb(schema, moved, stored, names)


def _check_spicedb(schema: Schema, names: NameChanges) -> None:
    try:
        check_schema(schema)
    except SchemaError as error:
        where = f" (source {error.line}:{error.column})" if error.line else ""
        raise SchemaConversionError(
            f"cannot write the schema in SpiceDB: {error.message}{where}"
            f"{respelled_in(error.message, names)}",
            construct="SpiceDB rule",
            where=f"{error.line}:{error.column}",
            target="spicedb",
        ) from None


def _unknown_language(language: str) -> SchemaConversionError:
    return SchemaConversionError(
        f"unknown schema language `{language}` (expected one of {', '.join(LANGUAGES)})",
        construct="language",
        where="",
        target=language,
    )
