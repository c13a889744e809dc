"""create / update / updateStatus / delete for one kind, answered with the stored bytes.

Handlers return the snapshot's bytes and are registered without a response serializer, so
the state the actor serialized once to store it goes out on the wire as-is.
"""

from __future__ import annotations

from typing import Any

import grpc

from stigmer_actors.contract import WireKind
from stigmer_actors.core import Core
from stigmer_actors.grpc_edge.handlers import unary
from stigmer_actors.wire import Execution, resource_io


def command_handler(core: Core, wk: WireKind) -> grpc.GenericRpcHandler[bytes, bytes]:
    kind = wk.kind
    name = wk.command_service.rsplit(".", 1)[1]

    def create(request: Execution, context: grpc.ServicerContext) -> bytes:
        return core.create(request).data

    def update(request: Execution, context: grpc.ServicerContext) -> bytes:
        return core.update(request).data

    def update_status(request: Any, context: grpc.ServicerContext) -> bytes:  # wk.update_status_input
        status = request.status if request.HasField("status") else None
        return core.update_status(request.execution_id, status).data

    def delete(request: resource_io.ApiResourceId, context: grpc.ServicerContext) -> bytes:
        return core.delete(request.value, kind).data

    return grpc.method_handlers_generic_handler(
        wk.command_service,
        {
            "create": unary(f"{name}.create", create, kind.message_cls),
            "update": unary(f"{name}.update", update, kind.message_cls),
            "updateStatus": unary(f"{name}.updateStatus", update_status, wk.update_status_input),
            "delete": unary(f"{name}.delete", delete, resource_io.ApiResourceId),
        },
    )
