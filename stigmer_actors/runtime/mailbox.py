"""Mailbox: an actor's queue of envelopes and whose turn it is.

A mailbox is IDLE (nothing queued, nobody running it), SCHEDULED (queued on the pool),
RUNNING (a pool worker or a caller is taking the actor's turn) or DEAD (the actor stopped:
what arrives is refused). One lock guards the queue and the state, so at most one thread
runs an actor's turn at a time and no message is queued unseen:

- ``put`` (tell, and ask when the actor is busy) appends; an IDLE mailbox becomes
  SCHEDULED and is submitted to the pool, once.
- ``call`` (ask) on an IDLE, empty mailbox runs the message at once in the caller's own
  thread (caller-runs): no other thread is woken. Whatever others queued meanwhile is
  drained in the same turn, up to ``CALLER_BUDGET`` messages; the rest goes to the pool.
- a turn hands the actor everything queued, in order, as one batch (``handle_batch``), so
  an actor can commit a burst of changes at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pykka import ActorDeadError
from pykka._envelope import Envelope

from stigmer_actors.runtime.future import Reply

if TYPE_CHECKING:
    from stigmer_actors.runtime.actor import PooledActor

IDLE, SCHEDULED, RUNNING, DEAD = "idle", "scheduled", "running", "dead"
POOL_BUDGET = 256
"""Messages one pool turn handles before the actor yields its worker to the others."""
CALLER_BUDGET = 64
"""Messages a caller's turn handles for others before handing the rest to the pool."""
BUSY = object()
"""``call``'s answer when the actor could not be run in the caller's thread."""


class Mailbox:
    __slots__ = ("actor", "_lock", "_queue", "state")

    def __init__(self, actor: PooledActor) -> None:
        self.actor = actor
        self._lock = threading.Lock()
        self._queue: list[Envelope[Any]] = []
        self.state = IDLE

    # pykka's inbox protocol (``ActorRef.tell`` / ``ask`` put envelopes here)

    def put(self, envelope: Envelope[Any]) -> None:
        if not self.offer(envelope):
            refuse(envelope, self.actor)

    def offer(self, envelope: Envelope[Any]) -> bool:
        """``put``, answering False (and keeping nothing) if the actor has stopped."""
        with self._lock:
            state = self.state
            if state is DEAD:
                return False
            self._queue.append(envelope)
            if state is IDLE:
                self.state = SCHEDULED
        if state is IDLE:
            self.actor.pool.submit(self)
        return True

    def get(self) -> Envelope[Any]:
        """The oldest queued envelope (IndexError if none): part of pykka's inbox protocol;
        turns take whole batches instead."""
        with self._lock:
            return self._queue.pop(0)

    def empty(self) -> bool:
        return not self._queue

    # Turns

    def call(self, message: Any) -> Any:
        """Run ``message`` now in this thread if the actor is idle: its reply, or BUSY."""
        with self._lock:
            if self.state is not IDLE or self._queue:
                return BUSY
            self.state = RUNNING
        reply: Reply[Any] = Reply()
        try:
            if not self.actor._started:
                self.actor._begin()
            self.actor._run_batch([Envelope(message, reply_to=reply)])
        finally:
            self._finish(CALLER_BUDGET)
        return reply.get()

    def take_leading(self, wanted: Callable[[Any], bool], limit: int) -> list[Envelope[Any]]:
        """For the actor, during its turn: the queued envelopes at the front whose message
        is ``wanted`` (at most ``limit``), taken off the queue in order; the rest stays."""
        with self._lock:
            queue = self._queue
            n = 0
            while n < len(queue) and n < limit and wanted(queue[n].message):
                n += 1
            taken, self._queue = queue[:n], queue[n:]
        return taken

    def run_now(self, envelope: Envelope[Any]) -> bool:
        """Handle a told message now in this thread if the actor is idle (True), for
        actors whose handlers are short and never block; else leave it to ``put``."""
        with self._lock:
            if self.state is not IDLE or self._queue:
                return False
            self.state = RUNNING
        try:
            if not self.actor._started:
                self.actor._begin()
            self.actor._run_batch([envelope])
        finally:
            self._finish(CALLER_BUDGET)
        return True

    def run_turn(self) -> None:
        """A pool worker's turn: drain up to POOL_BUDGET messages, in batches."""
        with self._lock:
            self.state = RUNNING
        self._finish(POOL_BUDGET)

    def schedule_start(self) -> None:
        """Owe the actor a first turn (for ``on_start``) even if no message comes."""
        with self._lock:
            if self.state is not IDLE:
                return
            self.state = SCHEDULED
        self.actor.pool.submit(self)

    def _finish(self, budget: int) -> None:
        """Drain queued batches within ``budget``, then go IDLE, or back on the pool."""
        actor = self.actor
        if not actor._started:
            actor._begin()
        while True:
            with self._lock:
                queue = self._queue
                if not queue or budget <= 0 or actor._stopped:
                    break
                batch, self._queue = queue[:budget], queue[budget:]
            budget -= len(batch)
            actor._run_batch(batch)
        with self._lock:
            if actor._stopped:
                self.state, leftover, self._queue = DEAD, self._queue, []
            elif self._queue:
                self.state, leftover = SCHEDULED, None
            else:
                self.state, leftover = IDLE, []
            idle = self.state is IDLE
        if leftover is None:
            actor.pool.submit(self)
            return
        for envelope in leftover:
            refuse(envelope, actor)
        if idle:
            actor._after_turn()

    def retire(self, still: Callable[[], bool] = lambda: True) -> bool:
        """Stop the actor now, in this thread, if it is idle with nothing queued and
        ``still()`` holds, asked once no other thread can run it (True if stopped).
        Messages that arrive meanwhile are refused with ActorDeadError, so their senders
        can go to a new actor."""
        with self._lock:
            if self.state is not IDLE or self._queue:
                return False
            self.state = RUNNING
        stopped = False
        try:
            if still():
                self.actor._stop()
                stopped = True
        finally:
            with self._lock:
                if stopped:
                    self.state, leftover, self._queue = DEAD, self._queue, []
                else:
                    self.state, leftover = (SCHEDULED if self._queue else IDLE), []
                resubmit = self.state is SCHEDULED
            for envelope in leftover:
                refuse(envelope, self.actor)
            if resubmit:
                self.actor.pool.submit(self)
        return stopped


def refuse(envelope: Envelope[Any], actor: PooledActor) -> None:
    """Answer a message that reached a stopped actor, as pykka does: ActorDeadError."""
    reply = envelope.reply_to
    if reply is None:
        return
    from pykka.messages import _ActorStop

    if isinstance(envelope.message, _ActorStop):
        reply.set(None)
    else:
        error = ActorDeadError(f"{actor} stopped before handling the message")
        reply.set_exception((ActorDeadError, error, None))
