"""``stigmer-actors runner --address HOST:PORT``: the workflow runner in its own process.

The same ``WorkflowRunner`` that ``serve`` starts, claiming from a daemon elsewhere; its
run progress lives in its own RocksDB data dir (``--data-dir``), so a restarted runner
resumes its runs.
"""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

from loguru import logger

from stigmer_actors import logs
from stigmer_actors.cli import connect
from stigmer_actors.cli.serve import add_runner_options, default_data_dir, node_policy
from stigmer_actors.cli.startup import EXIT_SECURITY_FILE
from stigmer_actors.contract import DEFAULT_ADDRESS
from stigmer_actors.runner.service import WorkflowRunner
from stigmer_actors.store.rocks import RocksStore


def add_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("runner", help="run workflow executions for a daemon")
    p.add_argument("--address", default=DEFAULT_ADDRESS, help="the daemon's HOST:PORT")
    p.add_argument("--data-dir", type=Path, default=None,
                   help="where run progress is kept (default: <serve's default>-runner)")
    p.add_argument("--runner-id", default="workflow-runner")
    connect.add_options(p)
    add_runner_options(p)
    p.add_argument("--log-level", default="INFO")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    logs.configure(args.log_level)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    data_dir = args.data_dir or default_data_dir().with_name("stigmer-actors-runner")
    store = RocksStore(data_dir)
    try:
        runner = WorkflowRunner(args.address, store, runner_id=args.runner_id, workers=args.workers,
                                inactivity_timeout=args.inactivity_timeout,
                                credentials=connect.credentials(args), policy=node_policy(args)).start()
    except (OSError, ValueError) as error:  # a TLS file that cannot be read, half a certificate
        store.close()
        logger.error(error.strerror if isinstance(error, OSError) and error.strerror else str(error))
        return EXIT_SECURITY_FILE
    logger.info("runner {runner} claiming workflows from {address}, progress in {data_dir}",
                runner=args.runner_id, address=args.address, data_dir=data_dir)
    stop.wait()
    runner.stop()
    store.close()
    return 0
