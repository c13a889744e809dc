"""``stigmer-actors serve``: the daemon, with defaults that need no flags."""

from __future__ import annotations

import argparse
import os
import signal
import threading
from pathlib import Path

from loguru import logger

from stigmer_actors import logs
from stigmer_actors.cli.startup import EXIT_CANNOT_LISTEN, EXIT_NO_DASHBOARD, bounded, raise_open_file_limit
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
    p.add_argument("--durability", choices=DURABILITIES, default="wal")
    p.add_argument("--max-streams", type=bounded(int, 1, MAX_STREAMS), default=DEFAULT_MAX_STREAMS,
                   help=f"open subscribe, watchExecutions and claim streams at once (1 to {MAX_STREAMS:,})")
    p.add_argument("--max-message-bytes", type=bounded(int, 1024, MAX_MESSAGE_BYTES),
                   default=DEFAULT_MAX_MESSAGE_BYTES,
                   help="larger requests are refused with RESOURCE_EXHAUSTED (1 KiB to 64 MiB)")
    p.add_argument("--pending-timeout", type=_SECONDS, default=Timeouts.pending, metavar="SECONDS",
                   help="fail executions no runner picked up in this time (0: never; at most 30 days)")
    p.add_argument("--heartbeat-timeout", type=_SECONDS, default=Timeouts.heartbeat, metavar="SECONDS",
                   help="fail IN_PROGRESS executions with no update in this time (0: never; at most 30 days)")
    p.add_argument("--metrics-address", default=None, metavar="HOST:PORT",
                   help="serve Prometheus metrics at http://HOST:PORT/metrics (off by default)")
    p.add_argument("--http-address", default=None, metavar="HOST:PORT",
                   help="serve the web dashboard at http://HOST:PORT/ (off by default; needs the web extra)")
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
    data_dir = args.data_dir or default_data_dir()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    max_connections = connection_bound(raise_open_file_limit())
    logger.debug("at most {count} client connections", count=max_connections)
    engine = Engine(
        data_dir,
        durability=args.durability,
        pending_timeout=args.pending_timeout,
        heartbeat_timeout=args.heartbeat_timeout,
        metrics=Metrics(),
    )
    endpoint = web = server = None
    try:
        server = EdgeServer(engine, args.address, args.max_streams, args.max_message_bytes,
                            max_connections).start()
        if args.metrics_address:
            endpoint = MetricsEndpoint(args.metrics_address, engine.core.metrics)
            logger.info("metrics at {url}", url=endpoint.url)
        if args.http_address:
            web = _dashboard(engine, args.http_address)
            logger.info("dashboard at {url}", url=web.url)
    except (OSError, ValueError) as error:
        for started in (endpoint, server):
            if started is not None:
                started.stop()
        engine.close()
        logger.error("cannot serve: {error}; give another --address (or --metrics-address, "
                     "--http-address), or stop what holds it", error=error)
        return EXIT_CANNOT_LISTEN
    except ImportError as error:
        for started in (endpoint, server):
            if started is not None:
                started.stop()
        engine.close()
        logger.error("cannot serve the dashboard: {error}; install the web extra "
                     "(pip install 'stigmer-actors[web]')", error=error)
        return EXIT_NO_DASHBOARD
    runner = None
    if not args.no_runner:
        runner = WorkflowRunner(_loopback(server.address), engine.store, runner_id="serve",
                                workers=args.workers, inactivity_timeout=args.inactivity_timeout).start()
    logger.info(
        "listening on {address}, data in {data_dir} ({durability} durability)",
        address=server.address,
        data_dir=data_dir,
        durability=args.durability,
    )
    while not stop.wait(STOP_POLL):
        pass
    if runner is not None:
        runner.stop()
    logger.info("shutting down: ending {streams} open streams", streams=server.streams.count)
    if web is not None:
        web.stop()
    server.stop(grace=3.0)
    if endpoint is not None:
        endpoint.stop()
    engine.close()
    logger.info("stopped; store flushed")
    return 0


def _dashboard(engine: Engine, address: str):  # noqa: ANN202 - the web extra may be missing
    """The dashboard's server, started. The API-key check of the security issue goes into
    ``middlewares`` (one WSGI middleware in front of every page and stream)."""
    from stigmer_actors.web.server import WebServer

    return WebServer(engine, address, middlewares=()).start()


def _loopback(address: str) -> str:
    """Where this process reaches its own server (a wildcard host is not an address to dial)."""
    host, port = address.rsplit(":", 1)
    return f"127.0.0.1:{port}" if host in ("0.0.0.0", "[::]", "") else address
