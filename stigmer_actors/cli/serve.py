"""``stigmer-actors serve``: the daemon, with defaults that need no flags."""

from __future__ import annotations

import argparse
import os
import signal
import threading
from pathlib import Path

from loguru import logger

from stigmer_actors import logs
from stigmer_actors.cli.startup import (
    EXIT_CANNOT_LISTEN,
    EXIT_DATABASE,
    bounded,
    raise_open_file_limit,
)
from stigmer_actors.domain.errors import Unavailable
from stigmer_actors.domain.timeouts import MAX_TIMEOUT_SECONDS, Timeouts
from stigmer_actors.engine import Engine
from stigmer_actors.grpc_edge.server import (
    DEFAULT_ADDRESS,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_MESSAGE_BYTES,
    DEFAULT_MAX_STREAMS,
    EdgeServer,
)
from stigmer_actors.observability import Metrics
from stigmer_actors.observability.http import MetricsEndpoint
from stigmer_actors.runner.service import DEFAULT_INACTIVITY_TIMEOUT, DEFAULT_WORKERS, WorkflowRunner
from stigmer_actors.store.postgres.dsn import redact
from stigmer_actors.store.rocks import DURABILITIES


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/stigmer-actors``, else ``~/.local/share/stigmer-actors``."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "stigmer-actors"


MAX_STREAMS = 10_000
"""Each open stream holds a pool thread."""
MAX_MESSAGE_BYTES = 64 * 2**20
MAX_WORKERS = 256
_SECONDS = bounded(float, 0, MAX_TIMEOUT_SECONDS, " seconds (30 days)")


def add_runner_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workers", type=bounded(int, 1, MAX_WORKERS), default=DEFAULT_WORKERS,
                   help=f"worker threads for python/http/wait/agent nodes (1 to {MAX_WORKERS})")
    p.add_argument("--inactivity-timeout", type=bounded(float, 0, MAX_TIMEOUT_SECONDS, " seconds (30 days)", above=True),
                   default=DEFAULT_INACTIVITY_TIMEOUT, metavar="SECONDS",
                   help="fail a run that makes no progress for this long")


def add_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("serve", help="run the execution-status daemon")
    p.add_argument("--address", default=DEFAULT_ADDRESS, help="HOST:PORT to listen on")
    p.add_argument("--data-dir", type=Path, default=None, help="RocksDB data directory")
    p.add_argument("--store", default=None, metavar="postgres://...",
                   help="keep executions in this PostgreSQL database instead of RocksDB; every "
                        "daemon given the same one is a node of one cluster")
    p.add_argument("--cluster-lease", type=bounded(float, 1, 3600, " seconds", above=False), default=15.0,
                   metavar="SECONDS", help="with --store: how long a node's hold on a PENDING "
                   "execution or a due timer lasts unless renewed (1 to 3,600)")
    p.add_argument("--durability", choices=DURABILITIES, default="wal",
                   help="RocksDB: wal (survives a crash) or sync (an fsync per write)")
    p.add_argument("--max-streams", type=bounded(int, 1, MAX_STREAMS), default=DEFAULT_MAX_STREAMS,
                   help=f"open subscribe and claim streams at once (1 to {MAX_STREAMS:,})")
    p.add_argument("--max-message-bytes", type=bounded(int, 1024, MAX_MESSAGE_BYTES),
                   default=DEFAULT_MAX_MESSAGE_BYTES,
                   help="larger requests are refused with RESOURCE_EXHAUSTED (1 KiB to 64 MiB)")
    p.add_argument("--pending-timeout", type=_SECONDS, default=Timeouts.pending, metavar="SECONDS",
                   help="fail executions no runner picked up in this time (0: never; at most 30 days)")
    p.add_argument("--heartbeat-timeout", type=_SECONDS, default=Timeouts.heartbeat, metavar="SECONDS",
                   help="fail IN_PROGRESS executions with no update in this time (0: never; at most 30 days)")
    p.add_argument("--metrics-address", default=None, metavar="HOST:PORT",
                   help="serve Prometheus metrics at http://HOST:PORT/metrics (off by default)")
    p.add_argument("--no-runner", action="store_true",
                   help="do not run workflow executions here (leave them to external runners)")
    add_runner_options(p)
    p.add_argument("--log-level", default="INFO")
    p.set_defaults(run=run)


def connection_bound(open_files: int) -> int:
    """Client connections allowed at once: half the descriptors, the rest kept for the
    store and everything else, and at most DEFAULT_MAX_CONNECTIONS."""
    return max(1, min(DEFAULT_MAX_CONNECTIONS, open_files // 2))


STOP_POLL = 0.5
"""Seconds between the main thread's checks for a stop signal (see ``run``)."""


def run(args: argparse.Namespace) -> int:
    """Serve until SIGTERM or SIGINT. A store that will not open raises StoreOpenError
    (``cli/main.py`` reports it); every other refusal is reported here.

    The main thread waits for the stop with a timeout, not forever: a signal delivered to
    one of grpc's or RocksDB's threads runs its Python handler only when the main thread
    next runs Python code, and a main thread blocked in ``Event.wait()`` never would (one
    stop in ten hung so here). Blocking the signals in the other threads instead would
    pass the mask on to every process a workflow node starts.
    """
    logs.configure(args.log_level)
    if args.store and args.data_dir:
        logger.error("give --data-dir (RocksDB) or --store (PostgreSQL), not both")
        return 2
    data_dir = None if args.store else args.data_dir or default_data_dir()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    max_connections = connection_bound(raise_open_file_limit())
    logger.debug("at most {count} client connections", count=max_connections)
    try:
        engine = Engine(
            data_dir,
            store=args.store,
            durability=args.durability,
            pending_timeout=args.pending_timeout,
            heartbeat_timeout=args.heartbeat_timeout,
            metrics=Metrics(),
            cluster_lease=args.cluster_lease,
        )
    except (Unavailable, RuntimeError, ValueError) as error:
        if not args.store:
            raise
        message = error.message if isinstance(error, Unavailable) else str(error)
        logger.error("{message}: check that the database runs and --store names it", message=message)
        return EXIT_DATABASE
    endpoint = None
    try:
        server = EdgeServer(engine, args.address, args.max_streams, args.max_message_bytes,
                            max_connections).start()
        if args.metrics_address:
            endpoint = MetricsEndpoint(args.metrics_address, engine.core.metrics)
            logger.info("metrics at {url}", url=endpoint.url)
    except (OSError, ValueError) as error:
        engine.close()
        logger.error("cannot serve: {error}; give another --address (or --metrics-address), "
                     "or stop what holds it", error=error)
        return EXIT_CANNOT_LISTEN
    runner = None
    if not args.no_runner:
        runner = WorkflowRunner(_loopback(server.address), engine.store, runner_id="serve",
                                workers=args.workers, inactivity_timeout=args.inactivity_timeout,
                                lease=args.cluster_lease).start()
    if data_dir is not None:
        where = f"data in {data_dir} ({args.durability} durability)"
    else:
        where = f"data in PostgreSQL {redact(args.store)}, node {engine.store.node}"
    logger.info("listening on {address}, {where}", address=server.address, where=where)
    while not stop.wait(STOP_POLL):
        pass
    if runner is not None:
        runner.stop()
    logger.info("shutting down: ending {streams} open streams", streams=server.streams.count)
    server.stop(grace=3.0)
    if endpoint is not None:
        endpoint.stop()
    engine.close()
    logger.info("stopped; store flushed")
    return 0


def _loopback(address: str) -> str:
    """Where this process reaches its own server (a wildcard host is not an address to dial)."""
    host, port = address.rsplit(":", 1)
    return f"127.0.0.1:{port}" if host in ("0.0.0.0", "[::]", "") else address
