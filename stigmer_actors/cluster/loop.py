"""Loop: a daemon thread that runs a step every so often and outlives any failure of one.

Every cluster loop talks to a database that can go away; a step that raises is logged
(once per outage, not once per retry) and tried again after a pause that grows to
``MAX_PAUSE``, so a lost database costs a few log lines, never a dead loop.
"""

from __future__ import annotations

import threading

from loguru import logger

MAX_PAUSE = 2.0


class Loop:
    name = "loop"
    interval = 1.0
    """Seconds between steps when all is well."""

    def __init__(self) -> None:
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self.errors = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self.wake()
        self._thread.join(10)

    def wake(self) -> None:
        """Make a step happen now (a loop that waits on something else overrides it)."""

    def step(self) -> None:
        raise NotImplementedError

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True if the loop is stopping."""
        return self._stopping.wait(seconds)

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def _run(self) -> None:
        pause = 0.0
        while not self._stopping.is_set():
            try:
                self.step()
            except Exception as error:
                self.errors += 1
                if pause == 0.0:
                    logger.warning("{loop}: {error}; retrying", loop=self.name, error=error)
                pause = min(max(pause * 2, 0.05), MAX_PAUSE)
                self._stopping.wait(pause)
                continue
            if pause:
                logger.info("{loop}: working again", loop=self.name)
            pause = 0.0
            self._stopping.wait(self.interval)
