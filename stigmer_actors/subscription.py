"""What a subscriber's consumer holds: a one-slot box and the iterator around it.

``NewestStateBox`` is the hand-off between the SubscriberActor (producer) and whoever reads
the subscription (a gRPC stream thread or embedding code). It holds at most one unread
snapshot: a newer one replaces an unread older one (counted in ``coalesced``), so memory
per subscriber is bounded whatever the consumer's speed. Once a final snapshot (terminal
phase or deleted execution) is in, nothing replaces it and the subscription ends after it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

from google.protobuf.message import Message

from stigmer_actors.messages import Snapshot


class NewestStateBox:
    """One slot holding the newest unread snapshot; thread-safe."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._unread: Snapshot | None = None
        self._last_version = 0
        self._final_in = False
        self._closed = False
        self.coalesced = 0
        """Snapshots replaced before the consumer read them."""

    def offer(self, snapshot: Snapshot) -> None:
        """Producer side: keep ``snapshot`` unless a final one is already in."""
        with self._cond:
            if self._final_in or self._closed:
                return
            if snapshot.deleted:
                # The execution is gone: end after whatever state is still unread.
                self._final_in = True
            elif snapshot.version > self._last_version:
                if self._unread is not None:
                    self.coalesced += 1
                self._unread = snapshot
                self._last_version = snapshot.version
                self._final_in = snapshot.terminal
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

    def __init__(self, box: NewestStateBox, release: Callable[[], None]) -> None:
        self._box = box
        self._release = release
        self._closed = False
        self._lock = threading.Lock()

    @property
    def coalesced(self) -> int:
        """How many intermediate states were skipped because this consumer lagged."""
        return self._box.coalesced

    def next_snapshot(self, timeout: float | None = None) -> Snapshot:
        """The next snapshot (bytes as stored); StopIteration once the subscription ended."""
        snapshot = self._box.take(timeout)
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
        self._box.close()
        self._release()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
