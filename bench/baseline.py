"""The reference design, rebuilt small so the race harness can run it beside ours.

``../shared/API.md`` ("Known defects of the reference design") lists what the daemon this
contract comes from gets wrong. This module reproduces that design, not its symptoms:
nothing here is random, sleeps or drops on purpose. Each defect follows from a structural
choice, marked ``[defect N]`` in the code:

1. ``update_status`` runs in the caller's thread: load from the store, merge (the same
   ``apply_status`` and merge rules as our engine), persist, with no per-execution lock.
   The store is safe per operation only, as a database is. Two concurrent calls that load
   the same state each write their own merge on top of it; the later persist discards the
   earlier one's fields (lost update). The version each write gets is the loaded version
   + 1, so clobbered writes show up as repeated versions and a short final version.
   The caller then broadcasts its state itself, after persisting, so two racing callers
   can broadcast in the opposite order of their writes (out-of-order delivery).
2. ``subscribe`` loads the current state, queues it, and only then registers the queue:
   a broadcast landing between the two is never delivered.
3. Each subscriber has a 100-slot queue; a broadcast to a full queue is dropped
   (``put_nowait`` / ``queue.Full``), the terminal state included, so that reader hangs.
4. A subscription ends only on a terminal state received as an UPDATE; the first
   (current) state is never checked, so subscribing to a finished execution hangs.

Defect 5 (watchdog failures not broadcast) has no watchdog to live in here and is left out.
The storage is the same RocksDB store our engine uses, so the two differ in design only.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from pathlib import Path

from google.protobuf.message import Message

from stigmer_actors import AGENT
from stigmer_actors.domain import phases
from stigmer_actors.domain.errors import NotFound
from stigmer_actors.domain.ids import new_id
from stigmer_actors.domain.transitions import apply_status, created
from stigmer_actors.store.base import Write
from stigmer_actors.store.rocks import RocksStore

QUEUE_SLOTS = 100
"""The reference design's per-subscriber buffer."""

_CLOSED = object()
"""Put in a subscriber's queue by ``close()``, so a reader blocked forever can be let go."""


class BaselineSubscription:
    """One subscriber: a bounded queue of full states, read with ``get(timeout)``."""

    def __init__(self, first: Message, unregister: Callable[[BaselineSubscription], None]) -> None:
        self.queue: queue.Queue = queue.Queue(maxsize=QUEUE_SLOTS)
        self.queue.put_nowait(first)
        self.dropped = 0
        self._unregister = unregister
        self._first = True
        self._ended = False

    def offer(self, state: Message) -> None:
        """Called by the broadcasting writer. [defect 3] A full queue drops the state."""
        try:
            self.queue.put_nowait(state)
        except queue.Full:
            self.dropped += 1

    def get(self, timeout: float | None = None) -> Message:
        """The next state; StopIteration once ended; TimeoutError when none came in time."""
        if self._ended:
            raise StopIteration
        try:
            state = self.queue.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError("no state within the timeout") from None
        if state is _CLOSED:
            self._end()
            raise StopIteration
        first, self._first = self._first, False
        # [defect 4] the first (current) state is sent without a terminal check.
        if not first and phases.is_terminal(state.status.phase):
            self._end()
        return state

    def close(self) -> None:
        """Wake a reader blocked on an empty or full queue: empty it, then say closed."""
        while True:
            try:
                self.queue.get_nowait()
            except queue.Empty:
                pass
            try:
                self.queue.put_nowait(_CLOSED)
                return
            except queue.Full:
                continue

    def _end(self) -> None:
        self._ended = True
        self._unregister(self)


class Baseline:
    """The reference engine in process: ``create``, ``update_status``, ``subscribe``, ``get``."""

    def __init__(self, data_dir: str | Path) -> None:
        self.store = RocksStore(data_dir)  # safe per operation, like any database
        self._lock = threading.Lock()  # guards the subscriber registry only
        self._subscribers: dict[str, list[BaselineSubscription]] = {}

    def create(self, request: Message) -> Message:
        execution = created(AGENT, request, new_id(AGENT.id_prefix))
        self._persist(execution)
        return execution

    def get(self, execution_id: str) -> Message:
        record = self.store.load(execution_id)
        if record is None:
            raise NotFound(f"execution {execution_id} not found")
        return AGENT.message_cls.FromString(record[1])

    def update_status(self, execution_id: str, status: Message) -> Message:
        """[defect 1] load -> merge -> persist -> broadcast, unserialized, in the caller."""
        execution = self.get(execution_id)
        apply_status(AGENT, execution, status)
        self._persist(execution)
        self._broadcast(execution_id, execution)
        return execution

    def subscribe(self, execution_id: str) -> BaselineSubscription:
        """[defect 2] read the current state first, register for updates after."""
        current = self.get(execution_id)
        subscription = BaselineSubscription(current, lambda s: self._unregister(execution_id, s))
        with self._lock:
            self._subscribers.setdefault(execution_id, []).append(subscription)
        return subscription

    def close(self) -> None:
        """Let every reader still waiting go (StopIteration), then close the store."""
        with self._lock:
            waiting = [s for subs in self._subscribers.values() for s in subs]
            self._subscribers.clear()
        for subscription in waiting:
            subscription.close()
        self.store.close()

    def _persist(self, execution: Message) -> None:
        data = execution.SerializeToString()
        # Blind writes (expected is ignored by RocksStore): the reference design checked nothing.
        version = execution.status.version
        self.store.commit(Write(execution.metadata.id, AGENT, data, version,
                                execution.status.phase, expected=version, terms=None,
                                old_terms=None))

    def _broadcast(self, execution_id: str, execution: Message) -> None:
        """Every subscriber gets the state this caller wrote, whenever this caller gets here."""
        with self._lock:
            targets = list(self._subscribers.get(execution_id, ()))
        for subscription in targets:
            subscription.offer(execution)

    def _unregister(self, execution_id: str, subscription: BaselineSubscription) -> None:
        with self._lock:
            subs = self._subscribers.get(execution_id, [])
            if subscription in subs:
                subs.remove(subscription)
