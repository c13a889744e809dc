"""WatchdogActor: fires when an execution's deadline passes, without polling anything.

Deadlines live in a heap in this actor. One ticker thread sleeps until the earliest one
and then tells the actor ``Tick``; the actor hands each due execution to ``expire``, which
sends an ``Expire`` to that execution's own actor. The execution actor decides: if an update
came in since (the heartbeat moved), it arms a later deadline instead; otherwise it fails
the execution through its normal persist-then-broadcast path, so the watchers see it.

Execution actors arm the watchdog only when their phase changes, not on every update, so
the hot path pays no extra wake for it.

Both loops are shared by every execution, so neither may die of one item: a message or a
due deadline whose handling raises is logged, counted (``errors``, and ``on_error``) and
dropped; an ``Arm`` whose time is not a finite number is refused the same way; and the
ticker sleeps at most ``MAX_SLEEP`` at a time, so no deadline is too far away to wait for.
"""

from __future__ import annotations

import heapq
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from loguru import logger
from pykka import ActorDeadError

from stigmer_actors.runtime import Pool, PooledActor


@dataclass(frozen=True, slots=True)
class Arm:
    """Watch ``execution_id`` until ``at`` (epoch seconds); replaces any earlier arm."""

    execution_id: str
    reason: str
    at: float


@dataclass(frozen=True, slots=True)
class Disarm:
    execution_id: str


@dataclass(frozen=True, slots=True)
class _Tick:
    pass


MAX_SLEEP = 3600.0
"""The ticker's longest single wait (``Condition.wait`` overflows past ~292 years)."""
_PAUSE_AFTER_ERROR = 1.0
"""The ticker's pause after an exception, so a fault that repeats cannot spin a core."""


class WatchdogActor(PooledActor):
    tells_run_inline = True  # each message is a few heap and dict operations

    def __init__(
        self, expire: Callable[[str, str], None], on_error: Callable[[], None] | None = None,
        pool: Pool | None = None,
    ) -> None:
        super().__init__()
        self.pool = pool or self.pool
        self._expire = expire
        self._on_error = on_error
        self.errors = 0
        """Items (messages, deadlines, ticks) dropped after an exception."""
        self._heap: list[tuple[float, str, str]] = []
        self._armed: dict[str, tuple[float, str]] = {}
        self._cond = threading.Condition()
        self._next: float | None = None
        self._stopping = False
        self.fired: dict[str, int] = {}
        """How many deadlines passed, by reason (for stats)."""
        self._ticker = threading.Thread(target=self._tick_loop, name="watchdog-ticker", daemon=True)

    def on_start(self) -> None:
        self._ticker.start()

    def on_stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if threading.current_thread() is not self._ticker:  # the ticker may run this turn
            self._ticker.join()

    def on_receive(self, message: Arm | Disarm | _Tick) -> None:
        try:
            self._handle(message)
        except Exception:
            self._dropped("message {item!r}", item=message)
        with self._cond:
            self._next = self._heap[0][0] if self._heap else None
            self._cond.notify_all()

    def _handle(self, message: Arm | Disarm | _Tick) -> None:
        if isinstance(message, Arm):
            if not (isinstance(message.at, (int, float)) and math.isfinite(message.at)):
                raise ValueError(f"deadline {message.at!r} is not a finite time")
            self._armed[message.execution_id] = (message.at, message.reason)
            heapq.heappush(self._heap, (message.at, message.execution_id, message.reason))
        elif isinstance(message, Disarm):
            self._armed.pop(message.execution_id, None)
        else:
            self._fire_due()
        self._drop_stale_head()

    def _fire_due(self) -> None:
        now = time.time()
        while self._heap and self._heap[0][0] <= now:
            at, execution_id, reason = heapq.heappop(self._heap)
            if self._armed.get(execution_id) != (at, reason):
                continue  # superseded by a later arm, or disarmed
            del self._armed[execution_id]
            self.fired[reason] = self.fired.get(reason, 0) + 1
            try:
                logger.bind(execution_id=execution_id).info("{reason} deadline passed", reason=reason)
                self._expire(execution_id, reason)
            except Exception:
                self._dropped("{reason} deadline of {execution_id}", reason=reason,
                              execution_id=execution_id)

    def _dropped(self, what: str, **fields: object) -> None:
        """Log and count an item whose handling raised; the loop goes on without it."""
        self.errors += 1
        logger.opt(exception=True).error("watchdog dropped " + what + " after an error", **fields)
        if self._on_error is not None:
            try:
                self._on_error()
            except Exception:
                logger.opt(exception=True).error("watchdog error counter failed")

    def _drop_stale_head(self) -> None:
        while self._heap and self._armed.get(self._heap[0][1]) != (self._heap[0][0], self._heap[0][2]):
            heapq.heappop(self._heap)

    def _tick_loop(self) -> None:
        while True:
            try:
                if not self._tick():
                    return
            except Exception:
                self._dropped("a tick")
                with self._cond:
                    self._cond.wait_for(lambda: self._stopping, _PAUSE_AFTER_ERROR)

    def _tick(self) -> bool:
        """Sleep until the earliest deadline, then tell the actor; False when stopping."""
        with self._cond:
            while not self._stopping:
                delay = None if self._next is None else self._next - time.time()
                if delay is not None and delay <= 0:
                    break
                self._cond.wait(None if delay is None else min(delay, MAX_SLEEP))
            if self._stopping:
                return False
            self._next = None  # the actor sets the next one after this tick
        try:
            self.actor_ref.tell(_Tick())
        except ActorDeadError:
            return False
        return True
