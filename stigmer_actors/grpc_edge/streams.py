"""The bound on concurrent streams (subscribe, watchExecutions, claim), and the list of open
ones for shutdown.

A sync grpcio stream holds a pool thread for its whole life, so streams are capped below
the pool size: one over the cap is refused at once with RESOURCE_EXHAUSTED instead of
queueing behind the others, and the pool keeps threads free for unary calls.
"""

from __future__ import annotations

import threading
from typing import Protocol


class Closable(Protocol):
    """An open stream's server side: a subscription, a list-watch or a runner's claim."""

    def close(self) -> None: ...


class OpenStreams:
    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("max streams must be at least 1")
        self.limit = limit
        self._lock = threading.Condition(threading.Lock())
        self._reserved = 0
        self._open: set[Closable] = set()
        self._closing = False
        self.refused = 0
        """Streams refused because all slots were taken."""

    def reserve(self) -> bool:
        """Take a slot; False when all are taken or the server is shutting down."""
        with self._lock:
            if self._closing:
                return False
            if self._reserved >= self.limit:
                self.refused += 1
                return False
            self._reserved += 1
            return True

    def attach(self, stream: Closable) -> bool:
        """Track an opened stream; False (caller ends it) when shutting down."""
        with self._lock:
            if self._closing:
                return False
            self._open.add(stream)
            return True

    def release(self, stream: Closable | None) -> None:
        with self._lock:
            self._reserved -= 1
            if stream is not None:
                self._open.discard(stream)
            self._lock.notify_all()

    @property
    def count(self) -> int:
        with self._lock:
            return self._reserved

    def wait_count_at_most(self, count: int, timeout: float) -> bool:
        """Block until at most ``count`` streams hold a slot (True) or ``timeout`` passes."""
        with self._lock:
            return self._lock.wait_for(lambda: self._reserved <= count, timeout)

    def close_all(self) -> None:
        """End every open stream (each then finishes with OK) and refuse new ones."""
        with self._lock:
            self._closing = True
            open_streams = list(self._open)
        for stream in open_streams:
            stream.close()
