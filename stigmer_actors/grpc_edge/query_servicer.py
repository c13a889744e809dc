"""get / list / list-by-owner / subscribe for one kind.

subscribe is a server stream backed by a SubscriberActor: it yields the stored bytes of
each snapshot, ends with OK after a terminal state or a delete, and is closed at once when
the client cancels or disconnects (the RPC's done-callback closes the subscription, which
wakes the blocked stream thread and stops the subscriber actor).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc

from stigmer_actors.contract import WireKind
from stigmer_actors.core import Core, SnapshotPage
from stigmer_actors.domain.errors import EngineError, InvalidArgument
from stigmer_actors.grpc_edge.fresh_states import fresh_states
from stigmer_actors.grpc_edge.handlers import server_stream, unary
from stigmer_actors.grpc_edge.status import abort
from stigmer_actors.grpc_edge.streams import OpenStreams
from stigmer_actors.store.listing import ListQuery


def query_handler(core: Core, wk: WireKind, streams: OpenStreams) -> grpc.GenericRpcHandler[bytes, bytes]:
    kind = wk.kind
    name = wk.query_service.rsplit(".", 1)[1]
    dropped = core.metrics.coalesced.inc if core.metrics is not None else None

    def page_response(page: SnapshotPage) -> bytes:
        response: Any = wk.list_response(  # this kind's list message
            total_pages=page.total_pages, next_page_token=page.next_page_token
        )
        for snapshot in page.entries:
            response.entries.add().MergeFromString(snapshot.data)
        data: bytes = response.SerializeToString()
        return data

    # The requests are of this kind's classes (``wk``): Any.
    def get(request: Any, context: grpc.ServicerContext) -> bytes:
        return core.get(request.value, kind).data

    def list_(request: Any, context: grpc.ServicerContext) -> bytes:
        return page_response(
            core.list(
                ListQuery(kind, request.phase, tuple(request.tags), "", request.page_size,
                          request.page_token)
            )
        )

    def list_by_owner(request: Any, context: grpc.ServicerContext) -> bytes:
        owner = getattr(request, wk.owner_field)
        if not owner:
            raise InvalidArgument(f"{wk.owner_field} is empty")
        return page_response(
            core.list(ListQuery(kind, owner=owner, page_size=request.page_size,
                                page_token=request.page_token))
        )

    def subscribe(request: Any, context: grpc.ServicerContext) -> Iterator[bytes]:
        if not streams.reserve():
            context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"too many open subscribe streams (the server allows {streams.limit})",
            )
        subscription = None
        try:
            try:
                subscription = core.subscribe(wk.subscribe_id(request), kind)
            except EngineError as error:
                abort(context, error)
            if not streams.attach(subscription):
                return
            if not context.add_callback(subscription.close):
                return  # the client already cancelled: the callback would never run

            for snapshot in fresh_states(subscription, dropped):
                yield snapshot.data
        finally:
            if subscription is not None:
                subscription.close()
            streams.release(subscription)

    return grpc.method_handlers_generic_handler(
        wk.query_service,
        {
            "get": unary(f"{name}.get", get, wk.id_request),
            "list": unary(f"{name}.list", list_, wk.list_request),
            wk.owner_method: unary(f"{name}.{wk.owner_method}", list_by_owner, wk.owner_request),
            "subscribe": server_stream(subscribe, wk.subscribe_request),
        },
    )
