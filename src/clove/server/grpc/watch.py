"""SpiceDB's WatchService: not served yet, and saying so clearly.

Clove's Database has no change stream on this branch; until it does, Watch answers
UNIMPLEMENTED with a message that says what is missing rather than gRPC's bare default.
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc
from authzed.api.v1 import watch_service_pb2 as pb
from authzed.api.v1 import watch_service_pb2_grpc as pb_grpc

UNIMPLEMENTED_MESSAGE = (
    "Watch is not implemented by this Clove server yet: the database has no change stream; "
    "poll ReadRelationships with at_least_as_fresh tokens instead"
)


class WatchServicer(pb_grpc.WatchServiceServicer):
    def Watch(  # noqa: N802 - the generated servicer's method name
        self, request: pb.WatchRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.WatchResponse]:
        context.abort(grpc.StatusCode.UNIMPLEMENTED, UNIMPLEMENTED_MESSAGE)
        yield from ()
