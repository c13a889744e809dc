"""ai.stigmer.actors.v1.Admin: ``stats``, the metrics summary behind ``stigmer-actors stats``."""

from __future__ import annotations

import grpc

from stigmer_actors import wire
from stigmer_actors.domain.errors import FailedPrecondition
from stigmer_actors.grpc_edge.dispatch_servicer import Supervised
from stigmer_actors.grpc_edge.handlers import unary
from stigmer_actors.observability import Metrics
from stigmer_actors.observability.summary import stats

SERVICE = wire.admin.DESCRIPTOR.services_by_name["Admin"].full_name


def admin_handler(metrics: Metrics | None, supervised: Supervised = lambda: []) -> grpc.GenericRpcHandler[bytes, bytes]:
    def stats_(request: wire.admin.StatsRequest, context: grpc.ServicerContext) -> bytes:
        if metrics is None:
            raise FailedPrecondition("metrics are off in this server's engine")
        return stats(metrics, supervised()).SerializeToString()

    return grpc.method_handlers_generic_handler(
        SERVICE, {"stats": unary("Admin.stats", stats_, wire.admin.StatsRequest)}
    )
