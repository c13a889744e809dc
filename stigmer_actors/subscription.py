"""A subscription: the SubscriberActor's mailbox (``NewestStateBox``) and the iterator
its consumer holds (``Subscription``).

``NewestStateBox`` holds at most one unread snapshot, and it is also the subscriber's flow
control, so that a consumer that stops reading costs the writer one flag per update, not
one message:

- ``admit`` (ExecutionActor): a snapshot may be sent only while the subscriber holds
  nothing unread. Otherwise the subscriber is marked *behind* and nothing is sent: no
  message, no wake, no growing mailbox.
- ``put`` (the ExecutionActor's ``tell``): keep the snapshot for the consumer.
- ``take`` (consumer): hand out the unread snapshot; if newer ones were held back meanwhile,
  ask the ExecutionActor (``catch_up``) to send the then-newest state.

So a slow consumer gets coalesced to the newest state; skipped versions are counted in
``coalesced``. Final snapshots (terminal phase, deleted execution) are always admitted and
never replaced: the subscription ends after them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from google.protobuf.message import Message

from stigmer_actors.messages import Closed, Snapshot

if TYPE_CHECKING:
    from stigmer_actors.actors.subscriber import SubscriberActor


class NewestStateBox:
    """One slot holding the newest unread snapshot, plus its flow control; thread-safe."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._unread: Snapshot | None = None
        self._holding = False  # a snapshot was admitted and the consumer has not taken it
        self._behind = False  # newer snapshots were held back since
        self._last_offered = 0
        self._final_in = False
        self._closed = False
        self.catch_up: Callable[[], None] = lambda: None
        """Set by whoever wires the subscription: asks the ExecutionActor for its newest state."""
        self.count_coalesced: Callable[[int], None] | None = None
        """Set to feed a metrics counter with the versions this consumer skips."""
        self.last_taken = 0
        """Version of the last snapshot the consumer took (its position, for lag)."""
        self.coalesced = 0
        """Versions the consumer never saw because it read slower than they were written."""

    def admit(self, snapshot: Snapshot) -> bool:
        """ExecutionActor side: True if ``snapshot`` is to be sent to the SubscriberActor now."""
        with self._cond:
            if self._closed:
                return False
            if snapshot.final or not self._holding:
                self._holding = True
                return True
            self._behind = True
            return False

    def put(self, envelope: Any) -> None:
        """pykka's ``tell`` into this mailbox: a snapshot is kept, ``Closed`` ends it."""
        message = envelope.message
        if isinstance(message, Snapshot):
            self.offer(message)
        elif isinstance(message, Closed):
            self.close()
        else:
            raise TypeError(f"a subscriber's mailbox takes snapshots, not {message!r}")

    def offer(self, snapshot: Snapshot) -> None:
        """Keep ``snapshot`` for the consumer unless a final one is already in."""
        with self._cond:
            if self._final_in or self._closed:
                return
            if snapshot.deleted:
                # The execution is gone: end after whatever state is still unread.
                self._final_in = True
            elif snapshot.version > self._last_offered:
                self._unread = snapshot
                self._last_offered = snapshot.version
                self._final_in = snapshot.terminal
            else:
                # Stale (a catch-up that crossed a newer send): nothing new to hold.
                self._holding = self._unread is not None
            self._cond.notify()

    def take(self, timeout: float | None = None) -> Snapshot | None:
        """Consumer side: the next snapshot; None when the subscription has ended.

        Raises TimeoutError if nothing arrives within ``timeout`` seconds.
        """
        with self._cond:
            ready = self._cond.wait_for(
                lambda: self._unread is not None or self._final_in or self._closed, timeout
            )
            if not ready:
                raise TimeoutError(f"no new state within {timeout} s")
            snapshot, self._unread = self._unread, None
            if snapshot is None:
                return None
            skipped = snapshot.version - self.last_taken - 1 if self.last_taken else 0
            self.coalesced += skipped
            self.last_taken = snapshot.version
            self._holding = False
            behind, self._behind = self._behind, False
        if skipped and self.count_coalesced is not None:
            self.count_coalesced(skipped)
        if behind:
            self.catch_up()
        return snapshot

    def close(self) -> None:
        """Wake a blocked ``take`` and make every later one return None."""
        with self._cond:
            self._closed = True
            self._unread = None
            self._cond.notify_all()


class Subscription(Iterator[Message]):
    """An open subscription: iterate it for execution messages, or take snapshots.

    Iteration yields the current state first, then each newer state, and stops after a
    terminal state or when the execution is deleted. ``get(timeout)`` raises TimeoutError
    when nothing new arrives in time. ``close()`` (or leaving a ``with`` block) ends it at
    any point and releases its actor; it is called automatically when the stream ends.
    """

    def __init__(self, subscriber: SubscriberActor, release: Callable[[], None]) -> None:
        self._subscriber = subscriber
        self._box = subscriber.actor_inbox
        self._release = release
        self._closed = False
        self._lock = threading.Lock()

    @property
    def coalesced(self) -> int:
        """How many intermediate states were skipped because this consumer lagged."""
        return self._box.coalesced

    def next_snapshot(self, timeout: float | None = None) -> Snapshot:
        """The next snapshot (bytes as stored); StopIteration once the subscription ended."""
        snapshot = self._subscriber.next_snapshot(timeout)
        if snapshot is None:
            self.close()
            raise StopIteration
        return snapshot

    def get(self, timeout: float | None = None) -> Message:
        """The next state as a fresh message; StopIteration once the subscription ended."""
        return self.next_snapshot(timeout).message()

    def __next__(self) -> Message:
        return self.get()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._subscriber.close()
        self._release()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
