"""The runner processes a daemon supervises (``serve --runner NAME=COMMAND``).

Each runner is a child process started with the daemon's address in its environment, its
output read line by line into the daemon's log, restarted with a growing delay when it
exits, given up on when it crashes in a loop, and stopped (its whole process group) before
the daemon exits. Threads only: one per runner for its lifecycle, one per running process
for its output, one for the whole daemon writing runner lines to the log.

    spec        NAME=COMMAND, parsed and checked; which kind a runner serves
    policy      when to restart (backoff) and when to give up (crash loop)
    child       one process: started in its own group, dies with the daemon, signalled, reaped
    launch      the first thing a new process runs (Linux): the death signal, then exec
    output      its stdout and stderr: lines cut to a bound, rate-bounded, stderr's tail kept
    log_feed    the one thread that writes runner lines to the log, never waited for
    lifecycle   one runner: start, watch, restart or give up, stop; its state for listings
    supervisor  every runner: start, stop with a grace, what ``runners`` and ``stats`` show,
                and why a kind has no runner (for the pending timeout's error)
"""

import stigmer_actors.logs  # noqa: F401  (this package logs: off until a program enables it)
from stigmer_actors.supervisor.policy import RestartPolicy
from stigmer_actors.supervisor.spec import RunnerSpec, parse_runner
from stigmer_actors.supervisor.supervisor import Supervisor

__all__ = ["RestartPolicy", "RunnerSpec", "Supervisor", "parse_runner"]
