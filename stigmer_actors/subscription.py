"""A subscription: the one-slot box an ExecutionActor feeds (``Watch``) and the iterator
its consumer holds (``Subscription``).

The shape of grpc's health servicer, which keeps one ``deque(maxlen=1)`` per watcher: the
writer puts the newest state in the watcher's slot and never waits; the watcher takes it
when it is ready. On top of that, flow control, so that a watcher that stops reading costs
the writer a flag per update, not a message:

- ``push`` (the ExecutionActor, in its turn): a snapshot goes into the slot only while the
  watcher holds nothing unread; otherwise the watch is marked *behind*, nothing is stored,
  and ``push`` answers False (the actor then stops offering it anything: it is parked).
- ``take`` (the consumer): hand out the unread snapshot; if the watch fell behind meanwhile,
  call ``catch_up`` (set by whoever wired the watch: it asks the actor for its newest state).

A slow consumer is thus coalesced to the newest state (skipped versions are counted in
``coalesced``). Final snapshots (terminal phase, deleted execution) are always taken and
never replaced: the subscription ends after them. Nothing here knows about actors.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

from stigmer_actors.messages.snapshot import Snapshot
from stigmer_actors.wire import Execution


class Watch:
    """One slot holding the newest unread snapshot, plus its flow control; thread-safe."""

    __slots__ = ("_cond", "_unread", "_holding", "_behind", "_last_offered", "_final_in",
                 "_closed", "catch_up", "count_coalesced", "last_taken", "coalesced")

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._unread: Snapshot | None = None
        self._holding = False  # a snapshot was pushed and the consumer has not taken it
        self._behind = False  # newer snapshots were refused since
        self._last_offered = 0
        self._final_in = False
        self._closed = False
        self.catch_up: Callable[[], object] = _nothing
        """Asks the ExecutionActor for its newest state (set when the watch is wired)."""
        self.count_coalesced: Callable[[int], None] | None = None
        """Fed the versions this consumer skips (a metrics counter), if set."""
        self.last_taken = 0
        """Version of the last snapshot the consumer took (its position, for lag)."""
        self.coalesced = 0
        """Versions the consumer never saw because it read slower than they were written."""

    def push(self, snapshot: Snapshot) -> bool:
        """Writer side: keep ``snapshot`` for the consumer if it has room; False if it is
        behind (marked, so it will ask for the newest once it has read)."""
        with self._cond:
            if self._closed or self._final_in:
                return True  # nothing more is wanted; not behind either
            if self._holding and not snapshot.final:
                self._behind = True
                return False
            self._holding = True
            if snapshot.deleted:
                self._final_in = True  # gone: end after whatever is still unread
            elif snapshot.version > self._last_offered:
                self._unread = snapshot
                self._last_offered = snapshot.version
                self._final_in = snapshot.terminal
            else:
                # Stale (a catch-up that crossed a newer push): nothing new to hold.
                self._holding = self._unread is not None
            self._cond.notify()
            return True

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
                self._closed = True
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

    @property
    def closed(self) -> bool:
        return self._closed


def _nothing() -> None:
    pass


class Subscription(Iterator[Execution]):
    """An open subscription: iterate it for execution messages, or take snapshots.

    Iteration yields the current state first, then each newer state, and stops after a
    terminal state or when the execution is deleted. ``get(timeout)`` raises TimeoutError
    when nothing new arrives in time. ``close()`` (or leaving a ``with`` block) ends it at
    any point and releases it at its execution; it is called automatically at the end.
    """

    def __init__(self, watch: Watch, release: Callable[[], object]) -> None:
        self._watch = watch
        self._release = release
        self._closed = False
        self._lock = threading.Lock()

    @property
    def coalesced(self) -> int:
        """How many intermediate states were skipped because this consumer lagged."""
        return self._watch.coalesced

    def next_snapshot(self, timeout: float | None = None) -> Snapshot:
        """The next snapshot (bytes as stored); StopIteration once the subscription ended."""
        snapshot = self._watch.take(timeout)
        if snapshot is None:
            self.close()
            raise StopIteration
        return snapshot

    def get(self, timeout: float | None = None) -> Execution:
        """The next state as a fresh message; StopIteration once the subscription ended."""
        return self.next_snapshot(timeout).message()

    def __next__(self) -> Execution:
        return self.get()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._watch.close()
        self._release()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
