"""One runner process: started in a process group of its own, bound to die with the daemon,
signalled as a group, and reaped without ever signalling a stranger.

- Its own session and process group (``start_new_session``): a terminal's Ctrl-C reaches
  the daemon only, which stops its runners in order; and a signal to the group reaches
  whatever the runner started too.
- It dies with the daemon: on Linux it starts as ``launch.py``, which sets
  ``PR_SET_PDEATHSIG`` (SIGKILL) and execs the command, so a daemon killed with SIGKILL
  leaves no runner behind. The kernel sends that signal when the *thread* that started the
  process ends, so that thread must outlive it (``lifecycle.py``'s does). It reaches the
  runner's own process only: what the runner started in turn, it must end itself. Elsewhere
  the command runs directly, and a runner outlives a SIGKILLed daemon (a stopped daemon
  still stops it).
- Its exit is seen without reaping it (``waitid`` with ``WNOWAIT``): while it is a zombie its
  pid, and so its process group id, cannot be reused, so the group is killed (stray
  grandchildren) before it is reaped, with no risk of signalling an unrelated process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from loguru import logger

from stigmer_actors.supervisor.log_feed import LogFeed
from stigmer_actors.supervisor.output import OutputPump

LAUNCH = str(Path(__file__).with_name("launch.py"))
POLL = 0.05
"""Seconds between checks while waiting for an exit with a timeout."""


def command_line(argv: tuple[str, ...]) -> list[str]:
    """What to execute for ``argv``: through ``launch.py`` where it can set the death signal."""
    if sys.platform.startswith("linux"):
        return [sys.executable, "-I", "-S", LAUNCH, str(os.getpid()), *argv]
    return list(argv)


class SpawnError(Exception):
    """The command could not be started; ``code`` is what a shell would have exited with."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class Child:
    """A started runner process and the pump reading its output."""

    def __init__(self, name: str, argv: tuple[str, ...], env: Mapping[str, str], feed: LogFeed) -> None:
        try:
            self._proc = subprocess.Popen(
                command_line(argv),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=dict(env),
                start_new_session=True,
            )
        except OSError as error:
            code = 127 if isinstance(error, FileNotFoundError) else 126  # as a shell says it
            raise SpawnError(f"cannot start {argv[0]!r}: {error.strerror or error}", code) from None
        self.pid = self._proc.pid
        self.started = time.monotonic()
        assert self._proc.stdout is not None and self._proc.stderr is not None
        self.pump = OutputPump(name, self._proc.stdout, self._proc.stderr, feed).start()
        self.returncode: int | None = None

    def signal_group(self, sig: int) -> None:
        """Send ``sig`` to the process group, while it can only be this runner's."""
        if self.returncode is not None:
            return  # reaped: the group id may belong to someone else by now
        try:
            os.killpg(self.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def wait_exit(self, timeout: float | None = None) -> bool:
        """Wait until the process has exited, without reaping it; False on timeout."""
        if timeout is None:
            os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOWAIT)
            return True
        deadline = time.monotonic() + timeout
        while os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOWAIT | os.WNOHANG) is None:
            if time.monotonic() >= deadline:
                return False
            time.sleep(POLL)  # waitid has no timeout; this runs only for a start's first second
        return True

    def reap(self) -> int:
        """After ``wait_exit`` (so it does not wait): kill what is left of its group, then
        reap it. Returns the exit code (minus the signal number if a signal ended it).
        Callers serialize this with ``signal_group``, so no signal follows the reaping."""
        self.signal_group(signal.SIGKILL)
        self.returncode = self._proc.wait()
        return self.returncode

    def drain(self, timeout: float = 1.0) -> None:
        """Let its output reach the log: at most ``timeout`` s (a process that left its group
        may still hold the pipes)."""
        if not self.pump.join(timeout):
            logger.warning("runner {runner}: its output is still open after its exit (a process "
                           "it started left its group?)", runner=self.pump.runner)
