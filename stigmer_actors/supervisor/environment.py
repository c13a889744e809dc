"""What a supervised runner finds in its environment.

The daemon's own environment (PATH, HOME, a virtualenv...), plus:

    STIGMER_ADDR             the daemon's address (its loopback address if it listens on all)
    STIGMER_RUNNER_NAME      the NAME of ``--runner NAME=COMMAND``
    STIGMER_RUNNER_DATA_DIR  <daemon data dir>/runners/NAME: the runner's own, kept across restarts
    PYTHONUNBUFFERED=1       unless set: a Python runner's lines reach the log as it prints them
"""

from __future__ import annotations

import os
from pathlib import Path

from stigmer_actors.contract import ADDRESS_ENV, RUNNER_DATA_DIR_ENV, RUNNER_NAME_ENV


def runner_data_dir(daemon_data_dir: Path, name: str) -> Path:
    return daemon_data_dir / "runners" / name


def child_environment(name: str, address: str, daemon_data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env[ADDRESS_ENV] = address
    env[RUNNER_NAME_ENV] = name
    env[RUNNER_DATA_DIR_ENV] = str(runner_data_dir(daemon_data_dir, name))
    env.setdefault("PYTHONUNBUFFERED", "1")
    # RUNNER CREDENTIALS: when runners authenticate to the daemon (API keys, the security
    # work), this is the one place a runner's key goes into its environment:
    #     env["STIGMER_API_KEY"] = <the key issued to runner `name`>
    # Never log it (nothing here is logged today).
    return env
