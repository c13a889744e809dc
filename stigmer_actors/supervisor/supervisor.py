"""Supervisor: every runner process of one daemon.

``serve`` makes one before its engine (the engine asks it why a kind has no runner, and the
edge asks it what to list), starts it once the server listens (the runners need its
address), and stops it first on shutdown, while the server still takes the runners' last
reports: SIGTERM to every runner's process group, ``grace`` seconds for all of them, then
SIGKILL to those left; it returns when every runner is reaped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from loguru import logger

from stigmer_actors import wire
from stigmer_actors.domain.kinds import AGENT
from stigmer_actors.supervisor.environment import child_environment, runner_data_dir
from stigmer_actors.supervisor.lifecycle import (
    BACKING_OFF,
    FAILED,
    RUNNING,
    STARTING,
    STOPPED,
    RunnerLifecycle,
    RunnerStatus,
    exit_text,
)
from stigmer_actors.supervisor.log_feed import LogFeed
from stigmer_actors.supervisor.policy import RestartPolicy
from stigmer_actors.supervisor.spec import RunnerSpec, check_runners

DEFAULT_GRACE = 10.0
MAX_GRACE = 300.0
KILL_WAIT = 5.0
"""Seconds to wait for runners to be reaped after SIGKILL (a process stuck in the kernel)."""

_WIRE_STATE = {
    STARTING: wire.dispatch.RUNNER_STARTING,
    RUNNING: wire.dispatch.RUNNER_RUNNING,
    BACKING_OFF: wire.dispatch.RUNNER_BACKING_OFF,
    FAILED: wire.dispatch.RUNNER_FAILED,
    STOPPED: wire.dispatch.RUNNER_STOPPED,
}
_PHRASE = {
    STARTING: "is starting again",
    BACKING_OFF: "is waiting to be started again",
    STOPPED: "was stopped",
}


class Supervisor:
    def __init__(self, specs: Sequence[RunnerSpec], policy: RestartPolicy = RestartPolicy(),
                 grace: float = DEFAULT_GRACE) -> None:
        check_runners(list(specs))
        self.specs = tuple(specs)
        self.policy = policy
        self.grace = grace
        self._runners: list[RunnerLifecycle] = []
        self._feed: LogFeed | None = None

    def start(self, address: str, data_dir: Path,
              key_for: Callable[[str], str] | None = None) -> Supervisor:
        """Start every runner, telling each the daemon's ``address`` (and, when the daemon
        takes API keys, a runner key of its own made by ``key_for(name)``)."""
        if not self.specs:
            return self
        self._feed = LogFeed()
        for spec in self.specs:
            runner_data_dir(data_dir, spec.name).mkdir(parents=True, exist_ok=True)
            env = child_environment(spec.name, address, data_dir,
                                    key_for(spec.name) if key_for is not None else None)
            self._runners.append(RunnerLifecycle(spec, self.policy, env, self._feed).start())
        return self

    def stop(self) -> None:
        """SIGTERM every runner, SIGKILL those still there after the grace; returns once
        every runner's process is reaped (or after KILL_WAIT more seconds, logged)."""
        if not self._runners:
            return
        for runner in self._runners:
            runner.request_stop()
        deadline = time.monotonic() + self.grace
        for runner in self._runners:
            runner.join(max(deadline - time.monotonic(), 0.0))
        for runner in self._runners:
            if runner.kill():
                logger.warning("runner {runner} did not stop within {grace:g} s of SIGTERM: killed",
                               runner=runner.spec.name, grace=self.grace)
        deadline = time.monotonic() + KILL_WAIT
        for runner in self._runners:
            if not runner.join(max(deadline - time.monotonic(), 0.0)):
                logger.error("runner {runner} is still not reaped {wait:g} s after SIGKILL",
                             runner=runner.spec.name, wait=KILL_WAIT)
        if self._feed is not None:
            self._feed.close()

    def statuses(self) -> list[RunnerStatus]:
        return [runner.status() for runner in self._runners]

    def wire_states(self) -> list[wire.dispatch.SupervisedRunner]:
        """Every runner as ``listRunners`` and ``stats`` send it."""
        return [to_wire(status) for status in self.statuses()]

    def no_runner_reason(self, kind_name: str) -> str | None:
        """Why no runner of ``kind_name`` is there, when this daemon supervises runners of
        that kind and none is running; None otherwise (nothing known to say)."""
        mine = [s for s in self.statuses() if s.spec.kind.name == kind_name]
        if not mine or any(s.state == RUNNING for s in mine):
            return None
        return "; ".join(absence(s) for s in mine)


def absence(status: RunnerStatus) -> str:
    """One runner that is not running, for a pending timeout's error: "runner 'agents'
    exited 3 times (exit 1) and is waiting to be started again; last output: ..."."""
    name = status.spec.name
    if status.exits == 0 or status.last_exit_code is None:
        return f"runner '{name}' is starting (its process is not up for {1:g} s yet)"
    times = "once" if status.exits == 1 else f"{status.exits} times"
    phrase = ("is not started again (a crash loop)" if status.state == FAILED
              else _PHRASE.get(status.state, f"is {status.state}"))
    said = "\n".join(status.last_stderr) or "(nothing on stderr)"
    return (f"runner '{name}' exited {times} ({exit_text(status.last_exit_code)}) and {phrase}; "
            f"last output: {said}")


def to_wire(status: RunnerStatus) -> wire.dispatch.SupervisedRunner:
    message = wire.dispatch.SupervisedRunner(
        name=status.spec.name,
        kind=wire.dispatch.AGENT if status.spec.kind is AGENT else wire.dispatch.WORKFLOW,
        command=status.spec.command,
        state=_WIRE_STATE[status.state],
        pid=status.pid,
        restarts=status.restarts,
        uptime_seconds=status.uptime,
        last_stderr=status.last_stderr,
        output_lines_dropped=status.dropped,
    )
    if status.last_exit_code is not None:
        message.last_exit_code = status.last_exit_code
    return message
