"""create / update / updateStatus / delete for one kind, answered with the stored bytes.

Handlers return the snapshot's bytes and are registered without a response serializer, so
the state the actor serialized once to store it goes out on the wire as-is.
"""

from __future__ import annotations

import grpc

from stigmer_actors.core import Core
from stigmer_actors.contract import WireKind
from stigmer_actors.grpc_edge.handlers import unary
from stigmer_actors.wire import resource_io


def command_handler(core: Core, wk: WireKind) -> grpc.GenericRpcHandler:
    kind = wk.kind
    name = wk.command_service.rsplit(".", 1)[1]

    def create(request, context):  # noqa: ANN001, ANN202
        return core.create(request).data

    def update(request, context):  # noqa: ANN001, ANN202
        return core.update(request).data

    def update_status(request, context):  # noqa: ANN001, ANN202
        status = request.status if request.HasField("status") else None
        return core.update_status(request.execution_id, status).data

    def delete(request, context):  # noqa: ANN001, ANN202
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
