"""A shared/exclusive gate: many store calls at once, or one reopen or close alone.

The store reopens its database to recover from a write fault, and a call must never be
inside a database handle that is being closed (rocksdict then fails the call, or the close).
Every call passes the gate shared; a reopen or close takes it exclusive, which first stops
new callers and then waits for the ones inside to leave, so a steady stream of calls
cannot starve it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Gate:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._inside = 0
        self._exclusive = False

    def __enter__(self) -> None:
        with self._lock:
            while self._exclusive:
                self._changed.wait()
            self._inside += 1

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:
            self._inside -= 1
            if self._exclusive and self._inside == 0:
                self._changed.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Held alone: no shared holder is inside while the block runs."""
        with self._lock:
            while self._exclusive:
                self._changed.wait()
            self._exclusive = True
            while self._inside:
                self._changed.wait()
        try:
            yield
        finally:
            with self._lock:
                self._exclusive = False
                self._changed.notify_all()
