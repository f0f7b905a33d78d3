"""Names SpiceDB cannot spell, respelled on the way in and restored on the way out.

SpiceDB's names are narrower than other languages': a definition, relation or permission
name is 3 to 64 characters of a-z, 0-9 and _, starts with a letter, does not end with _, and
is no keyword; a caveat name is letters, digits and _. OpenFGA and Zanzibar allow ``a1``,
``scopeA`` or a type called ``permission``. Writing SpiceDB, ``spell_names`` gives each such
name a valid spelling and records the original as the last line of the element's doc
comment, a JSON string after ``clove:name``::

    /** clove:name "scopeA" */
    definition scope_a {}

The spelling is deterministic: snake case (``scopeA`` → ``scope_a``), other characters
become ``_``, and a name still too short or a keyword takes a word for its kind
(``a1`` → ``a1_rel``, ``permission`` → ``permission_type``, ``nil`` as a caveat →
``nil_cond``); one already used anywhere in the schema takes ``_2``, ``_3`` ... Relations and
permissions are spelled alike in every definition, so an arrow's target, which names a member
of several types, stays one name.

Reading SpiceDB, ``restore_names`` gives every annotated element its recorded name back and
drops the annotation, so ``restore_names(spell_names(s))`` is ``s`` again. Annotations that
cannot be honoured (malformed, two per element, two names spelled alike, a restored name that
collides) are ``SchemaError`` at the element's position.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace

from clove.errors import SchemaError
from clove.schema.convert._rewrites import map_leaves
from clove.schema.ir import (
    AllowedSubject,
    Arrow,
    Caveat,
    Definition,
    Expression,
    Permission,
    Relation,
    RelationRef,
    Schema,
    Span,
)
from clove.schema.spicedb._checker import EXPIRATION_KEYWORDS, KEYWORDS

ANNOTATION = "clove:name"

_MEMBER_NAME = re.compile(r"[a-z][a-z0-9_]{1,62}[a-z0-9]")
_DEFINITION_PART = _MEMBER_NAME
_CAVEAT_PART = re.compile(r"[A-Za-z0-9_]+")
_MAX_NAME = 64
_MAX_PATH = 128
_CAMEL_HUMP = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NOT_SNAKE = re.compile(r"[^a-z0-9]+")
_NOT_WORD = re.compile(r"[^A-Za-z0-9_]+")
_QUOTED = re.compile(r"`([^`]+)`")


@dataclass(frozen=True, slots=True, kw_only=True)
class NameChanges:
    """Old name → new name in each of SpiceDB's namespaces; a name not listed is unchanged.

    ``members`` (relations and permissions) holds one new name per old name for the whole
    schema, whichever definitions use it.
    """

    types: dict[str, str] = field(default_factory=dict)
    members: dict[str, str] = field(default_factory=dict)
    caveats: dict[str, str] = field(default_factory=dict)


# --- writing SpiceDB -------------------------------------------------------------------


def spell_names(schema: Schema) -> tuple[Schema, NameChanges]:
    """``schema`` with every name SpiceDB cannot spell respelled and annotated."""
    keywords = KEYWORDS | (EXPIRATION_KEYWORDS if schema.use_expiration else frozenset())
    # Definitions and caveats share one namespace in SpiceDB; members share one per schema
    # here, so that a spelling means the same member wherever an arrow looks for it.
    global_names = {d.name for d in schema.definitions} | {c.name for c in schema.caveats}
    member_names = {m.name for d in schema.definitions for m in _members(d)}
    changes = NameChanges()
    for definition in schema.definitions:
        if not _valid_definition_name(definition.name, keywords):
            spelling = _unique(_snake_spelling(definition.name, "type", keywords), global_names)
            changes.types[definition.name] = spelling
    for caveat in schema.caveats:
        if not _valid_caveat_name(caveat.name, keywords):
            spelling = _unique(_caveat_spelling(caveat.name, keywords), global_names)
            changes.caveats[caveat.name] = spelling
    for definition in schema.definitions:
        for member in _members(definition):
            name = member.name
            if name not in changes.members and not _valid_member_name(name, keywords):
                spelling = _unique(_snake_spelling(name, "rel", keywords), member_names)
                changes.members[name] = spelling
    if not (changes.types or changes.members or changes.caveats):
        return schema, changes
    return _renamed(schema, changes, _annotated), changes


def respelled_in(message: str, changes: NameChanges) -> str:
    """A note naming the respelled names ``message`` mentions (`` `x` `` or `` `x#y` ``), or
    "" when it mentions none: SpiceDB's checker only knows the new spellings."""
    originals = {
        new: old
        for namespace in (changes.types, changes.members, changes.caveats)
        for old, new in namespace.items()
    }
    mentioned = dict.fromkeys(
        part
        for quoted in _QUOTED.findall(message)
        for part in quoted.split("#")
        if part in originals
    )
    if not mentioned:
        return ""
    pairs = ", ".join(f"`{originals[new]}` as `{new}`" for new in mentioned)
    return f"; SpiceDB spells {pairs}"


def _valid_definition_name(name: str, keywords: frozenset[str]) -> bool:
    parts = name.split("/")
    return len(name.encode()) <= _MAX_PATH and all(
        _DEFINITION_PART.fullmatch(part) and part not in keywords for part in parts
    )


def _valid_caveat_name(name: str, keywords: frozenset[str]) -> bool:
    parts = name.split("/")
    return len(name) <= _MAX_PATH and all(
        _CAVEAT_PART.fullmatch(part) and part not in keywords for part in parts
    )


def _valid_member_name(name: str, keywords: frozenset[str]) -> bool:
    return _MEMBER_NAME.fullmatch(name) is not None and name not in keywords


def _snake_spelling(name: str, kind: str, keywords: frozenset[str]) -> str:
    """``name`` in snake case, made a valid definition / member name with ``kind``'s help."""
    word = _NOT_SNAKE.sub("_", _CAMEL_HUMP.sub("_", name).lower()).strip("_")
    if not word[:1].isalpha():
        word = f"{kind}_{word}".rstrip("_")
    if len(word) < 3 or word in keywords:
        word = f"{word}_{kind}"
    return word[:_MAX_NAME].rstrip("_")


def _caveat_spelling(name: str, keywords: frozenset[str]) -> str:
    word = _NOT_WORD.sub("_", name)
    if word in keywords:
        word = f"{word}_cond"
    return word[:_MAX_PATH]


def _unique(spelling: str, taken: set[str]) -> str:
    """``spelling``, or with the first free ``_2``, ``_3`` ... suffix; then it is taken."""
    candidate = spelling
    number = 2
    while candidate in taken:
        suffix = f"_{number}"
        candidate = spelling[: _MAX_NAME - len(suffix)].rstrip("_") + suffix
        number += 1
    taken.add(candidate)
    return candidate


def _annotated(doc: str | None, name: str, changes: Mapping[str, str]) -> str | None:
    if name not in changes:
        return doc
    # JSON keeps any name on one line; `\/` keeps `*/` from ending the comment.
    line = f"{ANNOTATION} {_json_name(name)}"
    return f"{doc}\n{line}" if doc else line


def _json_name(name: str) -> str:
    return json.dumps(name).replace("/", "\\/")


# --- reading SpiceDB -------------------------------------------------------------------


def restore_names(schema: Schema) -> tuple[Schema, NameChanges]:
    """``schema`` with the names recorded by ``clove:name`` annotations, which are dropped."""
    changes = NameChanges()
    for item in _top_level(schema):
        original = _recorded_name(item.doc, item.span)
        if original is not None and original != item.name:
            namespace = changes.caveats if isinstance(item, Caveat) else changes.types
            namespace[item.name] = original
    plain: dict[str, Span] = {}  # members without an annotation, where one was seen
    for definition in schema.definitions:
        for member in _members(definition):
            original = _recorded_name(member.doc, member.span)
            recorded = changes.members.get(member.name)
            if original is None or original == member.name:
                plain.setdefault(member.name, member.span)
            elif recorded is not None and recorded != original:
                raise _error(
                    f"`{member.name}` is recorded as both `{recorded}` and `{original}`",
                    member.span,
                )
            else:
                changes.members[member.name] = original
    for name, span in plain.items():
        if name in changes.members:
            raise _error(
                f"`{name}` is recorded as `{changes.members[name]}` in one definition but not"
                " in another (a relation or permission is named alike in every definition)",
                span,
            )
    restored = _renamed(schema, changes, _without_annotation)
    _require_distinct(restored)
    return restored, changes


def _recorded_name(doc: str | None, span: Span) -> str | None:
    if not doc:
        return None
    found = [line for line in doc.splitlines() if _is_annotation(line)]
    if not found:
        return None
    if len(found) > 1:
        raise _error(f"more than one `{ANNOTATION}` annotation", span)
    text = found[0][len(ANNOTATION) :].strip()
    try:
        name = json.loads(text)
    except ValueError:
        name = None
    if not isinstance(name, str) or not name:
        raise _error(
            f"`{ANNOTATION}` must be followed by the original name as a JSON string, not `{text}`",
            span,
        )
    return name


def _is_annotation(line: str) -> bool:
    return line == ANNOTATION or line.startswith(f"{ANNOTATION} ")


def _without_annotation(doc: str | None, _name: str, _changes: Mapping[str, str]) -> str | None:
    if not doc:
        return doc
    kept = [line for line in doc.splitlines() if not _is_annotation(line)]
    return "\n".join(kept) or None


def _require_distinct(schema: Schema) -> None:
    seen: set[str] = set()
    for item in _top_level(schema):
        if item.name in seen:
            raise _error(f"the recorded name `{item.name}` is used twice", item.span)
        seen.add(item.name)
    for definition in schema.definitions:
        members: set[str] = set()
        for member in _members(definition):
            if member.name in members:
                raise _error(
                    f"the recorded name `{member.name}` is used twice in `{definition.name}`",
                    member.span,
                )
            members.add(member.name)


def _error(message: str, span: Span) -> SchemaError:
    return SchemaError(message, line=span.line, column=span.column)


# --- renaming ----------------------------------------------------------------------------

_DocChange = Callable[[str | None, str, Mapping[str, str]], str | None]


def _top_level(schema: Schema) -> Iterator[Definition | Caveat]:
    yield from schema.definitions
    yield from schema.caveats


def _members(definition: Definition) -> Iterator[Relation | Permission]:
    yield from definition.relations
    yield from definition.permissions


def _renamed(schema: Schema, changes: NameChanges, doc: _DocChange) -> Schema:
    """``schema`` with ``changes`` applied wherever a name is used; ``doc`` rewrites the
    doc comment of each element (given its old name and its namespace's changes)."""
    members, caveat_names = changes.members, changes.caveats

    def subjects(allowed: Iterable[AllowedSubject]) -> tuple[AllowedSubject, ...]:
        return tuple(
            replace(
                subject,
                type=changes.types.get(subject.type, subject.type),
                relation=members.get(subject.relation, subject.relation),
                caveat=_optional(subject.caveat, caveat_names),
            )
            for subject in allowed
        )

    def expression(node: Expression) -> Expression:
        return map_leaves(node, lambda leaf: _renamed_leaf(leaf, members))

    definitions = tuple(
        replace(
            definition,
            name=changes.types.get(definition.name, definition.name),
            doc=doc(definition.doc, definition.name, changes.types),
            relations=tuple(
                replace(
                    relation,
                    name=members.get(relation.name, relation.name),
                    allowed=subjects(relation.allowed),
                    rewrite=None if relation.rewrite is None else expression(relation.rewrite),
                    doc=doc(relation.doc, relation.name, members),
                )
                for relation in definition.relations
            ),
            permissions=tuple(
                replace(
                    permission,
                    name=members.get(permission.name, permission.name),
                    expression=expression(permission.expression),
                    doc=doc(permission.doc, permission.name, members),
                )
                for permission in definition.permissions
            ),
        )
        for definition in schema.definitions
    )
    caveats = tuple(
        replace(
            caveat,
            name=changes.caveats.get(caveat.name, caveat.name),
            doc=doc(caveat.doc, caveat.name, changes.caveats),
        )
        for caveat in schema.caveats
    )
    return replace(schema, definitions=definitions, caveats=caveats)


def _optional(name: str | None, changes: Mapping[str, str]) -> str | None:
    return None if name is None else changes.get(name, name)


def _renamed_leaf(leaf: Expression, members: Mapping[str, str]) -> Expression:
    match leaf:
        case RelationRef(name=name) if name in members:
            return replace(leaf, name=members[name])
        case Arrow(tupleset=tupleset, target=target):
            return replace(
                leaf,
                tupleset=members.get(tupleset, tupleset),
                target=members.get(target, target),
            )
        case _:
            return leaf
