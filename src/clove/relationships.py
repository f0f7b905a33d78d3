"""Relationships, their text syntax, filters and write operations.

The text syntax is SpiceDB's::

    resource_type:id#relation@subject_type:id[#subject_relation][caveat[:{json}]][expiration:RFC3339]

``#...`` as the subject relation means "the subject object itself", as does leaving it out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from clove.errors import RelationshipSyntaxError
from clove.schema.ir import ELLIPSIS

WILDCARD = "*"

_TYPE = r"(?:[a-z][a-z0-9_]{1,61}[a-z0-9]/)*[a-z][a-z0-9_]{1,62}[a-z0-9]"
_ID = r"[a-zA-Z0-9/_|\-=+]{1,1024}"
_RELATION = r"[a-z][a-z0-9_]{1,62}[a-z0-9]"
# Looser than type names: the schema accepts short caveat names, so relationships do too.
_CAVEAT = r"(?:[a-z][a-z0-9_]{0,62}/)*[a-z][a-z0-9_]{0,63}"

# The same patterns, for documents that describe them (the HTTP API's OpenAPI document).
TYPE_PATTERN, ID_PATTERN, RELATION_PATTERN, CAVEAT_PATTERN = _TYPE, _ID, _RELATION, _CAVEAT

_TYPE_RE = re.compile(_TYPE)
_ID_RE = re.compile(_ID)
_RELATION_RE = re.compile(_RELATION)

_RELATIONSHIP_RE = re.compile(
    rf"""
    (?P<rtype>{_TYPE}):(?P<rid>{_ID})
    \#(?P<rel>{_RELATION})
    @(?P<stype>{_TYPE}):(?P<sid>{_ID}|\*)
    (?:\#(?P<srel>{_RELATION}|\.\.\.))?
    """,
    re.VERBOSE,
)
_CAVEAT_RE = re.compile(rf"\[(?P<name>{_CAVEAT})(?P<end>\]|:)")
_EXPIRATION_RE = re.compile(r"\[expiration:(?P<at>[^\]]+)\]")


def _context_key(context: Mapping[str, Any] | None) -> str | None:
    if not context:
        return None
    return json.dumps(context, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True, slots=True, kw_only=True)
class Relationship:
    """One relationship: ``resource#relation@subject``, optionally caveated and expiring.

    Two relationships with the same ``key`` are the same relationship; caveat and expiration
    are its attributes (a TOUCH replaces them).
    """

    resource_type: str
    resource_id: str
    relation: str
    subject_type: str
    subject_id: str
    subject_relation: str = ELLIPSIS
    caveat_name: str | None = None
    caveat_context: Mapping[str, Any] | None = field(default=None, hash=False, compare=False)
    expiration: datetime | None = None
    # Canonical JSON of the caveat context, used for equality and storage.
    context_json: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.context_json is None and self.caveat_context:
            object.__setattr__(self, "context_json", _context_key(self.caveat_context))
        if self.expiration is not None and self.expiration.tzinfo is None:
            object.__setattr__(self, "expiration", self.expiration.replace(tzinfo=UTC))

    @property
    def key(self) -> tuple[str, str, str, str, str, str]:
        return (
            self.resource_type,
            self.resource_id,
            self.relation,
            self.subject_type,
            self.subject_id,
            self.subject_relation,
        )

    @property
    def resource(self) -> str:
        return f"{self.resource_type}:{self.resource_id}"

    @property
    def subject(self) -> str:
        base = f"{self.subject_type}:{self.subject_id}"
        return base if self.subject_relation == ELLIPSIS else f"{base}#{self.subject_relation}"

    def expired(self, now: datetime) -> bool:
        return self.expiration is not None and self.expiration <= now

    def __str__(self) -> str:
        return format_relationship(self)


def format_relationship(rel: Relationship) -> str:
    """The canonical text form of ``rel``."""
    text = f"{rel.resource}#{rel.relation}@{rel.subject}"
    if rel.caveat_name is not None:
        text += f"[{rel.caveat_name}"
        if rel.context_json:
            text += f":{rel.context_json}"
        text += "]"
    if rel.expiration is not None:
        stamp = rel.expiration.astimezone(UTC).isoformat().replace("+00:00", "Z")
        text += f"[expiration:{stamp}]"
    return text


def parse_timestamp(text: str) -> datetime:
    """An RFC 3339 timestamp; naive times are taken as UTC."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def parse_relationship(text: str) -> Relationship:
    """Parse SpiceDB's relationship syntax; raises RelationshipSyntaxError saying what is wrong."""
    source = text.strip()
    match = _RELATIONSHIP_RE.match(source)
    if match is None:
        raise RelationshipSyntaxError(_explain(source), text=text)
    rest = source[match.end() :]
    caveat_name: str | None = None
    context: dict[str, Any] | None = None
    expiration: datetime | None = None
    if rest.startswith("[") and not rest.startswith("[expiration:"):
        caveat = _CAVEAT_RE.match(rest)
        if caveat is None:
            raise RelationshipSyntaxError(
                "malformed caveat; expected [name] or [name:{json}]", text=text
            )
        caveat_name = caveat["name"]
        rest = rest[caveat.end() :]
        if caveat["end"] == ":":
            context, rest = _parse_context(rest, text)
    if rest.startswith("[expiration:"):
        expiry = _EXPIRATION_RE.match(rest)
        if expiry is None:
            raise RelationshipSyntaxError(
                "malformed expiration; expected [expiration:RFC3339]", text=text
            )
        try:
            expiration = parse_timestamp(expiry["at"])
        except ValueError:
            raise RelationshipSyntaxError(
                f"expiration {expiry['at']!r} is not an RFC 3339 time", text=text
            ) from None
        rest = rest[expiry.end() :]
    if rest:
        raise RelationshipSyntaxError(f"unexpected text {rest!r} after the relationship", text=text)
    subject_relation = match["srel"] or ELLIPSIS
    if match["sid"] == WILDCARD and subject_relation != ELLIPSIS:
        raise RelationshipSyntaxError(
            "a wildcard subject cannot have a subject relation", text=text
        )
    return Relationship(
        resource_type=match["rtype"],
        resource_id=match["rid"],
        relation=match["rel"],
        subject_type=match["stype"],
        subject_id=match["sid"],
        subject_relation=subject_relation,
        caveat_name=caveat_name,
        caveat_context=context,
        expiration=expiration,
    )


def parse_plain_key(text: str) -> tuple[str, str, str, str, str, str] | None:
    """The key of ``text`` when it is a plain relationship (no caveat, no expiration).

    None when it is anything else, well-formed or not: then ``parse_relationship`` decides.
    The bulk-import fast path, which skips building a ``Relationship`` per line.
    """
    match = _RELATIONSHIP_RE.fullmatch(text)
    if match is None:
        return None
    rtype, rid, rel, stype, sid, srel = match.group("rtype", "rid", "rel", "stype", "sid", "srel")
    if srel is None:
        srel = ELLIPSIS
    elif sid == WILDCARD and srel != ELLIPSIS:
        return None
    return (rtype, rid, rel, stype, sid, srel)


# Deeper JSON would only ever be refused later (caveat contexts stop at 100 levels), and
# the JSON decoder recurses once per level.
MAX_CONTEXT_NESTING = 100


def _nesting(text: str) -> int:
    """The deepest ``[``/``{`` nesting in ``text``, strings skipped (stops past the limit)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_CONTEXT_NESTING:
                    return deepest
        elif char in "]}":
            depth -= 1
    return deepest


def _parse_context(rest: str, text: str) -> tuple[dict[str, Any], str]:
    """Decode the JSON object that opens ``rest``; return it and what follows its ``]``."""
    if _nesting(rest) > MAX_CONTEXT_NESTING:
        message = f"caveat context is nested more than {MAX_CONTEXT_NESTING} levels deep"
        raise RelationshipSyntaxError(message, text=text)
    try:
        loaded, end = json.JSONDecoder().raw_decode(rest)
    except json.JSONDecodeError as error:
        message = f"caveat context is not valid JSON ({error.msg})"
        raise RelationshipSyntaxError(message, text=text) from None
    if not isinstance(loaded, dict):
        raise RelationshipSyntaxError("caveat context must be a JSON object", text=text)
    if not rest[end:].startswith("]"):
        raise RelationshipSyntaxError("caveat context must be followed by ']'", text=text)
    return loaded, rest[end + 1 :]


def _explain(source: str) -> str:
    """Say which part of a relationship string is wrong."""
    if "@" not in source:
        return "missing '@' between resource and subject"
    resource, _, subject = source.partition("@")
    obj, hash_, relation = resource.partition("#")
    if not hash_:
        return "missing '#relation' after the resource"
    message = _explain_object(obj, "resource")
    if message:
        return message
    if not _RELATION_RE.fullmatch(relation):
        return f"invalid relation name {relation!r}"
    subject_obj = re.split(r"[#\[]", subject, maxsplit=1)[0]
    return _explain_object(subject_obj, "subject", wildcard=True) or "malformed subject"


def _explain_object(obj: str, role: str, *, wildcard: bool = False) -> str | None:
    type_, colon, id_ = obj.partition(":")
    if not colon:
        return f"{role} {obj!r} must be written type:id"
    if not _TYPE_RE.fullmatch(type_):
        return f"invalid {role} type {type_!r}"
    if not (_ID_RE.fullmatch(id_) or (wildcard and id_ == WILDCARD)):
        return f"invalid {role} id {id_!r}"
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class ObjectRef:
    """``type:id``."""

    type: str
    id: str

    def __str__(self) -> str:
        return f"{self.type}:{self.id}"


@dataclass(frozen=True, slots=True, kw_only=True)
class SubjectRef:
    """``type:id`` or ``type:id#relation`` (a subject set)."""

    type: str
    id: str
    relation: str = ELLIPSIS

    def __str__(self) -> str:
        base = f"{self.type}:{self.id}"
        return base if self.relation == ELLIPSIS else f"{base}#{self.relation}"


def parse_object(text: str) -> ObjectRef:
    """``type:id``; raises RelationshipSyntaxError."""
    message = _explain_object(text.strip(), "object")
    if message:
        raise RelationshipSyntaxError(message, text=text)
    type_, _, id_ = text.strip().partition(":")
    return ObjectRef(type=type_, id=id_)


def parse_subject(text: str) -> SubjectRef:
    """``type:id``, ``type:id#relation`` or ``type:id#...``; raises RelationshipSyntaxError."""
    obj, _, relation = text.strip().partition("#")
    message = _explain_object(obj, "subject", wildcard=True)
    if message:
        raise RelationshipSyntaxError(message, text=text)
    if relation and relation != ELLIPSIS and not _RELATION_RE.fullmatch(relation):
        raise RelationshipSyntaxError(f"invalid subject relation {relation!r}", text=text)
    type_, _, id_ = obj.partition(":")
    return SubjectRef(type=type_, id=id_, relation=relation or ELLIPSIS)


@dataclass(frozen=True, slots=True, kw_only=True)
class RelationshipFilter:
    """Selects relationships; a field left as None matches anything.

    ``subject_relation`` matches exactly (use ``ELLIPSIS`` for plain subjects).
    ``resource_id_prefix`` matches ids that start with it.
    """

    resource_type: str | None = None
    resource_id: str | None = None
    resource_id_prefix: str | None = None
    relation: str | None = None
    subject_type: str | None = None
    subject_id: str | None = None
    subject_relation: str | None = None

    def matches(self, rel: Relationship) -> bool:
        return (
            (self.resource_type is None or rel.resource_type == self.resource_type)
            and (self.resource_id is None or rel.resource_id == self.resource_id)
            and (
                self.resource_id_prefix is None
                or rel.resource_id.startswith(self.resource_id_prefix)
            )
            and (self.relation is None or rel.relation == self.relation)
            and (self.subject_type is None or rel.subject_type == self.subject_type)
            and (self.subject_id is None or rel.subject_id == self.subject_id)
            and (self.subject_relation is None or rel.subject_relation == self.subject_relation)
        )


class Operation(StrEnum):
    CREATE = "create"  # fails if the relationship exists
    TOUCH = "touch"  # creates or replaces
    DELETE = "delete"  # removes if present


@dataclass(frozen=True, slots=True, kw_only=True)
class RelationshipUpdate:
    operation: Operation
    relationship: Relationship


class PreconditionKind(StrEnum):
    MUST_MATCH = "must_match"
    MUST_NOT_MATCH = "must_not_match"


@dataclass(frozen=True, slots=True, kw_only=True)
class Precondition:
    kind: PreconditionKind
    filter: RelationshipFilter
