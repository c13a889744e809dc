"""Run the real ``stigmer-actors`` program in a subprocess, as a user would."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

CLI = [sys.executable, "-m", "stigmer_actors.cli.main"]
HOOK_MODULES = "tests.workflow_hooks,stigmer_actors.runner.demo_hooks"
"""The modules the tests' and the examples' python nodes call."""
ALLOW_HOOKS = ("--python-modules", HOOK_MODULES)
"""What an operator gives ``serve`` (or ``runner``) so that those definitions apply and run:
python nodes are refused by default."""


class Daemon:
    """``stigmer-actors serve`` on a free loopback port; ``address`` is read from its log.

    ``data_dir`` is a directory (RocksDB), or a ``postgresql://`` URL (the node of a
    cluster on that database). ``port`` fixes the port (a node restarted at its address).
    """

    def __init__(self, data_dir: Path | str, *extra: str, preexec_fn: Callable[[], None] | None = None,
                 env: dict[str, str] | None = None, cwd: Path | None = None, port: int = 0) -> None:
        where = ["--store", data_dir] if str(data_dir).startswith("postgres") else ["--data-dir", str(data_dir)]
        self.proc = subprocess.Popen(
            [*CLI, "serve", "--address", f"127.0.0.1:{port}", *where, *extra],
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=preexec_fn,
            env=env,
            cwd=cwd,
        )
        self.log: list[str] = []
        found = threading.Event()
        self.address = ""

        def read() -> None:
            assert self.proc.stderr is not None
            for line in self.proc.stderr:
                self.log.append(line)
                match = re.search(r"listening on (\S+),", line)
                if match:
                    self.address = match.group(1)
                    found.set()

        self._reader = threading.Thread(target=read, daemon=True)
        self._reader.start()
        if not found.wait(timeout=30):
            self.proc.kill()
            raise RuntimeError("daemon did not start:\n" + "".join(self.log))

    @property
    def port(self) -> int:
        return int(self.address.rsplit(":", 1)[1])

    def terminate(self, timeout: float = 10) -> int:
        self.proc.terminate()
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=5)
        return code

    def kill(self) -> None:
        """SIGKILL: the node dies mid-work, as in a crash."""
        self.proc.kill()
        self.proc.wait(timeout=10)
        self._reader.join(timeout=5)


def cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout)
