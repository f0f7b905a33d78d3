"""What a bulk import streams to storage: each relationship parsed, checked, turned into a row.

Import speed is bounded by this loop, so plain relationship strings (no caveat, no
expiration: the bulk of real data) skip building a ``Relationship``, and the schema check runs
once per shape of relationship (types, relation, subject relation, wildcard, caveat,
expiration) rather than once per row; only a caveat context is checked row by row.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from clove.engine.typesystem import TypeSystem
from clove.errors import (
    CloveError,
    ContextError,
    InvalidInputError,
    RelationshipSyntaxError,
    RelationshipTypeError,
    UnknownTypeError,
    ValidationError,
)
from clove.relationships import (
    WILDCARD,
    Relationship,
    parse_plain_key,
    parse_relationship,
)
from clove.storage._rows import micros
from clove.storage.bulk import ImportRow

# (resource type, relation, subject type, subject relation, wildcard?, caveat, expiring?)
_Shape = tuple[str, str, str, str, bool, str | None, bool]


def validated_rows(items: Iterable[str | Relationship], types: TypeSystem) -> Iterator[ImportRow]:
    """``items`` as storage rows; raises on the first bad one, naming its row (from 1)."""
    allowed: set[_Shape] = set()
    for number, item in enumerate(items, start=1):
        try:
            if isinstance(item, str):
                key = parse_plain_key(item)
                if key is not None:
                    shape = (key[0], key[2], key[3], key[5], key[4] == WILDCARD, None, False)
                    if shape not in allowed:
                        types.validate_relationship(_relationship(key))
                        allowed.add(shape)
                    yield (*key, None, None, None)
                    continue
                yield _row(parse_relationship(item), types, allowed)
            elif isinstance(item, Relationship):
                yield _row(item, types, allowed)
            else:
                message = f"expected a relationship string or Relationship, got {item!r}"
                raise InvalidInputError(message)
        except CloveError as error:
            raise _at_row(error, number) from None


def _relationship(key: tuple[str, str, str, str, str, str]) -> Relationship:
    return Relationship(
        resource_type=key[0],
        resource_id=key[1],
        relation=key[2],
        subject_type=key[3],
        subject_id=key[4],
        subject_relation=key[5],
    )


def _row(rel: Relationship, types: TypeSystem, allowed: set[_Shape]) -> ImportRow:
    shape = (
        rel.resource_type,
        rel.relation,
        rel.subject_type,
        rel.subject_relation,
        rel.subject_id == WILDCARD,
        rel.caveat_name,
        rel.expiration is not None,
    )
    if rel.context_json is not None or shape not in allowed:
        types.validate_relationship(rel)
        allowed.add(shape)
    expiration = None if rel.expiration is None else micros(rel.expiration)
    return (*rel.key, rel.caveat_name, rel.context_json, expiration)


# Error classes whose only argument is the message.
_PLAIN_MESSAGE: frozenset[type[CloveError]] = frozenset(
    {
        ContextError,
        InvalidInputError,
        RelationshipTypeError,
        UnknownTypeError,
        ValidationError,
    }
)


def _at_row(error: CloveError, number: int) -> CloveError:
    """``error`` again, its message saying which row it is about."""
    if isinstance(error, RelationshipSyntaxError):
        return RelationshipSyntaxError(f"row {number}: {error.message}", text=error.text)
    if type(error) in _PLAIN_MESSAGE:
        return type(error)(f"row {number}: {error}")
    return error
