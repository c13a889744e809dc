"""What a supervised runner finds in its environment.

The daemon's own environment (PATH, HOME, a virtualenv...), plus:

    STIGMER_ADDR             the daemon's address for its runners (a private Unix socket)
    STIGMER_API_KEY          a runner key of its own, when the daemon takes API keys
    STIGMER_RUNNER_NAME      the NAME of ``--runner NAME=COMMAND``
    STIGMER_RUNNER_DATA_DIR  <daemon data dir>/runners/NAME: the runner's own, kept across restarts
    PYTHONUNBUFFERED=1       unless set: a Python runner's lines reach the log as it prints them
"""

from __future__ import annotations

import os
from pathlib import Path

from stigmer_actors.client.credentials import API_KEY_ENV
from stigmer_actors.contract import ADDRESS_ENV, RUNNER_DATA_DIR_ENV, RUNNER_NAME_ENV


def runner_data_dir(daemon_data_dir: Path, name: str) -> Path:
    return daemon_data_dir / "runners" / name


def child_environment(name: str, address: str, daemon_data_dir: Path,
                      api_key: str | None = None) -> dict[str, str]:
    """The runner's environment. ``api_key``: its key (made for this process's life and
    written nowhere; never logged). Without one, a key the daemon's own environment holds
    is not passed on: a runner gets its own or none."""
    env = dict(os.environ)
    env[ADDRESS_ENV] = address
    env[RUNNER_NAME_ENV] = name
    env[RUNNER_DATA_DIR_ENV] = str(runner_data_dir(daemon_data_dir, name))
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.pop(API_KEY_ENV, None)
    if api_key:
        env[API_KEY_ENV] = api_key
    return env
