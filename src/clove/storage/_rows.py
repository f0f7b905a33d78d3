"""What the SQL backends share: the row shape of a relationship, time as integers, filters."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from clove.relationships import Relationship, RelationshipFilter

# ``deleted_revision`` of a version nobody has deleted yet (the largest 64-bit integer).
LIVE = (1 << 63) - 1

# Past this many changed sets between two revisions, a change feed answers "forget all".
CHANGED_SETS_LIMIT = 50_000

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def micros(moment: datetime) -> int:
    """``moment`` as integer microseconds since the epoch (naive times are UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MICROSECOND


def from_micros(epoch_micros: int) -> datetime:
    """The instant ``epoch_micros`` (see ``micros``), exactly: no float rounding."""
    return _EPOCH + epoch_micros * _MICROSECOND


def now_micros() -> int:
    return time.time_ns() // 1000


def relationship_from_row(row: Sequence[Any]) -> Relationship:
    """A relationship from a row of the key columns, caveat name, context JSON, expiration."""
    (
        resource_type,
        resource_id,
        relation,
        subject_type,
        subject_id,
        subject_relation,
        caveat_name,
        context_json,
        expiration,
    ) = row
    return Relationship(
        resource_type=resource_type,
        resource_id=resource_id,
        relation=relation,
        subject_type=subject_type,
        subject_id=subject_id,
        subject_relation=subject_relation,
        caveat_name=caveat_name,
        caveat_context=None if context_json is None else json.loads(context_json),
        context_json=context_json,
        expiration=None if expiration is None else from_micros(expiration),
    )


def filter_conditions(
    filter: RelationshipFilter, *, placeholder: str, prefix_of_length: str
) -> tuple[list[str], list[object]]:
    """SQL conditions and their parameters selecting ``filter``.

    ``placeholder`` is the driver's (``?`` or ``%s``); ``prefix_of_length`` is the SQL for
    "the first N characters of resource_id equal P", with two placeholders (N, P), used when a
    prefix has no upper bound.
    """
    conditions: list[str] = []
    params: list[object] = []
    for column, value in (
        ("resource_type", filter.resource_type),
        ("resource_id", filter.resource_id),
        ("relation", filter.relation),
        ("subject_type", filter.subject_type),
        ("subject_id", filter.subject_id),
        ("subject_relation", filter.subject_relation),
    ):
        if value is not None:
            conditions.append(f"{column} = {placeholder}")
            params.append(value)
    prefix = filter.resource_id_prefix
    if prefix:
        # A range rather than LIKE: exact, case-sensitive and index-friendly, provided the
        # column orders by code point (SQLite's default, the "C" collation in PostgreSQL).
        conditions.append(f"resource_id >= {placeholder}")
        params.append(prefix)
        upper = prefix_upper_bound(prefix)
        if upper is not None:
            conditions.append(f"resource_id < {placeholder}")
            params.append(upper)
        else:
            conditions.append(prefix_of_length)
            params.extend((len(prefix), prefix))
    return conditions, params


def fixed_key_prefix(filter: RelationshipFilter) -> tuple[str, ...]:
    """The leading ``Relationship.key`` columns that ``filter`` fixes to one value."""
    fixed: list[str] = []
    for value in (
        filter.resource_type,
        filter.resource_id,
        filter.relation,
        filter.subject_type,
        filter.subject_id,
        filter.subject_relation,
    ):
        if value is None:
            break
        fixed.append(value)
    return tuple(fixed)


def prefix_upper_bound(prefix: str) -> str | None:
    """The least string greater than every string starting with ``prefix`` (None: unbounded)."""
    last = ord(prefix[-1]) + 1
    if 0xD800 <= last <= 0xDFFF:  # surrogates cannot be encoded; skip past them
        last = 0xE000
    if last > 0x10FFFF:
        return None
    return prefix[:-1] + chr(last)
