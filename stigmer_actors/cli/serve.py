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
from stigmer_actors.store.rocks import DURABILITIES


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/stigmer-actors``, else ``~/.local/share/stigmer-actors``."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "stigmer-actors"


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
    logger.info(
        "listening on {address}, data in {data_dir} ({durability} durability)",
        address=server.address,
        data_dir=data_dir,
        durability=args.durability,
    )
    stop.wait()
    logger.info("shutting down: ending {streams} open streams", streams=server.streams.count)
    server.stop(grace=3.0)
    if endpoint is not None:
        endpoint.stop()
    engine.close()
    logger.info("stopped; store flushed")
    return 0
