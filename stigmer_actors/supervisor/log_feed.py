"""LogFeed: the one thread that writes every runner's output lines into the daemon's log.

Readers hand lines over through a bounded queue and never wait: when the log falls behind
(a slow stderr, a flood) a line that does not fit is dropped and the reader counts it. So a
child's output can neither block the daemon's threads on the log's lock nor grow its memory.
"""

from __future__ import annotations

import queue
import threading

from loguru import logger

CAPACITY = 1000
"""Lines waiting for the log at most (each at most ``output.MAX_LINE`` bytes: ~4 MB)."""


class LogFeed:
    def __init__(self, capacity: int = CAPACITY) -> None:
        self._queue: queue.Queue[tuple[str, str] | None] = queue.Queue(capacity)
        self._thread = threading.Thread(target=self._write, name="runner-logs", daemon=True)
        self._thread.start()

    def offer(self, runner: str, line: str) -> bool:
        """Queue ``line`` for the log as ``[runner NAME] line``; False (dropped) if full."""
        try:
            self._queue.put_nowait((runner, line))
            return True
        except queue.Full:
            return False

    def close(self, timeout: float = 2.0) -> None:
        """Write what is queued (for at most ``timeout`` s), then end the thread."""
        try:
            self._queue.put((None), timeout=timeout)
        except queue.Full:
            return  # the log is stuck; the thread is a daemon and goes with the process
        self._thread.join(timeout)

    def _write(self) -> None:
        while (item := self._queue.get()) is not None:
            runner, line = item
            try:
                # The line goes in as an argument, never as the template: braces stay text.
                # Positional, so it is not copied into the record's fields as well.
                logger.bind(runner=runner).info("[runner {}] {}", runner, line)
            except Exception:  # a sink that fails must not end the feed
                pass
