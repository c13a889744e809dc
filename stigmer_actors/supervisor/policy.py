"""When a runner that exited is started again, and when the daemon gives up on it.

The delay before a restart doubles with each exit in the last ``window`` seconds (1, 2, 4,
8 s with the defaults), so a runner that dies at start does not spin a core, while one that
ran for a while and then crashed once comes back after ``backoff``. The ``max_exits``-th exit
within ``window`` is a crash loop: no restart, the runner is marked failed, and the daemon
keeps serving (its pending timeouts say why nobody runs that kind).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

DEFAULT_BACKOFF = 1.0
MAX_BACKOFF = 60.0
"""The longest delay between restarts, and the largest ``--runner-backoff``."""
CRASH_LOOP_EXITS = 5
CRASH_LOOP_WINDOW = 60.0


@dataclass(frozen=True)
class RestartPolicy:
    backoff: float = DEFAULT_BACKOFF
    """Seconds before the first restart."""
    max_exits: int = CRASH_LOOP_EXITS
    window: float = CRASH_LOOP_WINDOW

    def __post_init__(self) -> None:
        if not 0 <= self.backoff <= MAX_BACKOFF:
            raise ValueError(f"backoff must be from 0 to {MAX_BACKOFF:g} s, not {self.backoff!r}")


class ExitHistory:
    """The exits of one runner within its policy's window, and what follows the next one."""

    def __init__(self, policy: RestartPolicy) -> None:
        self.policy = policy
        self._exits: deque[float] = deque()

    def record(self, at: float) -> float | None:
        """Note an exit at monotonic time ``at``: the delay before the restart, or None
        when this exit makes a crash loop (no restart)."""
        window_start = at - self.policy.window
        while self._exits and self._exits[0] <= window_start:
            self._exits.popleft()
        self._exits.append(at)
        recent = len(self._exits)
        if recent >= self.policy.max_exits:
            return None
        delay: float = self.policy.backoff * 2 ** (recent - 1)
        return min(delay, MAX_BACKOFF)
