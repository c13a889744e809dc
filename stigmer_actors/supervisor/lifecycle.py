"""RunnerLifecycle: one supervised runner, from its first start to the daemon's stop.

One thread per runner does everything in order: start the process, wait for it, and when
it exits either start it again after the policy's delay (``backing off``) or give up on a
crash loop (``failed``). States (``RunnerState`` on the wire):

    starting ──(up for SETTLE s)──▶ running ──(exit)──▶ backing off ──(delay)──▶ starting
        └──────────(exit)──────────────────────────────▶ failed (a crash loop: no restart)
    any ──(the daemon stops)──▶ stopped

This thread starts the process and lives until it is reaped: on Linux the process dies with
the thread that started it (``child.py``), so the thread must not end first.
Other threads read ``status()`` (listings, the pending-timeout explanation) and call
``request_stop`` / ``kill``; the fields they share are under ``_lock``.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

from loguru import logger

from stigmer_actors.supervisor.child import Child, SpawnError
from stigmer_actors.supervisor.log_feed import LogFeed
from stigmer_actors.supervisor.policy import ExitHistory, RestartPolicy
from stigmer_actors.supervisor.spec import RunnerSpec

STARTING, RUNNING, BACKING_OFF, FAILED, STOPPED = "starting", "running", "backing off", "failed", "stopped"
SETTLE = 1.0
"""Seconds a new process must stay up to count as running (an import error fails sooner)."""


@dataclass(frozen=True)
class RunnerStatus:
    """One runner as listings show it."""

    spec: RunnerSpec
    state: str
    pid: int
    """0 when it has no process."""
    restarts: int
    exits: int
    """Processes of it that ended (a start that failed counts)."""
    last_exit_code: int | None
    """Exit code of the last ended process, minus the signal that ended it; None before."""
    uptime: float
    """Seconds the current process has been up (0 when none)."""
    last_stderr: tuple[str, ...]
    dropped: int
    """Output lines not logged, over all its processes."""


def exit_text(code: int) -> str:
    if code >= 0:
        return f"exit {code}"
    try:
        return f"killed by {signal.Signals(-code).name}"
    except ValueError:
        return f"killed by signal {-code}"


class RunnerLifecycle:
    def __init__(self, spec: RunnerSpec, policy: RestartPolicy, env: Mapping[str, str], feed: LogFeed) -> None:
        self.spec = spec
        self._env = env
        self._feed = feed
        self._history = ExitHistory(policy)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._state = STARTING
        self._child: Child | None = None
        self._starts = 0
        self._exits = 0
        self._last_code: int | None = None
        self._last_stderr: tuple[str, ...] = ()
        self._dropped = 0
        self._thread = threading.Thread(target=self._run, name=f"runner-{spec.name}", daemon=True)

    def start(self) -> RunnerLifecycle:
        self._thread.start()
        return self

    def status(self) -> RunnerStatus:
        with self._lock:
            child = self._child
            return RunnerStatus(
                self.spec, self._state, child.pid if child else 0, max(self._starts - 1, 0),
                self._exits, self._last_code,
                time.monotonic() - child.started if child else 0.0, self._last_stderr,
                self._dropped + (child.pump.dropped if child else 0),
            )

    def request_stop(self) -> None:
        """No more restarts; SIGTERM to the process group if there is a process."""
        with self._lock:
            self._stopping.set()
            if self._child is not None:
                self._child.signal_group(signal.SIGTERM)

    def kill(self) -> bool:
        """SIGKILL to the process group; True if there was a process to kill."""
        with self._lock:
            if self._child is None:
                return False
            self._child.signal_group(signal.SIGKILL)
            return True

    def join(self, timeout: float) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # The runner's own thread

    def _run(self) -> None:
        try:
            while True:
                code, delay = self._run_once()
                if self._stopping.is_set():
                    break
                if delay is None:
                    self._gave_up(code)
                    return
                logger.warning("runner {runner} exited ({how}); starting it again in {delay:g} s",
                               runner=self.spec.name, how=exit_text(code), delay=delay)
                self._stopping.wait(delay)
        except Exception:  # a bug here must not leave the state wrong without a word
            logger.opt(exception=True).error("runner {runner}: its supervisor thread failed",
                                             runner=self.spec.name)
        with self._lock:
            self._state = STOPPED

    def _run_once(self) -> tuple[int, float | None]:
        """Start one process and wait for its end: its exit code, and the delay before the
        next start (None: a crash loop, no restart)."""
        with self._lock:
            if self._stopping.is_set():
                return 0, 0.0
            self._state = STARTING
            self._starts += 1
            try:
                child = Child(self.spec.name, self.spec.argv, self._env, self._feed)
            except SpawnError as error:
                failed: SpawnError | None = error
            else:
                failed = None
                self._child = child
        if failed is not None:
            logger.error("runner {runner}: {error}", runner=self.spec.name, error=failed)
            with self._lock:
                return failed.code, self._ended(failed.code, (str(failed),), 0)
        logger.info("runner {runner} started: pid {pid} ({command})", runner=self.spec.name,
                    pid=child.pid, command=self.spec.command)
        if not child.wait_exit(SETTLE):
            with self._lock:
                self._state = RUNNING
            child.wait_exit()
        with self._lock:  # not while request_stop or kill signals its group
            code = child.reap()
        child.drain()
        logger.info("runner {runner} (pid {pid}) ended after {uptime:.1f} s: {how}",
                    runner=self.spec.name, pid=child.pid, uptime=time.monotonic() - child.started,
                    how=exit_text(code))
        with self._lock:
            self._child = None
            return code, self._ended(code, tuple(child.pump.tail.lines()), child.pump.dropped)

    def _ended(self, code: int, stderr: tuple[str, ...], dropped: int) -> float | None:
        """Record a process's end and the state it leaves (under ``_lock``, so no reader
        sees a runner without a process that still says running): the delay before the
        next start, or None for a crash loop."""
        self._exits += 1
        self._last_code = code
        self._last_stderr = stderr
        self._dropped += dropped
        if self._stopping.is_set():
            self._state = STOPPED
            return 0.0
        delay = self._history.record(time.monotonic())
        self._state = BACKING_OFF if delay is not None else FAILED
        return delay

    def _gave_up(self, code: int) -> None:
        policy = self._history.policy
        logger.error("runner {runner} exited {count} times within {window:g} s (last: {how}): "
                     "it is not started again. Its last output: {tail}", runner=self.spec.name,
                     count=policy.max_exits, window=policy.window, how=exit_text(code),
                     tail=" | ".join(self.status().last_stderr) or "(none)")
