"""The embedded database: the one public entry point over engine and storage."""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any

from clove.consistency import Consistency, decode_token, encode_token
from clove.engine.budget import Budget
from clove.engine.check import check as run_check
from clove.engine.context import CaveatRunner
from clove.engine.expand import ExpandNode
from clove.engine.expand import expand as run_expand
from clove.engine.outcome import Outcome
from clove.engine.resources import lookup_resources as run_lookup_resources
from clove.engine.restricted_reader import TypeRestrictedReader
from clove.engine.subjects import lookup_subjects as run_lookup_subjects
from clove.engine.typesystem import DEFAULT_MAX_CAVEAT_COST, TypeSystem
from clove.errors import (
    CloveError,
    InvalidInputError,
    SchemaError,
    StorageError,
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
from clove.schema.spicedb import print_schema
from clove.schema.syntax import Syntax, parse_schema_text, parse_stored_schema
from clove.storage.bulk import DEFAULT_BATCH_SIZE
from clove.storage.history import DEFAULT_GC_WINDOW, ChangeLog, GarbageCollector, GarbageReport
from clove.storage.memory import MemoryStore
from clove.storage.overlay import OverlayReader
from clove.storage.protocol import Reader, Store
from clove.storage.replicas import ReplicaRouting
from clove.watch import Watch

_logger = logging.getLogger("clove")

# How long a "minimize latency" read may reuse the head revision it saw last (seconds).
DEFAULT_QUANTUM = 0.005
# How far (seconds) a replica's replay may trail for it to serve "minimize latency" reads.
DEFAULT_MAX_REPLICA_LAG = 5.0
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
ContextualArg = Iterable[Relationship | str]


def open(
    url: str = "memory",
    *,
    quantum: float = DEFAULT_QUANTUM,
    replicas: Sequence[str] = (),
    max_replica_lag: float = DEFAULT_MAX_REPLICA_LAG,
    migrate: bool = True,
    gc_window: timedelta = DEFAULT_GC_WINDOW,
    gc_interval: timedelta | None = None,
    max_depth: int | None = None,
    max_caveat_cost: int = DEFAULT_MAX_CAVEAT_COST,
) -> Database:
    """Open a database: ``"memory"``, ``"sqlite:///path/to/file.db"`` (or a plain file path),
    or ``"postgresql://user@host/db"`` (``?schema=NAME`` picks the PostgreSQL schema).

    ``replicas`` (PostgreSQL only) are streaming standbys of that database, as URLs; the URL
    may name them too (``?replica=host[:port]``, repeated). Reads that allow staleness go to
    a replica that has replayed the revision they need; see ``clove.storage.replicas``.
    ``max_replica_lag`` (seconds) bounds how far behind a "minimize latency" read may be.

    ``migrate`` False refuses a database whose storage format is behind this Clove, for
    deployments that run ``clove migrate`` as a separate step. ``gc_window`` is how much
    history ``collect_garbage`` keeps (tokens and watches older than it stop working);
    ``gc_interval`` runs that collection in a background thread every so often.

    ``max_depth`` bounds how many nested steps one check or lookup may take (a chain of
    groups in groups, of folders in folders); deeper ones raise MaxDepthExceededError. None,
    the default, evaluates data of any depth; servers bound it, as SpiceDB bounds dispatch.
    ``max_caveat_cost`` bounds one caveat evaluation, estimated from its expression and the
    sizes of its context before it runs; dearer ones raise CaveatCostExceededError.
    """
    store = _open_store(url, replicas, migrate=migrate, gc_window=gc_window)
    return Database(
        store,
        quantum=quantum,
        max_replica_lag=max_replica_lag,
        gc_interval=gc_interval,
        max_depth=max_depth,
        max_caveat_cost=max_caveat_cost,
    )


def _open_store(
    url: str,
    replicas: Sequence[str] = (),
    *,
    migrate: bool = True,
    gc_window: timedelta = DEFAULT_GC_WINDOW,
) -> Store:
    if url.startswith(("postgresql://", "postgres://")):
        from clove.storage.replicas import split_replica_urls

        url, named = split_replica_urls(url)
        replicas = [*replicas, *named]
        if replicas:
            return _replicated_postgres(url, replicas, migrate=migrate, gc_window=gc_window)
    elif replicas:
        raise InvalidInputError("read replicas need a postgresql:// database URL")
    return _open_single_store(url, migrate=migrate, gc_window=gc_window)


def _replicated_postgres(
    url: str, replicas: Sequence[str], *, migrate: bool, gc_window: timedelta
) -> Store:
    from clove.storage.cache import CachedStore
    from clove.storage.postgres import PostgresStore, describe_url
    from clove.storage.replicas import ReplicaProbe, ReplicatedStore

    primary = PostgresStore(url, migrate=migrate, gc_window=gc_window)

    def open_replica(replica_url: str) -> tuple[Store, ReplicaProbe]:
        # Each replica keeps its own read cache, fed by its own change feed. Standbys
        # cannot migrate; a short timeout keeps a dead one from stalling a request for long.
        replica = PostgresStore(
            replica_url,
            schema=primary.schema,
            migrate=False,
            gc_window=gc_window,
            connect_timeout=1.0,
        )
        return CachedStore(replica, replica), replica

    return ReplicatedStore(
        CachedStore(primary, primary), replicas, open_replica=open_replica, describe=describe_url
    )


def _open_single_store(url: str, *, migrate: bool, gc_window: timedelta) -> Store:
    if url in ("memory", "memory://", ":memory:"):
        return MemoryStore(gc_window=gc_window)
    if url.startswith("sqlite://"):
        path = url[len("sqlite://") :]
        if not path:
            raise InvalidInputError(f"no file path in {url!r}")
        return _sqlite(path, migrate=migrate, gc_window=gc_window)
    if url.startswith(("postgresql://", "postgres://")):
        # PostgreSQL behind the shared read cache; ``?schema=NAME`` picks the tables' schema.
        from clove.storage.cache import CachedStore
        from clove.storage.postgres import PostgresStore

        postgres = PostgresStore(url, migrate=migrate, gc_window=gc_window)
        return CachedStore(postgres, postgres)
    if "://" not in url:
        return _sqlite(url, migrate=migrate, gc_window=gc_window)
    raise InvalidInputError(
        f"unsupported database URL {url!r}: use memory, sqlite:///path or postgresql://..."
    )


def _sqlite(path: str, *, migrate: bool, gc_window: timedelta) -> Store:
    from clove.storage.cache import CachedStore
    from clove.storage.sqlite import SqliteStore

    file = Path(path).expanduser()
    if migrate:
        file.parent.mkdir(parents=True, exist_ok=True)
    store = SqliteStore(file, migrate=migrate, gc_window=gc_window)
    return CachedStore(store, store)


class Database:
    """Schema, relationships and permission questions over one store."""

    def __init__(
        self,
        store: Store,
        *,
        quantum: float = DEFAULT_QUANTUM,
        max_replica_lag: float = DEFAULT_MAX_REPLICA_LAG,
        gc_interval: timedelta | None = None,
        max_depth: int | None = None,
        max_caveat_cost: int = DEFAULT_MAX_CAVEAT_COST,
    ) -> None:
        if max_depth is not None and max_depth < 1:
            store.close()
            raise InvalidInputError(f"max_depth must be a positive integer, not {max_depth}")
        if max_caveat_cost < 1:
            store.close()
            raise InvalidInputError(f"max_caveat_cost must be positive, not {max_caveat_cost}")
        self._max_depth = max_depth
        self._max_caveat_cost = max_caveat_cost
        self._store = store
        self._watches: weakref.WeakSet[Watch] = weakref.WeakSet()
        self._collector_stop = threading.Event()
        self._collector: threading.Thread | None = None
        if gc_interval is not None:
            self._start_collector(gc_interval)
        self._quantum = quantum
        self._routing = store if isinstance(store, ReplicaRouting) else None
        self._max_replica_lag = max_replica_lag
        self._head = 0
        self._head_seen_at = float("-inf")
        self._written = 0
        # (reader revision it was last seen in force at, schema revision, compiled schema),
        # replaced as one tuple so that threads never pair one revision with another's schema.
        self._types: tuple[int, int, TypeSystem] | None = None
        self._objects: dict[str, ObjectRef] = {}
        self._subjects: dict[str, SubjectRef] = {}

    # --- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        self._collector_stop.set()
        if self._collector is not None and self._collector is not threading.current_thread():
            self._collector.join()
        for watch in list(self._watches):
            watch.close()
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
        if self._routing is not None:
            reader = self._replica_reader(self._routing, consistency)
            if reader is not None:
                return reader
        return self._store.reader(self._revision(consistency))

    def _evaluation(
        self, consistency: ConsistencyArg, contextual: ContextualArg
    ) -> tuple[Reader, TypeSystem]:
        """The reader a question is answered from, and the schema in force there.

        Under OpenFGA semantics stored data the model does not allow is ignored; contextual
        relationships are checked against the schema and laid over the stored data.
        """
        reader = self._reader(consistency)
        types = self._typesystem(reader)
        if types.openfga:
            reader = TypeRestrictedReader(reader, types)
        return _with_contextual(reader, types, contextual), types

    def _replica_reader(
        self, routing: ReplicaRouting, consistency: ConsistencyArg
    ) -> Reader | None:
        """A replica's reader when ``consistency`` allows one and a replica has caught up."""
        if isinstance(consistency, Consistency):
            if consistency.kind in ("at_least_as_fresh", "at_exact_snapshot"):
                wanted = decode_token(_token(consistency), self._store.store_id)
                exact = consistency.kind == "at_exact_snapshot"
                return routing.replica_reader(wanted, exact=exact, max_lag=None)
            if consistency.kind != "minimize_latency":
                return None
        elif consistency is not None and consistency != "minimize_latency":
            return None  # "full", or unknown (``_revision`` says so)
        # Never older than this handle's own writes; otherwise as fresh as the replica is.
        return routing.replica_reader(self._written, exact=False, max_lag=self._max_replica_lag)

    def _typesystem(self, reader: Reader) -> TypeSystem:
        """The compiled schema in force at the reader's revision (revisions never change)."""
        cached = self._types
        if cached is not None and cached[0] == reader.revision:
            return cached[2]
        record = reader.schema()
        if record is None:
            raise ValidationError("no schema has been written")
        if cached is not None and cached[1] == record.revision:
            types = cached[2]
        else:
            types = TypeSystem(
                parse_stored_schema(record.text),
                max_depth=self._max_depth,
                max_caveat_cost=self._max_caveat_cost,
            )
        self._types = (reader.revision, record.revision, types)
        return types

    def _object(self, text: str | ObjectRef) -> ObjectRef:
        """``parse_object`` with a bounded memo: hot checks name the same objects again."""
        if isinstance(text, ObjectRef):
            return text
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

    def write_schema(self, text: str, syntax: Syntax | None = None) -> str:
        """Parse, type-check and store ``text``; refuse a change that would orphan data.

        ``syntax`` is ``"spicedb"``, ``"openfga"`` (the DSL) or ``"zanzibar"``; None detects it.
        The text is stored as written (``read_schema`` returns it unchanged).
        """
        schema = parse_schema_text(text, syntax)
        types = TypeSystem(schema, max_depth=self._max_depth, max_caveat_cost=self._max_caveat_cost)
        head = self._store.reader(self._fresh_head())
        old = head.schema()
        # OpenFGA keeps data across model changes and ignores what the model no longer allows.
        if old is not None and not types.openfga:
            _check_no_orphans(parse_stored_schema(old.text), schema, head)
        revision = self._store.write([], schema_text=text)
        self._types = (revision, revision, types)
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

    def import_relationships(
        self,
        relationships: Iterable[str | Relationship],
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> str:
        """Create many relationships at one new revision, all or nothing; return its token.

        Like SpiceDB's ImportBulkRelationships: every relationship is checked against the
        schema as it streams in, and a bad one, one that already exists or one the import
        repeats fails the whole import with an error naming its row (counted from 1). On
        PostgreSQL the stream goes through ``COPY`` ``batch_size`` rows at a time, so memory
        stays flat however many millions are imported.
        """
        if batch_size < 1:
            raise InvalidInputError(f"batch_size must be at least 1, got {batch_size}")
        from clove._import_rows import validated_rows
        from clove.storage.bulk import find_importer, import_by_write

        types = self._typesystem(self._store.reader(self._fresh_head()))
        rows = validated_rows(relationships, types)
        importer = find_importer(self._store)
        if importer is None:
            revision = import_by_write(self._store, rows, batch_size=batch_size)
        else:
            revision = importer.import_rows(rows, batch_size=batch_size)
        return self._token(revision)

    def export_relationships(
        self,
        *,
        consistency: ConsistencyArg = None,
        filter: RelationshipFilter | str | None = None,
    ) -> Iterator[Relationship]:
        """Every relationship matching ``filter`` at one revision, streamed in key order.

        Pages by key (no cursor held open between pages), so memory stays flat and the caller
        may stop, or write, at any point; every page reads the same revision.
        """
        return self.read_relationships(filter, consistency=consistency)

    def delete_expired(self) -> int:
        """Remove expired relationships for good; returns how many."""
        return self._store.delete_expired(datetime.now(UTC))

    # --- history: watch and garbage collection ---------------------------------------------

    def watch(
        self,
        *,
        after: str | None = None,
        filter: RelationshipFilter | str | None = None,
        schema_changes: bool = True,
        poll_interval: float = 0.1,
        timeout: float | None = None,
        stop: threading.Event | None = None,
    ) -> Watch:
        """Every change committed after ``after`` (a token; None: from now), as it commits.

        Returns a blocking iterator of ``WatchEvent``, one per write, in revision order
        (see ``clove.watch``). ``filter`` keeps only the relationship updates it matches
        (writes with none left are skipped); ``schema_changes`` False leaves schema writes
        out. Iteration ends on ``close()`` of the watch or of this database, when ``stop``
        is set, or after ``timeout`` seconds without an event. A token older than the
        garbage-collection window raises RevisionUnavailableError, here or from ``next``.
        """
        log = self._store
        if not isinstance(log, ChangeLog):
            raise StorageError(f"{type(log).__name__} keeps no change log to watch")
        if after is None:
            start = self._fresh_head()
        else:
            start = decode_token(after, self._store.store_id)
            # An empty range: checks the start is committed and not garbage-collected.
            log.changes(start, start)
        watch = Watch(
            log,
            self._store.head_revision,
            self._store.store_id,
            after=start,
            filter=None if filter is None else _as_filter(filter),
            schema_changes=schema_changes,
            poll_interval=poll_interval,
            timeout=timeout,
            stop=stop,
        )
        self._watches.add(watch)
        return watch

    def collect_garbage(self, *, now: datetime | None = None) -> GarbageReport:
        """Forget history older than the GC window and relationships expired by ``now``.

        Tokens and watches from before the window fail with RevisionUnavailableError from
        then on; reads at newer tokens see exactly what they saw before.
        """
        store = self._store
        if not isinstance(store, GarbageCollector):
            raise StorageError(f"{type(store).__name__} does not collect garbage")
        return store.collect_garbage(datetime.now(UTC) if now is None else now)

    def _start_collector(self, interval: timedelta) -> None:
        seconds = interval.total_seconds()
        if seconds <= 0:
            raise InvalidInputError(f"gc_interval must be positive, not {interval}")

        def collect() -> None:
            while not self._collector_stop.wait(seconds):
                try:
                    self.collect_garbage()
                except CloveError as error:  # the next round may succeed; say why this failed
                    _logger.warning("garbage collection failed: %s", error)

        self._collector = threading.Thread(target=collect, name="clove-gc", daemon=True)
        self._collector.start()

    # --- questions ------------------------------------------------------------------------

    def check(
        self,
        resource: str | ObjectRef,
        permission: str,
        subject: str | SubjectRef,
        *,
        context: Mapping[str, Any] | None = None,
        consistency: ConsistencyArg = None,
        contextual_relationships: ContextualArg = (),
        timeout: float | None = None,
        budget: Budget | None = None,
    ) -> CheckResult:
        """May ``subject`` (``type:id`` or a set ``type:id#relation``) do ``permission``?

        ``contextual_relationships`` count as written for this question only. Every question
        takes ``timeout=`` (seconds; past it the work stops with DeadlineExceededError) or a
        ``budget=`` (a ``Budget``: a timeout, a cancellation event, a step allowance).
        """
        spend = _budget(timeout, budget)
        reader, types = self._evaluation(consistency, contextual_relationships)
        obj = self._object(resource)
        who = self._subject(subject)
        _require_question(types, obj.type, permission, who)
        caveats = CaveatRunner(types, context)
        outcome = run_check(types, reader, obj.type, obj.id, permission, who, caveats, spend)
        return CheckResult(*_permissionship(outcome))

    def check_bulk(
        self,
        items: Iterable[tuple[str, str, str] | tuple[str, str, str, Mapping[str, Any] | None]],
        *,
        consistency: ConsistencyArg = None,
        contextual_relationships: ContextualArg = (),
        timeout: float | None = None,
        budget: Budget | None = None,
    ) -> list[CheckResult]:
        """Several checks at one revision: items are (resource, permission, subject[, context]).

        ``contextual_relationships`` count as written for every item, and for nothing else;
        ``timeout`` or ``budget`` bounds all the items together.
        """
        spend = _budget(timeout, budget)
        reader, types = self._evaluation(consistency, contextual_relationships)
        results = []
        for item in items:
            resource, permission, subject = item[0], item[1], item[2]
            context = item[3] if len(item) > 3 else None
            obj = self._object(resource)
            who = self._subject(subject)
            _require_question(types, obj.type, permission, who)
            caveats = CaveatRunner(types, context)
            outcome = run_check(types, reader, obj.type, obj.id, permission, who, caveats, spend)
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
        contextual_relationships: ContextualArg = (),
        timeout: float | None = None,
        budget: Budget | None = None,
    ) -> list[ResourceResult]:
        """Resources of ``resource_type`` where ``subject`` has ``permission``, sorted by id.

        Page with ``limit`` and ``after`` (the last ``resource_id`` of the previous page).
        ``contextual_relationships`` count as written for this lookup only.
        """
        spend = _budget(timeout, budget)
        reader, types = self._evaluation(consistency, contextual_relationships)
        who = subject if isinstance(subject, SubjectRef) else parse_subject(subject)
        _require_question(types, resource_type, permission, who)
        caveats = CaveatRunner(types, context)
        found = run_lookup_resources(
            types,
            reader,
            resource_type,
            permission,
            who,
            caveats,
            after=after,
            limit=limit,
            budget=spend,
        )
        results = []
        for rid, outcome in found:
            spend.spend()
            results.append(ResourceResult(rid, *_permissionship(outcome)))
        return results

    def lookup_subjects(
        self,
        resource: str | ObjectRef,
        permission: str,
        subject_type: str,
        *,
        subject_relation: str | None = None,
        context: Mapping[str, Any] | None = None,
        consistency: ConsistencyArg = None,
        after: str | None = None,
        limit: int | None = None,
        contextual_relationships: ContextualArg = (),
        timeout: float | None = None,
        budget: Budget | None = None,
    ) -> list[SubjectResult]:
        """Subjects of ``subject_type`` with ``permission`` on ``resource``, sorted by id.

        The wildcard appears as ``subject_id == "*"`` with the ids it excludes.
        ``contextual_relationships`` count as written for this lookup only.
        """
        spend = _budget(timeout, budget)
        reader, types = self._evaluation(consistency, contextual_relationships)
        obj = self._object(resource)
        types.require_member(obj.type, permission)
        types.require_type(subject_type)
        relation = subject_relation or ELLIPSIS
        caveats = CaveatRunner(types, context)
        found = run_lookup_subjects(
            types, reader, obj.type, obj.id, permission, subject_type, relation, caveats, spend
        )
        results: list[SubjectResult] = []
        for subject_id, outcome in found.concrete.items():
            spend.spend()  # a large answer is work to build too
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
        self,
        resource: str,
        permission: str,
        *,
        consistency: ConsistencyArg = None,
        timeout: float | None = None,
        budget: Budget | None = None,
    ) -> ExpandNode:
        """The userset tree of ``resource#permission``."""
        spend = _budget(timeout, budget)
        reader, types = self._evaluation(consistency, ())
        obj = parse_object(resource)
        types.require_member(obj.type, permission)
        return run_expand(types, reader, obj.type, obj.id, permission, spend)


def _budget(timeout: float | None, budget: Budget | None) -> Budget:
    if budget is None:
        return Budget(timeout=timeout)
    if timeout is not None:
        raise InvalidInputError("give a question timeout= or budget=, not both")
    return budget


def _with_contextual(reader: Reader, types: TypeSystem, contextual: ContextualArg) -> Reader:
    """``reader`` plus the request's contextual relationships, each checked against the schema."""
    if not contextual:
        return reader
    relationships = []
    for item in contextual:
        rel = parse_relationship(item) if isinstance(item, str) else item
        types.validate_relationship(rel)
        relationships.append(rel)
    return OverlayReader(reader, relationships) if relationships else reader


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
