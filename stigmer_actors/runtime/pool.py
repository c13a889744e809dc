"""Pool: the shared, bounded set of threads that run actor turns.

A mailbox with work is ``submit``ted once (its state says it is scheduled, so it is never
queued twice); a worker takes it off the ready queue and runs one turn, a bounded number
of messages, then the mailbox either goes idle or is submitted again behind the others.
Workers start on demand, up to ``size``.

A turn that blocks (a handler waiting on a slow disk, a lost database, a stuck callee)
holds its worker. If every worker is busy and none has taken new work for
``stall_after`` seconds while work waits, the pool adds a worker, up to ``max_size``; extra
workers leave again after ``idle_exit`` seconds without work. So a handful of stuck turns
slows the rest down by at most ``stall_after`` instead of starving them, and the thread
count stays bounded whatever happens.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Protocol

from loguru import logger

DEFAULT_SIZE = 8
DEFAULT_MAX_SIZE = 32
STALL_AFTER = 0.25
IDLE_EXIT = 30.0


class Runnable(Protocol):
    def run_turn(self) -> None: ...


class Pool:
    """Threads running ``Runnable.run_turn`` for whatever is submitted, in FIFO order."""

    def __init__(
        self,
        size: int = DEFAULT_SIZE,
        max_size: int = DEFAULT_MAX_SIZE,
        name: str = "actor-pool",
        stall_after: float = STALL_AFTER,
    ) -> None:
        if not 1 <= size <= max_size:
            raise ValueError(f"need 1 <= size ({size}) <= max_size ({max_size})")
        self.size = size
        self.max_size = max_size
        self.name = name
        self.stall_after = stall_after
        self._ready: deque[Runnable] = deque()
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        """Idle workers wait on it."""
        self._backlog = threading.Condition(self._lock)
        """The stall monitor waits on it (a separate queue of waiters, so a ``notify`` meant
        for a worker never wakes the monitor instead)."""
        self._threads = 0
        self._idle = 0
        self._taken = 0  # turns taken off the queue, ever: the stall monitor's progress mark
        self._closed = False
        self.added_for_stalls = 0
        """Workers started beyond ``size`` because turns were stuck (for stats and tests)."""
        self._monitor: threading.Thread | None = None

    @property
    def threads(self) -> int:
        return self._threads

    def submit(self, item: Runnable) -> None:
        with self._cond:
            if not self._closed:
                self._enqueue(item)
                return
        # Late work for a closed pool (its owner is shutting down): run it here, so no
        # message is left unanswered (a stopped actor refuses it with ActorDeadError).
        item.run_turn()

    def _enqueue(self, item: Runnable) -> None:
        """Queue ``item`` and see that a worker will take it (lock held)."""
        self._ready.append(item)
        if self._idle:
            self._cond.notify()
            if len(self._ready) <= self._idle:
                return  # the idle workers cover the backlog
        if self._threads < self.size:
            self._spawn()
        elif self._monitor is None:
            self._monitor = threading.Thread(target=self._watch_stalls, daemon=True,
                                             name=f"{self.name}-stalls")
            self._monitor.start()
        else:
            self._backlog.notify()

    def close(self, timeout: float = 5.0) -> None:
        """Let the workers finish what is queued, then stop them (bounded by ``timeout``)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            self._closed = True
            self._cond.notify_all()
            self._backlog.notify_all()
            while self._threads and self._cond.wait(max(deadline - time.monotonic(), 0)):
                pass

    def _spawn(self) -> None:
        """Start a worker (caller holds the lock)."""
        self._threads += 1
        threading.Thread(target=self._work, daemon=True,
                         name=f"{self.name}-{self._threads}").start()

    def _work(self) -> None:
        cond = self._cond
        while True:
            with cond:
                while not self._ready:
                    if self._closed or (not self._wait_idle() and self._threads > self.size):
                        self._threads -= 1
                        cond.notify_all()  # close() waits for the count to reach 0
                        return
                item = self._ready.popleft()
                self._taken += 1
            try:
                item.run_turn()
            except BaseException:  # a turn never lets anything out; this is a bug guard
                logger.opt(exception=True).error("an actor turn raised; the worker carries on")
            del item  # an idle worker must not keep its last actor (and its state) alive

    def _wait_idle(self) -> bool:
        """Wait for work as an idle worker (lock held); False if an extra worker timed out."""
        self._idle += 1
        try:
            timeout = IDLE_EXIT if self._threads > self.size else None
            return self._cond.wait(timeout) or bool(self._ready)
        finally:
            self._idle -= 1

    def _watch_stalls(self) -> None:
        """Add a worker when work has waited ``stall_after`` with no worker taking any."""
        backlog = self._backlog
        with self._lock:
            while not self._closed:
                if len(self._ready) <= self._idle:
                    backlog.wait()
                    continue
                taken = self._taken
                deadline = time.monotonic() + self.stall_after
                while (remaining := deadline - time.monotonic()) > 0 and not self._closed:
                    backlog.wait(remaining)  # submits notify: keep waiting out the full span
                if (len(self._ready) > self._idle and self._taken == taken
                        and self._threads < self.max_size and not self._closed):
                    self.added_for_stalls += 1
                    logger.warning("{pool}: every worker busy for {s} s with work waiting; "
                                   "adding worker {n} of at most {max}", pool=self.name,
                                   s=self.stall_after, n=self._threads + 1, max=self.max_size)
                    self._spawn()
