"""The embedded database: the one public entry point over engine and storage."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any

from clove.consistency import Consistency, decode_token, encode_token
from clove.engine.check import check as run_check
from clove.engine.context import CaveatRunner
from clove.engine.expand import ExpandNode
from clove.engine.expand import expand as run_expand
from clove.engine.outcome import Outcome
from clove.engine.resources import lookup_resources as run_lookup_resources
from clove.engine.subjects import lookup_subjects as run_lookup_subjects
from clove.engine.typesystem import TypeSystem
from clove.errors import (
    InvalidInputError,
    SchemaError,
    ValidationError,
)
from clove.relationships import (
    WILDCARD,
    ObjectRef,
    Operation,
    Precondition,
    Relationship,
    RelationshipFilter,
    RelationshipUpdate,
    SubjectRef,
    parse_object,
    parse_relationship,
    parse_subject,
)
from clove.schema import ir
from clove.schema.ir import ELLIPSIS
from clove.schema.spicedb import parse_schema, print_schema
from clove.storage.memory import MemoryStore
from clove.storage.protocol import Reader, Store

# How long a "minimize latency" read may reuse the head revision it saw last (seconds).
DEFAULT_QUANTUM = 0.005
_PARSE_MEMO_SIZE = 65_536


class Permissionship(StrEnum):
    HAS = "has"
    NO = "no"
    CONDITIONAL = "conditional"


def _permissionship(outcome: Outcome) -> tuple[Permissionship, tuple[str, ...]]:
    if outcome is True:
        return Permissionship.HAS, ()
    if outcome is False:
        return Permissionship.NO, ()
    return Permissionship.CONDITIONAL, tuple(sorted(outcome))


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The answer to a check. ``bool(result)`` is True only for ``has``."""

    permissionship: Permissionship
    missing_context: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return self.permissionship is Permissionship.HAS


@dataclass(frozen=True, slots=True)
class ResourceResult:
    resource_id: str
    permissionship: Permissionship
    missing_context: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SubjectResult:
    """A subject found by lookup_subjects; ``subject_id`` "*" is the wildcard."""

    subject_id: str
    permissionship: Permissionship
    excluded_subject_ids: tuple[str, ...] = ()
    missing_context: tuple[str, ...] = ()


ConsistencyArg = Consistency | str | None
UpdateArg = str | Relationship | RelationshipUpdate


def open(url: str = "memory", *, quantum: float = DEFAULT_QUANTUM) -> Database:
    """Open a database: ``"memory"``, ``"sqlite:///path/to/file.db"`` (or a plain file path),
    or ``"postgresql://user@host/db"`` (``?schema=NAME`` picks the PostgreSQL schema)."""
    return Database(_open_store(url), quantum=quantum)


def _open_store(url: str) -> Store:
    if url in ("memory", "memory://", ":memory:"):
        return MemoryStore()
    if url.startswith("sqlite://"):
        path = url[len("sqlite://") :]
        if not path:
            raise InvalidInputError(f"no file path in {url!r}")
        return _sqlite(path)
    if url.startswith(("postgresql://", "postgres://")):
        # PostgreSQL behind the shared read cache; ``?schema=NAME`` picks the tables' schema.
        from clove.storage.cache import CachedStore
        from clove.storage.postgres import PostgresStore

        postgres = PostgresStore(url)
        return CachedStore(postgres, postgres)
    if "://" not in url:
        return _sqlite(url)
    raise InvalidInputError(
        f"unsupported database URL {url!r}: use memory, sqlite:///path or postgresql://..."
    )


def _sqlite(path: str) -> Store:
    from clove.storage.cache import CachedStore
    from clove.storage.sqlite import SqliteStore

    file = Path(path).expanduser()
    file.parent.mkdir(parents=True, exist_ok=True)
    store = SqliteStore(file)
    return CachedStore(store, store)


class Database:
    """Schema, relationships and permission questions over one store."""

    def __init__(self, store: Store, *, quantum: float = DEFAULT_QUANTUM) -> None:
        self._store = store
        self._quantum = quantum
        self._head = 0
        self._head_seen_at = float("-inf")
        self._written = 0
        self._types: tuple[int, TypeSystem] | None = None
        self._types_seen_at = -1  # the reader revision at which ``_types`` was last in force
        self._objects: dict[str, ObjectRef] = {}
        self._subjects: dict[str, SubjectRef] = {}

    # --- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        self._store.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def store(self) -> Store:
        return self._store

    # --- revisions ----------------------------------------------------------------------

    def _revision(self, consistency: ConsistencyArg) -> int:
        if consistency is None or consistency == "minimize_latency":
            return max(self._quantized_head(), self._written)
        if consistency in ("full", "fully_consistent"):
            return self._fresh_head()
        if isinstance(consistency, str):
            raise InvalidInputError(f"unknown consistency {consistency!r}")
        match consistency.kind:
            case "minimize_latency":
                return max(self._quantized_head(), self._written)
            case "full":
                return self._fresh_head()
            case "at_least_as_fresh":
                wanted = decode_token(_token(consistency), self._store.store_id)
                head = self._quantized_head()
                return head if head >= wanted else max(self._fresh_head(), wanted)
            case "at_exact_snapshot":
                return decode_token(_token(consistency), self._store.store_id)

    def _fresh_head(self) -> int:
        self._head = self._store.head_revision()
        self._head_seen_at = time.monotonic()
        return self._head

    def _quantized_head(self) -> int:
        if time.monotonic() - self._head_seen_at < self._quantum:
            return self._head
        return self._fresh_head()

    def snapshot(self, *, consistency: ConsistencyArg = None) -> str:
        """The token of the revision a read with ``consistency`` would see now.

        Servers pin a whole request (or a paged listing) to it with
        ``Consistency.at_exact_snapshot`` and return it as the token the answer was computed at.
        """
        return encode_token(self._store.store_id, self._revision(consistency))

    def _reader(self, consistency: ConsistencyArg) -> Reader:
        return self._store.reader(self._revision(consistency))

    def _typesystem(self, reader: Reader) -> TypeSystem:
        """The compiled schema in force at the reader's revision (revisions never change)."""
        cached = self._types
        if cached is not None and self._types_seen_at == reader.revision:
            return cached[1]
        record = reader.schema()
        if record is None:
            raise ValidationError("no schema has been written")
        if cached is None or cached[0] != record.revision:
            cached = (record.revision, TypeSystem(parse_schema(record.text)))
            self._types = cached
        self._types_seen_at = reader.revision
        return cached[1]

    def _object(self, text: str) -> ObjectRef:
        """``parse_object`` with a bounded memo: hot checks name the same objects again."""
        found = self._objects.get(text)
        if found is None:
            if len(self._objects) >= _PARSE_MEMO_SIZE:
                self._objects.clear()
            found = self._objects[text] = parse_object(text)
        return found

    def _subject(self, subject: str | SubjectRef) -> SubjectRef:
        if isinstance(subject, SubjectRef):
            return subject
        found = self._subjects.get(subject)
        if found is None:
            if len(self._subjects) >= _PARSE_MEMO_SIZE:
                self._subjects.clear()
            found = self._subjects[subject] = parse_subject(subject)
        return found

    def _token(self, revision: int) -> str:
        self._written = max(self._written, revision)
        return encode_token(self._store.store_id, revision)

    # --- schema ---------------------------------------------------------------------------

    def write_schema(self, text: str) -> str:
        """Parse, type-check and store ``text``; refuse a change that would orphan data."""
        schema = parse_schema(text)
        types = TypeSystem(schema)
        head = self._store.reader(self._fresh_head())
        old = head.schema()
        if old is not None:
            _check_no_orphans(parse_schema(old.text), schema, head)
        revision = self._store.write([], schema_text=text)
        self._types = (revision, types)
        self._types_seen_at = revision
        return self._token(revision)

    def read_schema(self, *, consistency: ConsistencyArg = None) -> str:
        record = self._reader(consistency).schema()
        if record is None:
            raise ValidationError("no schema has been written")
        return record.text

    def schema(self, *, consistency: ConsistencyArg = None) -> ir.Schema:
        return self._typesystem(self._reader(consistency)).schema

    # --- relationships ----------------------------------------------------------------

    def write_relationships(
        self,
        updates: Iterable[UpdateArg],
        *,
        preconditions: Sequence[Precondition] = (),
    ) -> str:
        """Apply the updates all-or-nothing; strings and Relationships are TOUCHed."""
        staged = [_as_update(update) for update in updates]
        types = self._typesystem(self._store.reader(self._fresh_head()))
        for update in staged:
            if update.operation is not Operation.DELETE:
                types.validate_relationship(update.relationship)
        return self._token(self._store.write(staged, preconditions=preconditions))

    def delete_relationships(
        self,
        filter: RelationshipFilter | str,
        *,
        preconditions: Sequence[Precondition] = (),
    ) -> str:
        selected = _as_filter(filter)
        revision = self._store.write([], preconditions=preconditions, delete_filters=[selected])
        return self._token(revision)

    def read_relationships(
        self,
        filter: RelationshipFilter | str | None = None,
        *,
        consistency: ConsistencyArg = None,
        after: Relationship | None = None,
        limit: int | None = None,
    ) -> Iterator[Relationship]:
        """Relationships matching ``filter`` in key order; page with ``after`` and ``limit``."""
        selected = _as_filter(filter) if filter is not None else RelationshipFilter()
        reader = self._reader(consistency)
        return reader.query(selected, after=None if after is None else after.key, limit=limit)

    def delete_expired(self) -> int:
        """Remove expired relationships for good; returns how many."""
        return self._store.delete_expired(datetime.now(UTC))

    # --- questions ------------------------------------------------------------------------

    def check(
        self,
        resource: str,
        permission: str,
        subject: str | SubjectRef,
        *,
        context: Mapping[str, Any] | None = None,
        consistency: ConsistencyArg = None,
    ) -> CheckResult:
        """May ``subject`` (``type:id`` or a set ``type:id#relation``) do ``permission``?"""
        reader = self._reader(consistency)
        types = self._typesystem(reader)
        obj = self._object(resource)
        who = self._subject(subject)
        _require_question(types, obj.type, permission, who)
        caveats = CaveatRunner(types, context)
        outcome = run_check(types, reader, obj.type, obj.id, permission, who, caveats)
        return CheckResult(*_permissionship(outcome))

    def check_bulk(
        self,
        items: Iterable[tuple[str, str, str] | tuple[str, str, str, Mapping[str, Any] | None]],
        *,
        consistency: ConsistencyArg = None,
    ) -> list[CheckResult]:
        """Several checks at one revision: items are (resource, permission, subject[, context])."""
        reader = self._reader(consistency)
        types = self._typesystem(reader)
        results = []
        for item in items:
            resource, permission, subject = item[0], item[1], item[2]
            context = item[3] if len(item) > 3 else None
            obj = self._object(resource)
            who = self._subject(subject)
            _require_question(types, obj.type, permission, who)
            caveats = CaveatRunner(types, context)
            outcome = run_check(types, reader, obj.type, obj.id, permission, who, caveats)
            results.append(CheckResult(*_permissionship(outcome)))
        return results

    def lookup_resources(
        self,
        resource_type: str,
        permission: str,
        subject: str | SubjectRef,
        *,
        context: Mapping[str, Any] | None = None,
        consistency: ConsistencyArg = None,
        after: str | None = None,
        limit: int | None = None,
    ) -> list[ResourceResult]:
        """Resources of ``resource_type`` where ``subject`` has ``permission``, sorted by id.

        Page with ``limit`` and ``after`` (the last ``resource_id`` of the previous page).
        """
        reader = self._reader(consistency)
        types = self._typesystem(reader)
        who = subject if isinstance(subject, SubjectRef) else parse_subject(subject)
        _require_question(types, resource_type, permission, who)
        caveats = CaveatRunner(types, context)
        found = run_lookup_resources(
            types, reader, resource_type, permission, who, caveats, after=after, limit=limit
        )
        results = [ResourceResult(rid, *_permissionship(outcome)) for rid, outcome in found]
        return results

    def lookup_subjects(
        self,
        resource: str,
        permission: str,
        subject_type: str,
        *,
        subject_relation: str | None = None,
        context: Mapping[str, Any] | None = None,
        consistency: ConsistencyArg = None,
        after: str | None = None,
        limit: int | None = None,
    ) -> list[SubjectResult]:
        """Subjects of ``subject_type`` with ``permission`` on ``resource``, sorted by id.

        The wildcard appears as ``subject_id == "*"`` with the ids it excludes.
        """
        reader = self._reader(consistency)
        types = self._typesystem(reader)
        obj = parse_object(resource)
        types.require_member(obj.type, permission)
        types.require_type(subject_type)
        relation = subject_relation or ELLIPSIS
        caveats = CaveatRunner(types, context)
        found = run_lookup_subjects(
            types, reader, obj.type, obj.id, permission, subject_type, relation, caveats
        )
        results: list[SubjectResult] = []
        for subject_id, outcome in found.concrete.items():
            if outcome is not False:
                permissionship, missing = _permissionship(outcome)
                results.append(SubjectResult(subject_id, permissionship, missing_context=missing))
        if found.wildcard is not None and found.wildcard.outcome is not False:
            excluded = tuple(sorted(found.wildcard.excluded))
            permissionship, missing = _permissionship(found.wildcard.outcome)
            results.append(SubjectResult(WILDCARD, permissionship, excluded, missing))
        results.sort(key=lambda result: result.subject_id)
        if after is not None:
            results = [result for result in results if result.subject_id > after]
        return results if limit is None else results[:limit]

    def expand(
        self, resource: str, permission: str, *, consistency: ConsistencyArg = None
    ) -> ExpandNode:
        """The userset tree of ``resource#permission``."""
        reader = self._reader(consistency)
        types = self._typesystem(reader)
        obj = parse_object(resource)
        types.require_member(obj.type, permission)
        return run_expand(types, reader, obj.type, obj.id, permission)


def _token(consistency: Consistency) -> str:
    if consistency.token is None:
        raise InvalidInputError(f"consistency {consistency.kind} needs a token")
    return consistency.token


def _require_question(types: TypeSystem, type_name: str, name: str, subject: SubjectRef) -> None:
    shape = (type_name, name, subject.type, subject.relation)
    if shape in types.known_questions:
        return
    types.require_member(type_name, name)
    types.require_type(subject.type)
    if subject.relation != ELLIPSIS:
        types.require_member(subject.type, subject.relation)
    types.known_questions.add(shape)


def _as_update(update: UpdateArg) -> RelationshipUpdate:
    if isinstance(update, RelationshipUpdate):
        return update
    rel = parse_relationship(update) if isinstance(update, str) else update
    return RelationshipUpdate(operation=Operation.TOUCH, relationship=rel)


def _as_filter(filter: RelationshipFilter | str) -> RelationshipFilter:
    if isinstance(filter, RelationshipFilter):
        return filter
    return parse_filter(filter)


def parse_filter(text: str) -> RelationshipFilter:
    """``type[:id][#relation][@subject_type[:id][#relation]]`` as a filter."""
    resource, _, subject = text.strip().partition("@")
    obj, _, relation = resource.partition("#")
    rtype, _, rid = obj.partition(":")
    sobj, _, srel = subject.partition("#")
    stype, _, sid = sobj.partition(":")
    if not rtype:
        raise InvalidInputError(f"a relationship filter needs a resource type: {text!r}")
    return RelationshipFilter(
        resource_type=rtype,
        resource_id=rid or None,
        relation=relation or None,
        subject_type=stype or None,
        subject_id=sid or None,
        subject_relation=srel or None,
    )


def _check_no_orphans(old: ir.Schema, new: ir.Schema, head: Reader) -> None:
    """Refuse a schema that drops a definition or relation still holding relationships."""
    for definition in old.definitions:
        replacement = new.definition(definition.name)
        for relation in definition.relations:
            if replacement is not None:
                kept = replacement.relation(relation.name)
                if kept is not None:
                    continue
            in_use = RelationshipFilter(resource_type=definition.name, relation=relation.name)
            if next(head.query(in_use, limit=1), None) is not None:
                what = (
                    f"definition `{definition.name}`"
                    if replacement is None
                    else f"relation `{definition.name}#{relation.name}`"
                )
                raise SchemaError(
                    f"cannot remove {what}: relationships still use "
                    f"`{definition.name}#{relation.name}`; delete them first"
                )


__all__ = [
    "CheckResult",
    "Database",
    "Permissionship",
    "ResourceResult",
    "SubjectResult",
    "open",
    "print_schema",
]
