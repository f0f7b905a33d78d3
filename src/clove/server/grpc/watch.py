"""SpiceDB's WatchService over ``Database.watch``: every committed change, streamed in order.

Each response carries the updates of one committed write and ``changes_through``, the token
of that write: a client that resumes with it as ``optional_start_cursor`` gets every later
change exactly once. Without a cursor the stream starts at the head ("from now").

``optional_update_kinds`` picks what is sent, as in SpiceDB: relationship updates (also when
no kind is given), schema updates (``schema_updated``), and checkpoints (``is_checkpoint``,
sent when the store has moved on without a change the watch selects, so a filtered client's
resume token never falls behind the garbage-collection window).

A stream runs until the client cancels it or the server shuts down; on shutdown it ends at
once with UNAVAILABLE, naming how to resume, so draining never waits for open watches. A
cursor older than the garbage-collection window is OUT_OF_RANGE ("invalid zedtoken"), the
code SpiceDB gives revisions it can no longer serve.

Each open stream holds one of the worker's request threads for its whole life, so a worker
streams at most ``max_streams`` watches at a time (half its threads, leaving the rest to
checks); the guard counts them per client as well (see ``Gate.stream``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import grpc
from authzed.api.v1 import core_pb2
from authzed.api.v1 import watch_service_pb2 as pb
from authzed.api.v1 import watch_service_pb2_grpc as pb_grpc

from clove.errors import (
    InvalidInputError,
    ResourceExhaustedError,
    RevisionUnavailableError,
    ValidationError,
)
from clove.relationships import Operation, RelationshipFilter, RelationshipUpdate
from clove.server.grpc import convert
from clove.server.grpc.calls import Services, require_definition
from clove.watch import Watch as ChangeStream
from clove.watch import WatchEvent

Kind = pb.WatchKind

_OPERATIONS = {
    Operation.CREATE: core_pb2.RelationshipUpdate.OPERATION_CREATE,
    Operation.TOUCH: core_pb2.RelationshipUpdate.OPERATION_TOUCH,
    Operation.DELETE: core_pb2.RelationshipUpdate.OPERATION_DELETE,
}
SHUTDOWN_MESSAGE = (
    "the server is shutting down: reconnect and resume with the last changes_through token "
    "as optional_start_cursor"
)


class WatchServicer(pb_grpc.WatchServiceServicer):
    """Streams ``Database.watch`` events as ``WatchResponse`` messages."""

    def __init__(
        self,
        services: Services,
        *,
        max_streams: int,
        poll_interval: float = 0.05,
        checkpoint_interval: float = 1.0,
    ) -> None:
        self._db = services.database
        self._poll_interval = poll_interval
        self._checkpoint_interval = checkpoint_interval
        self._max_streams = max_streams
        self._lock = threading.Lock()
        self._open: set[threading.Event] = set()
        self._shutting_down = threading.Event()

    def shutdown(self) -> None:
        """End every open stream (with UNAVAILABLE) and refuse new ones."""
        self._shutting_down.set()
        with self._lock:
            for ended in self._open:
                ended.set()

    def Watch(  # noqa: N802 - the generated servicer's method name
        self, request: pb.WatchRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.WatchResponse]:
        kinds = set(request.optional_update_kinds) - {Kind.WATCH_KIND_UNSPECIFIED}
        relationships = not kinds or Kind.WATCH_KIND_INCLUDE_RELATIONSHIP_UPDATES in kinds
        schema = Kind.WATCH_KIND_INCLUDE_SCHEMA_UPDATES in kinds
        checkpoints = Kind.WATCH_KIND_INCLUDE_CHECKPOINTS in kinds
        filters = self._filters(request)
        cursor: str | None = None
        if request.HasField("optional_start_cursor"):
            if not request.optional_start_cursor.token:
                raise InvalidInputError("optional_start_cursor is an empty ZedToken")
            cursor = request.optional_start_cursor.token
        if self._shutting_down.is_set():
            context.abort(grpc.StatusCode.UNAVAILABLE, SHUTDOWN_MESSAGE)
        ended = self._enter()
        context.add_callback(ended.set)
        try:
            yield from self._stream(
                cursor, filters, relationships, schema, checkpoints, ended, context
            )
        finally:
            with self._lock:
                self._open.discard(ended)
        if self._shutting_down.is_set():
            context.abort(grpc.StatusCode.UNAVAILABLE, SHUTDOWN_MESSAGE)

    def _enter(self) -> threading.Event:
        ended = threading.Event()
        with self._lock:
            if len(self._open) >= self._max_streams:
                raise ResourceExhaustedError(
                    f"this server process already streams {self._max_streams} watches, its "
                    "limit; retry later, or serve with more --threads"
                )
            self._open.add(ended)
            if self._shutting_down.is_set():  # shutdown began since ``Watch`` looked
                ended.set()
        return ended

    def _stream(
        self,
        cursor: str | None,
        filters: tuple[RelationshipFilter, ...],
        relationships: bool,
        schema: bool,
        checkpoints: bool,
        ended: threading.Event,
        context: grpc.ServicerContext,
    ) -> Iterator[pb.WatchResponse]:
        # One filter is pushed down to the change log; several are matched here (any of them).
        pushed = filters[0] if len(filters) == 1 else None
        sent = None
        while not ended.is_set():
            # A watch ends after ``checkpoint_interval`` without an event; the next one resumes
            # from its token, which has moved past the writes the filter skipped.
            watch = self._open_watch(cursor, pushed, schema, ended, context)
            with watch:
                for event in self._events(watch, context):
                    updates = (
                        [_update(update) for update in event.updates if _selected(update, filters)]
                        if relationships
                        else []
                    )
                    schema_updated = event.schema_text is not None
                    if updates or schema_updated:
                        sent = event.token
                        yield pb.WatchResponse(
                            updates=updates,
                            changes_through=convert.zed_token(event.token),
                            schema_updated=schema_updated,
                        )
                cursor = watch.token
            if checkpoints and cursor != sent and not ended.is_set():
                sent = cursor
                yield pb.WatchResponse(
                    changes_through=convert.zed_token(cursor), is_checkpoint=True
                )

    def _open_watch(
        self,
        cursor: str | None,
        pushed: RelationshipFilter | None,
        schema: bool,
        ended: threading.Event,
        context: grpc.ServicerContext,
    ) -> ChangeStream:
        try:
            return self._db.watch(
                after=cursor,
                filter=pushed,
                schema_changes=schema,
                poll_interval=self._poll_interval,
                timeout=self._checkpoint_interval,
                stop=ended,
            )
        except RevisionUnavailableError as error:
            context.abort(grpc.StatusCode.OUT_OF_RANGE, f"invalid zedtoken: {error}")
            raise  # unreachable: abort raises

    @staticmethod
    def _events(watch: ChangeStream, context: grpc.ServicerContext) -> Iterator[WatchEvent]:
        try:
            yield from watch
        except RevisionUnavailableError as error:
            context.abort(grpc.StatusCode.OUT_OF_RANGE, f"invalid zedtoken: {error}")

    def _filters(self, request: pb.WatchRequest) -> tuple[RelationshipFilter, ...]:
        """SpiceDB's selection: object types, or relationship filters (any matches), or all."""
        types = tuple(request.optional_object_types)
        messages = tuple(request.optional_relationship_filters)
        if types and messages:
            raise InvalidInputError(
                "a watch takes optional_object_types or optional_relationship_filters, not both"
            )
        filters = tuple(RelationshipFilter(resource_type=name) for name in types) + tuple(
            convert.relationship_filter(message) for message in messages
        )
        for selection in filters:
            if not selection.resource_type:
                raise InvalidInputError("a watch's relationship filter needs a resource_type")
        if filters:
            try:
                current = self._db.schema(consistency="full")
            except ValidationError:
                return filters  # no schema yet: nothing to check the filters against
            for selection in filters:
                assert selection.resource_type is not None
                require_definition(current, selection.resource_type, selection.relation)
        return filters


def _selected(update: RelationshipUpdate, filters: tuple[RelationshipFilter, ...]) -> bool:
    return not filters or any(selection.matches(update.relationship) for selection in filters)


def _update(update: RelationshipUpdate) -> core_pb2.RelationshipUpdate:
    return core_pb2.RelationshipUpdate(
        operation=_OPERATIONS[update.operation],
        relationship=convert.relationship_message(update.relationship),
    )
