"""One timer thread for every run's timers (node timeouts, retry backoffs, inactivity ticks).

``threading.Timer`` is a thread per timer; a runner with many runs and retries would start
thousands. Here a heap ordered by due time and one thread that sleeps on a condition until
the earliest is due (or a new earlier one arrives). Callbacks run on that thread and must
be quick: the runner's only tell an actor.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable

from loguru import logger


class Timer:
    __slots__ = ("cancelled",)

    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Scheduler:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Timer, Callable[[], object]]] = []
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._loop, name="runner-timers", daemon=True)
        self._thread.start()

    def call_later(self, delay: float, callback: Callable[[], object]) -> Timer:
        timer = Timer()
        with self._cond:
            heapq.heappush(self._heap, (time.monotonic() + delay, next(self._order), timer, callback))
            self._cond.notify()
        return timer

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self._thread.join(5)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._stopped:
                    if self._heap and self._heap[0][0] <= time.monotonic():
                        break
                    wait = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cond.wait(wait)
                if self._stopped:
                    return
                _, _, timer, callback = heapq.heappop(self._heap)
            if not timer.cancelled:
                try:
                    callback()
                except Exception:  # a dead actor's timer; nothing to wake
                    logger.opt(exception=True).debug("timer callback failed")
