"""Finds, spawns and retires ExecutionActors: at most one live actor per execution id.

Look-up is a dict read; a miss spawns under one lock, so two callers racing on a new id get
the same actor. An actor costs no thread (``runtime/``), only its memory: its cached state
(the last snapshot's bytes) and its watchers. So it is retired

- at once when it holds no execution and no watchers (a request for an id that does not
  exist leaves nothing behind), and
- after ``idle_timeout`` seconds without a message, with no watchers (the reaper thread);
  its state reloads from the store on the next message.

Retiring happens in the mailbox's own lock (``Mailbox.retire``): only an idle actor with
nothing queued is stopped, and a message that reaches it afterwards is refused with
ActorDeadError, which ``ask``/``send`` here answer by going to a fresh actor. So no message
is ever lost to a retirement, and every message is handled by an actor that read the store
after the previous actor's last write.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from loguru import logger
from pykka import ActorDeadError
from pykka._envelope import Envelope

from stigmer_actors.domain.errors import Unavailable

if TYPE_CHECKING:
    from stigmer_actors.actors.execution import ExecutionActor

RETRIES = 8
"""Times a message follows an id to a fresh actor after finding its actor retired."""


class ExecutionRegistry:
    """The id -> ExecutionActor map, with retirement of misses and idle actors."""

    def __init__(self, spawn: Callable[[str], ExecutionActor], idle_timeout: float) -> None:
        if idle_timeout <= 0:
            raise ValueError("idle_timeout must be positive")
        self._spawn = spawn
        self.idle_timeout = idle_timeout
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._actors: dict[str, ExecutionActor] = {}
        self._watchers = 0
        self._closed = False
        self.spawned = 0
        self.evicted = 0
        """Actors retired after their idle timeout."""
        self.retired_misses = 0
        """Actors retired at once because they held no execution."""
        self._stopping = threading.Event()
        self._reaper = threading.Thread(target=self._reap, name="execution-reaper", daemon=True)
        self._reaper.start()

    def ask(self, execution_id: str, command: Any) -> Any:
        """Send ``command`` to the id's actor (spawning it if needed) and wait for the reply."""
        for _ in range(RETRIES):
            actor = self._actors.get(execution_id) or self._enter(execution_id)
            try:
                return actor.actor_ref.ask(command)
            except ActorDeadError:
                self._discard(execution_id, actor)
        raise Unavailable(f"execution {execution_id}'s actor kept stopping; try again")

    def send(self, execution_id: str, command: Any) -> None:
        """Like ``ask`` without waiting for the reply (for senders that must never block)."""
        for _ in range(RETRIES):
            actor = self._actors.get(execution_id) or self._enter(execution_id)
            if actor.actor_inbox.offer(Envelope(command)):
                return
            self._discard(execution_id, actor)
        raise Unavailable(f"execution {execution_id}'s actor kept stopping; try again")

    def tell_if_live(self, execution_id: str, command: Any) -> bool:
        """Send without waiting, only if the actor is live (never spawns one for it);
        whether it was."""
        actor = self._actors.get(execution_id)
        if actor is None:
            return False
        actor.actor_inbox.offer(Envelope(command))
        return True

    def _enter(self, execution_id: str) -> ExecutionActor:
        with self._lock:
            if self._closed:
                raise Unavailable("the engine is closed")
            actor = self._actors.get(execution_id)
            if actor is None:
                actor = self._actors[execution_id] = self._spawn(execution_id)
                self.spawned += 1
                self._changed.notify_all()
            return actor

    def _discard(self, execution_id: str, actor: ExecutionActor) -> None:
        with self._lock:
            if self._closed:
                raise Unavailable("the engine is closed")
            if self._actors.get(execution_id) is actor:
                del self._actors[execution_id]
                self._changed.notify_all()

    # Retirement

    def retire_miss(self, actor: ExecutionActor) -> None:
        """Retire an actor that holds no execution and no watchers (called after its turn)."""
        if actor.actor_inbox.retire(actor.holds_nothing):
            self.retired_misses += 1
            self._discard_quietly(actor)

    def evict_idle(self) -> int:
        """Retire every actor idle for ``idle_timeout`` with no watchers; returns how many."""
        cutoff = time.monotonic() - self.idle_timeout
        candidates = [a for a in list(self._actors.values()) if a.idle_since(cutoff)]
        evicted = 0
        for actor in candidates:
            if actor.actor_inbox.retire(partial(actor.idle_since, cutoff)):
                evicted += 1
                self._discard_quietly(actor)
        if evicted:
            logger.debug("evicted {count} idle execution actors", count=evicted)
            with self._lock:
                self.evicted += evicted
        return evicted

    def _discard_quietly(self, actor: ExecutionActor) -> None:
        with self._lock:
            if self._actors.get(actor.execution_id) is actor:
                del self._actors[actor.execution_id]
                self._changed.notify_all()

    # Levels (for metrics, stats and tests)

    def watchers_changed(self, delta: int) -> None:
        """Called by an actor when its number of watchers changed by ``delta``."""
        with self._lock:
            self._watchers += delta
            self._changed.notify_all()

    def live(self) -> int:
        """How many execution actors are live now."""
        return len(self._actors)

    def is_live(self, execution_id: str) -> bool:
        return execution_id in self._actors

    def is_watched(self, execution_id: str) -> bool:
        """Whether the execution's actor is live and has subscribers (a hint: it may change
        right after)."""
        actor = self._actors.get(execution_id)
        return actor is not None and actor.watched

    def live_ids(self) -> list[str]:
        """The ids of the live execution actors now."""
        return list(self._actors)

    def subscribers(self) -> int:
        """Open subscriptions across all live executions."""
        return self._watchers

    def slowest_lag(self) -> int:
        """Versions the slowest subscriber of any live execution is behind."""
        return max((a.lag for a in list(self._actors.values())), default=0)

    def wait_subscribers_at_most(self, count: int, timeout: float) -> bool:
        """Block until at most ``count`` subscriptions are open (True) or ``timeout`` passes."""
        with self._changed:
            return self._changed.wait_for(lambda: self._watchers <= count, timeout)

    def wait_live_at_most(self, count: int, timeout: float) -> bool:
        """Block until at most ``count`` actors are live (True) or ``timeout`` passes (False)."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self._actors) <= count, timeout)

    def close(self) -> None:
        """Stop the reaper and every actor (their watchers end); later calls get UNAVAILABLE."""
        self._stopping.set()
        self._reaper.join()
        with self._lock:
            self._closed = True
            actors = list(self._actors.values())
            self._actors.clear()
        # Ask all to stop at once, then wait: n stops cost one stop's latency, not n.
        for future in [a.actor_ref.stop(block=False) for a in actors]:
            future.get()

    def _reap(self) -> None:
        interval = min(max(self.idle_timeout / 4, 0.01), 5.0)
        while not self._stopping.wait(interval):
            try:
                self.evict_idle()
            except Exception:  # one bad pass must not end eviction for good
                logger.opt(exception=True).error("idle eviction pass failed")
