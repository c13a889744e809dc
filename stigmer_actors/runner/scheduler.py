"""One timer thread for every run's timers (node timeouts, retry backoffs, inactivity ticks).

``threading.Timer`` is a thread per timer; a runner with many runs and retries would start
thousands. Here a heap ordered by due time and one thread that sleeps on a condition until
the earliest is due (or a new earlier one arrives). Callbacks run on that thread and must
be quick: the runner's only tell an actor.

Every run shares this thread, so no single timer may end it: a delay is clamped to
``MAX_DELAY`` when it is scheduled (a larger one, e.g. ``99999999999h``, made
``Condition.wait`` raise OverflowError and killed the thread, and with it every later
timeout), and whatever one timer raises, in its callback or while waiting for it, is
logged, counted in ``failures`` and that timer dropped; the thread goes on.
"""

from __future__ import annotations

import heapq
import itertools
import math
import threading
import time
from collections.abc import Callable

from loguru import logger

MAX_DELAY = 30 * 86400.0
"""Seconds; the definitions' durations stay far below it (``limits``: 24 h at most)."""


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
        self.failures = 0
        """Timers dropped because they raised (their callback, or waiting for them)."""
        self._thread = threading.Thread(target=self._loop, name="runner-timers", daemon=True)
        self._thread.start()

    def call_later(self, delay: float, callback: Callable[[], object]) -> Timer:
        """Call ``callback`` on the timer thread after ``delay`` seconds, clamped to
        [0, MAX_DELAY]; ValueError for a delay that is not a number (NaN)."""
        if math.isnan(delay):
            raise ValueError("a timer's delay is NaN")
        timer = Timer()
        due = time.monotonic() + min(max(delay, 0.0), MAX_DELAY)
        with self._cond:
            heapq.heappush(self._heap, (due, next(self._order), timer, callback))
            self._cond.notify()
        return timer

    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self._thread.join(5)

    def _loop(self) -> None:
        while True:
            with self._cond:
                try:
                    due = self._wait_for_due()
                except Exception:  # the earliest timer cannot be waited for
                    if not self._heap:
                        raise  # not about a timer: nothing to drop (cannot happen: wait(None))
                    self._failed("waiting for it", heapq.heappop(self._heap)[3])
                    continue
                if due is None:
                    return
            timer, callback = due
            if not timer.cancelled:
                try:
                    callback()
                except Exception:  # one timer must not end every run's timers
                    self._failed("in its callback", callback)

    def _wait_for_due(self) -> tuple[Timer, Callable[[], object]] | None:
        """The earliest timer once it is due (popped), or None when stopped. Holds the lock."""
        while not self._stopped:
            if self._heap and self._heap[0][0] <= time.monotonic():
                _, _, timer, callback = heapq.heappop(self._heap)
                return timer, callback
            self._cond.wait(self._heap[0][0] - time.monotonic() if self._heap else None)
        return None

    def _failed(self, where: str, callback: Callable[[], object]) -> None:
        self.failures += 1
        logger.opt(exception=True).error("runner timer failed {where} and was dropped ({count} so far): {callback}",
                                         where=where, count=self.failures, callback=callback)
