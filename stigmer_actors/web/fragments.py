"""Rendered HTML by (execution, version): each state is rendered once, whatever the number
of tabs showing it. At most ``MAX_ENTRIES`` entries and ``MAX_BYTES`` of HTML are kept,
least recently used dropped first."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

from stigmer_actors.messages.snapshot import Snapshot

MAX_ENTRIES = 256
MAX_BYTES = 16 * 1024 * 1024


class Fragments:
    def __init__(self, render: Callable[[Snapshot], str]) -> None:
        self._render = render
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[str, int, bool], str] = OrderedDict()
        self._bytes = 0
        self.rendered = 0
        """Renders done (the rest were served from the cache)."""

    def get(self, snapshot: Snapshot) -> str:
        key = (snapshot.execution_id, snapshot.version, snapshot.deleted)
        with self._lock:
            html = self._cache.get(key)
            if html is not None:
                self._cache.move_to_end(key)
                return html
        html = self._render(snapshot)  # outside the lock: two tabs may render the same once each
        with self._lock:
            self.rendered += 1
            if key not in self._cache:
                self._cache[key] = html
                self._bytes += len(html)
            while self._cache and (len(self._cache) > MAX_ENTRIES or self._bytes > MAX_BYTES):
                _, dropped = self._cache.popitem(last=False)
                self._bytes -= len(dropped)
        return html
