"""The daemon's gRPC server: the four Stigmer services, runner dispatch, health,
reflection, shutdown.

Thread-pool grpcio (no asyncio). The pool has one thread per allowed stream plus
``UNARY_WORKERS`` more, so unary calls keep being answered when every stream slot is taken.
Work in flight is bounded: grpc refuses calls beyond ``max_streams + UNARY_IN_FLIGHT`` with
RESOURCE_EXHAUSTED instead of queueing them without limit in the pool, and each unary call
holds its worker until its actor answers, so no actor's mailbox can outgrow the workers.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2

from stigmer_actors._proto import pool as proto_pool
from stigmer_actors.engine import Engine
from stigmer_actors.grpc_edge.admin_servicer import SERVICE as ADMIN_SERVICE
from stigmer_actors.grpc_edge.admin_servicer import admin_handler
from stigmer_actors.grpc_edge.command_servicer import command_handler
from stigmer_actors.grpc_edge.definitions_servicer import SERVICE as DEFINITIONS_SERVICE
from stigmer_actors.grpc_edge.definitions_servicer import definitions_handler
from stigmer_actors.contract import DEFAULT_ADDRESS, WIRE_KINDS
from stigmer_actors.grpc_edge.dispatch_servicer import SERVICE as DISPATCH_SERVICE
from stigmer_actors.grpc_edge.dispatch_servicer import dispatch_handler
from stigmer_actors.grpc_edge.metrics_interceptor import MetricsInterceptor
from stigmer_actors.grpc_edge.query_servicer import query_handler
from stigmer_actors.grpc_edge.streams import OpenStreams

DEFAULT_MAX_STREAMS = 1000
DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024
UNARY_WORKERS = 32
UNARY_IN_FLIGHT = 4 * UNARY_WORKERS
"""Unary calls running or queued for a worker at once; a storm beyond it is refused."""


class EdgeServer:
    """Serves ``engine`` on ``address`` (port 0 picks a free one: see ``port``)."""

    def __init__(
        self,
        engine: Engine,
        address: str = DEFAULT_ADDRESS,
        max_streams: int = DEFAULT_MAX_STREAMS,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ) -> None:
        self.engine = engine
        self.streams = OpenStreams(max_streams)
        # Metrics are the engine's choice (``serve`` always has them); without them there is
        # nothing to count RPCs into and ``stats`` says so.
        metrics = engine.core.metrics
        if metrics is not None:
            metrics.levels.open_streams = lambda: self.streams.count
            metrics.levels.streams_refused = lambda: self.streams.refused
        self._pool = ThreadPoolExecutor(
            max_workers=max_streams + UNARY_WORKERS, thread_name_prefix="grpc-worker"
        )
        # A request over max_message_bytes is refused by grpc itself with RESOURCE_EXHAUSTED.
        self._server = grpc.server(
            self._pool,
            interceptors=[MetricsInterceptor(metrics)] if metrics is not None else [],
            maximum_concurrent_rpcs=max_streams + UNARY_IN_FLIGHT,
            options=[
                ("grpc.so_reuseport", 0),
                ("grpc.max_receive_message_length", max_message_bytes),
            ],
        )
        services = []
        for wk in WIRE_KINDS:
            self._server.add_generic_rpc_handlers(
                (command_handler(engine.core, wk), query_handler(engine.core, wk, self.streams))
            )
            services += [wk.command_service, wk.query_service]
        self._server.add_generic_rpc_handlers(
            (dispatch_handler(engine.core, engine.core.dispatcher, self.streams, engine.definitions),)
        )
        self._server.add_generic_rpc_handlers(
            (admin_handler(metrics), definitions_handler(engine.definitions))
        )
        services += [DISPATCH_SERVICE, ADMIN_SERVICE, DEFINITIONS_SERVICE]
        self._health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        for name in ["", *services]:
            self._health.set(name, health_pb2.HealthCheckResponse.SERVING)
        reflection.enable_server_reflection(
            [*services, health.SERVICE_NAME, reflection.SERVICE_NAME],
            self._server,
            pool=proto_pool.with_files_of(health_pb2, reflection_pb2),  # ours + health + reflection
        )
        self.port = self._server.add_insecure_port(address)
        if self.port == 0:
            raise OSError(f"could not listen on {address}")
        self.address = f"{address.rsplit(':', 1)[0]}:{self.port}"

    def start(self) -> EdgeServer:
        self._server.start()
        return self

    def stop(self, grace: float = 3.0) -> None:
        """Stop accepting, end every open stream with OK, finish in-flight unary calls."""
        self._health.enter_graceful_shutdown()
        self.streams.close_all()
        self._server.stop(grace).wait()
        self._pool.shutdown(wait=False)
