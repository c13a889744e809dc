"""The daemon's gRPC server: the four Stigmer services, runner dispatch, list-watch,
health, reflection, shutdown.

Thread-pool grpcio (no asyncio). The pool has one thread per allowed stream plus
``UNARY_WORKERS`` more, so unary calls keep being answered when every stream slot is taken.
Work in flight is bounded: grpc refuses calls beyond ``max_streams + UNARY_IN_FLIGHT`` with
RESOURCE_EXHAUSTED instead of queueing them without limit in the pool, and each unary call
holds its worker until its actor answers, so no actor's mailbox can outgrow the workers.

Connections are bounded too, since each holds a file descriptor and the store needs some
to keep writing: at most ``max_connections`` at once (grpc closes the excess as soon as it
accepts them), a connection with no call for ``IDLE_CONNECTION_MS`` is closed (clients
reconnect by themselves on their next call), and one that has not finished its handshake
after ``HANDSHAKE_MS`` too. Dead peers are found by keepalive pings.

The health service says NOT_SERVING, for the whole server and each service, while the
store cannot write (``store/health.py``), and SERVING again once it can.

Security, when asked for: TLS on ``address`` (``tls``; mutual TLS when it has a client
CA), and an API key with a role on every call but health's (``keys``: the interceptor of
``auth_interceptor.py``, inside the metrics one so refusals are counted with their code).
``local_socket`` adds a Unix socket for this process's own clients (``serve``'s workflow
runner): no TLS there, and the same key check.
"""

from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2

from stigmer_actors._proto import pool as proto_pool
from stigmer_actors.contract import DEFAULT_ADDRESS, WIRE_KINDS
from stigmer_actors.domain.sizes import CLIENT_RECEIVE_BYTES
from stigmer_actors.engine import Engine
from stigmer_actors.grpc_edge.admin_servicer import SERVICE as ADMIN_SERVICE
from stigmer_actors.grpc_edge.admin_servicer import admin_handler
from stigmer_actors.grpc_edge.auth_interceptor import AuthInterceptor
from stigmer_actors.grpc_edge.command_servicer import command_handler
from stigmer_actors.grpc_edge.definitions_servicer import SERVICE as DEFINITIONS_SERVICE
from stigmer_actors.grpc_edge.definitions_servicer import definitions_handler
from stigmer_actors.grpc_edge.dispatch_servicer import SERVICE as DISPATCH_SERVICE
from stigmer_actors.grpc_edge.dispatch_servicer import Supervised, dispatch_handler
from stigmer_actors.grpc_edge.metrics_interceptor import MetricsInterceptor
from stigmer_actors.grpc_edge.query_servicer import query_handler
from stigmer_actors.grpc_edge.streams import OpenStreams
from stigmer_actors.grpc_edge.watch_servicer import SERVICE as WATCH_SERVICE
from stigmer_actors.grpc_edge.watch_servicer import watch_handler
from stigmer_actors.security.keyring import KeyRing
from stigmer_actors.security.tls import ServerTLS

DEFAULT_MAX_STREAMS = 1000
DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024
UNARY_WORKERS = 32
UNARY_IN_FLIGHT = 4 * UNARY_WORKERS
"""Unary calls running or queued for a worker at once; a storm beyond it is refused."""
DEFAULT_MAX_CONNECTIONS = 4096
IDLE_CONNECTION_MS = 5 * 60 * 1000
HANDSHAKE_MS = 20 * 1000
KEEPALIVE_MS = 60 * 1000
KEEPALIVE_TIMEOUT_MS = 20 * 1000


class EdgeServer:
    """Serves ``engine`` on ``address`` (port 0 picks a free one: see ``port``)."""

    def __init__(
        self,
        engine: Engine,
        address: str = DEFAULT_ADDRESS,
        max_streams: int = DEFAULT_MAX_STREAMS,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        supervised: Supervised | None = None,
        *,
        keys: KeyRing | None = None,
        tls: ServerTLS | None = None,
        local_socket: str | None = None,
    ) -> None:
        """``supervised``: the runner processes this daemon supervises, as ``listRunners``
        and ``stats`` show them (``serve --runner``; none by default)."""
        self.engine = engine
        supervised = supervised or (lambda: [])
        self.keys = keys
        self.tls = tls
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
        interceptors: list[grpc.ServerInterceptor[Any, Any]] = []
        if metrics is not None:
            interceptors.append(MetricsInterceptor(metrics))
        if keys is not None:
            interceptors.append(AuthInterceptor(keys, metrics))
        # A request over max_message_bytes is refused by grpc itself with RESOURCE_EXHAUSTED.
        self._server = grpc.server(
            self._pool,
            interceptors=interceptors,
            maximum_concurrent_rpcs=max_streams + UNARY_IN_FLIGHT,
            options=[
                ("grpc.so_reuseport", 0),
                ("grpc.max_receive_message_length", max_message_bytes),
                # Every reply fits a standard client: states and list pages are bounded
                # under it (domain/sizes.py).
                ("grpc.max_send_message_length", CLIENT_RECEIVE_BYTES),
                ("grpc.max_allowed_incoming_connections", max_connections),
                ("grpc.max_connection_idle_ms", IDLE_CONNECTION_MS),
                ("grpc.server_handshake_timeout_ms", HANDSHAKE_MS),
                ("grpc.keepalive_time_ms", KEEPALIVE_MS),
                ("grpc.keepalive_timeout_ms", KEEPALIVE_TIMEOUT_MS),
            ],
        )
        services = []
        for wk in WIRE_KINDS:
            self._server.add_generic_rpc_handlers(
                (command_handler(engine.core, wk), query_handler(engine.core, wk, self.streams))
            )
            services += [wk.command_service, wk.query_service]
        self._server.add_generic_rpc_handlers(
            (dispatch_handler(engine.core, engine.core.dispatcher, self.streams, engine.definitions,
                              supervised),)
        )
        self._server.add_generic_rpc_handlers(
            (admin_handler(metrics, supervised), definitions_handler(engine.definitions))
        )
        self._server.add_generic_rpc_handlers((watch_handler(engine.core, self.streams),))
        services += [DISPATCH_SERVICE, ADMIN_SERVICE, DEFINITIONS_SERVICE, WATCH_SERVICE]
        self._health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        self._health_names = ["", *services]
        self._store_health(None)
        engine.store.health.listen(self._store_health)
        reflection.enable_server_reflection(
            [*services, health.SERVICE_NAME, reflection.SERVICE_NAME],
            self._server,
            pool=proto_pool.with_files_of(health_pb2, reflection_pb2),  # ours + health + reflection
        )
        _check_bindable(address)
        try:
            if tls is not None:
                self.port = self._server.add_secure_port(address, tls.credentials())
            else:
                self.port = self._server.add_insecure_port(address)
        except RuntimeError:  # grpc's way of saying the address is taken or not ours
            self.port = 0
        if self.port == 0:
            raise OSError(f"could not listen on {address} (in use, or not an address of this host)")
        self.address = f"{address.rsplit(':', 1)[0]}:{self.port}"
        self.local_address: str | None = None
        """``unix:PATH`` of ``local_socket``, for clients in this process."""
        if local_socket is not None:
            self.local_address = f"unix:{local_socket}"
            try:
                bound = self._server.add_insecure_port(self.local_address)
            except RuntimeError:
                bound = 0
            if bound == 0:
                raise OSError(f"could not listen on {self.local_address}")

    def _store_health(self, cause: str | None) -> None:
        """NOT_SERVING while the store cannot write (``cause``), SERVING when it can."""
        status = health_pb2.HealthCheckResponse
        for name in self._health_names:
            self._health.set(name, status.SERVING if cause is None else status.NOT_SERVING)

    def start(self) -> EdgeServer:
        self._server.start()
        return self

    def stop(self, grace: float = 3.0) -> None:
        """Stop accepting, end every open stream with OK, finish in-flight unary calls."""
        self._health.enter_graceful_shutdown()
        self.streams.close_all()
        self._server.stop(grace).wait()
        self._pool.shutdown(wait=False)


def _check_bindable(address: str) -> None:
    """OSError naming the reason (in use, not this host's) if ``address`` cannot be bound.

    Tried with a plain socket first because grpc, failing the same bind, logs a C-level
    error line of its own and raises without the reason.
    """
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    if not port.isdigit():
        return  # grpc reports a malformed address itself
    if int(port) > 65535:
        raise OSError(f"could not listen on {address} (a port is at most 65535)")
    if int(port) == 0:
        return  # any free port
    try:
        infos = socket.getaddrinfo(host or None, int(port), type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        raise OSError(f"could not listen on {address} ({error.strerror})") from None
    for family, kind, proto, _, sockaddr in infos:
        with socket.socket(family, kind, proto) as probe:
            # As grpc binds: a port whose last connections are still in TIME_WAIT is free.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(sockaddr)
            except OSError as error:
                raise OSError(f"could not listen on {address} ({error.strerror})") from None
