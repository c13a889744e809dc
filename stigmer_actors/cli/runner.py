"""``stigmer-actors runner --address HOST:PORT``: the workflow runner in its own process.

The same ``WorkflowRunner`` that ``serve`` starts, claiming from a daemon elsewhere; its
run progress lives in its own RocksDB data dir (``--data-dir``), so a restarted runner
resumes its runs. Supervised by a daemon (``serve --runner workflows="stigmer-actors
runner"``), it takes the address, its name and its data directory from the environment the
daemon gives it (``supervisor/environment.py``).
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
from pathlib import Path

from loguru import logger

from stigmer_actors import logs
from stigmer_actors.cli import connect
from stigmer_actors.cli.addresses import dial_address
from stigmer_actors.cli.parsing import Commands
from stigmer_actors.cli.serve import STOP_POLL, add_runner_options, default_data_dir, node_policy
from stigmer_actors.cli.startup import EXIT_SECURITY_FILE
from stigmer_actors.contract import (
    ADDRESS_ENV,
    DEFAULT_ADDRESS,
    RUNNER_DATA_DIR_ENV,
    RUNNER_NAME_ENV,
    daemon_address,
)
from stigmer_actors.runner.service import WorkflowRunner
from stigmer_actors.store.rocks import RocksStore


def add_parser(commands: Commands) -> None:
    p = commands.add_parser("runner", help="run workflow executions for a daemon")
    p.add_argument("--address", type=dial_address, default=daemon_address(),
                   help=f"the daemon's HOST:PORT (default: ${ADDRESS_ENV} if set, else {DEFAULT_ADDRESS})")
    data_dir = os.environ.get(RUNNER_DATA_DIR_ENV)
    p.add_argument("--data-dir", type=Path, default=Path(data_dir) if data_dir else None,
                   help=f"where run progress is kept (default: ${RUNNER_DATA_DIR_ENV} if set, "
                        "else <serve's default>-runner)")
    p.add_argument("--runner-id", default=os.environ.get(RUNNER_NAME_ENV) or "workflow-runner",
                   help=f"this runner's name, in `stigmer-actors runners` (default: ${RUNNER_NAME_ENV} "
                        "if set, else workflow-runner)")
    connect.add_options(p)
    add_runner_options(p)
    logs.add_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    logs.configure(args.log_level, args.log_format)
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
    while not stop.wait(STOP_POLL):  # not a bare wait(): see serve.run on signals and threads
        pass
    runner.stop()
    store.close()
    return 0
