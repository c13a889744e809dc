"""``stigmer-actors serve``: the daemon, with defaults that need no flags."""

from __future__ import annotations

import argparse
import os
import signal
import threading
from pathlib import Path

from loguru import logger

from stigmer_actors import logs
from stigmer_actors.domain.timeouts import Timeouts
from stigmer_actors.engine import Engine
from stigmer_actors.grpc_edge.server import (
    DEFAULT_ADDRESS,
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


def add_runner_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workers", type=int, default=DEFAULT_WORKERS,
                   help="worker threads for python/http/wait/agent nodes")
    p.add_argument("--inactivity-timeout", type=float, default=DEFAULT_INACTIVITY_TIMEOUT, metavar="SECONDS",
                   help="fail a run that makes no progress for this long")


def add_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("serve", help="run the execution-status daemon")
    p.add_argument("--address", default=DEFAULT_ADDRESS, help="HOST:PORT to listen on")
    p.add_argument("--data-dir", type=Path, default=None, help="RocksDB data directory")
    p.add_argument("--durability", choices=DURABILITIES, default="wal")
    p.add_argument("--max-streams", type=int, default=DEFAULT_MAX_STREAMS)
    p.add_argument("--max-message-bytes", type=int, default=DEFAULT_MAX_MESSAGE_BYTES,
                   help="larger requests are refused with RESOURCE_EXHAUSTED")
    p.add_argument("--pending-timeout", type=float, default=Timeouts.pending, metavar="SECONDS",
                   help="fail executions no runner picked up in this time (0: never)")
    p.add_argument("--heartbeat-timeout", type=float, default=Timeouts.heartbeat, metavar="SECONDS",
                   help="fail IN_PROGRESS executions with no update in this time (0: never)")
    p.add_argument("--metrics-address", default=None, metavar="HOST:PORT",
                   help="serve Prometheus metrics at http://HOST:PORT/metrics (off by default)")
    p.add_argument("--no-runner", action="store_true",
                   help="do not run workflow executions here (leave them to external runners)")
    add_runner_options(p)
    p.add_argument("--log-level", default="INFO")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    logs.configure(args.log_level)
    data_dir = args.data_dir or default_data_dir()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    engine = Engine(
        data_dir,
        durability=args.durability,
        pending_timeout=args.pending_timeout,
        heartbeat_timeout=args.heartbeat_timeout,
        metrics=Metrics(),
    )
    endpoint = None
    try:
        server = EdgeServer(engine, args.address, args.max_streams, args.max_message_bytes).start()
        if args.metrics_address:
            endpoint = MetricsEndpoint(args.metrics_address, engine.core.metrics)
            logger.info("metrics at {url}", url=endpoint.url)
    except (OSError, ValueError) as error:
        engine.close()
        logger.error("cannot serve: {error}", error=error)
        return 2
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
    stop.wait()
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
