"""ai.stigmer.actors.v1.ExecutionWatch: ``watchExecutions``, the list-watch stream.

One stream slot (``streams.OpenStreams``, the ``--max-streams`` bound) per stream, like
subscribe. The stream is ended at once when the client cancels or disconnects (the RPC's
done-callback closes the list-watch, which wakes the blocked stream thread). Refusals:
INVALID_ARGUMENT for a bad filter or token, OUT_OF_RANGE for a token too old to resume
from (list again), ABORTED when the reader fell further behind than a watch's bounds
(resume from its last token).
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc

from stigmer_actors import wire
from stigmer_actors.core import Core
from stigmer_actors.domain import kinds
from stigmer_actors.domain.errors import EngineError, InvalidArgument
from stigmer_actors.feed import ExecutionFilter
from stigmer_actors.feed.wire_events import to_wire
from stigmer_actors.grpc_edge.handlers import server_stream
from stigmer_actors.grpc_edge.status import abort
from stigmer_actors.grpc_edge.streams import OpenStreams

SERVICE = wire.watch.DESCRIPTOR.services_by_name["ExecutionWatch"].full_name
_KINDS = {wire.dispatch.AGENT: kinds.AGENT, wire.dispatch.WORKFLOW: kinds.WORKFLOW}


def request_filter(request: wire.watch.WatchExecutionsRequest) -> ExecutionFilter:
    f = request.filter
    if f.kind and f.kind not in _KINDS:
        raise InvalidArgument(f"filter.kind {f.kind} is not an ExecutionKind value")
    return ExecutionFilter.of(_KINDS.get(f.kind), f.phases, f.session_id, f.workflow_id, f.tags)


def watch_handler(core: Core, streams: OpenStreams) -> grpc.GenericRpcHandler[bytes, bytes]:
    def watch_executions(
        request: wire.watch.WatchExecutionsRequest, context: grpc.ServicerContext
    ) -> Iterator[bytes]:
        if not streams.reserve():
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                          f"too many open streams (the server allows {streams.limit})")
        watch = None
        try:
            try:
                watch = core.watch_executions(request_filter(request), request.since)
            except EngineError as error:
                abort(context, error)
            if not streams.attach(watch) or not context.add_callback(watch.close):
                return
            full = request.full_state
            try:
                for event in watch:
                    yield to_wire(event, full).SerializeToString()
            except EngineError as error:
                abort(context, error)
        finally:
            if watch is not None:
                watch.close()
            streams.release(watch)

    return grpc.method_handlers_generic_handler(
        SERVICE,
        {"watchExecutions": server_stream(watch_executions, wire.watch.WatchExecutionsRequest)},
    )
