"""The change feed: every accepted change to any execution, in order, for list-watches.

``ChangeFeed`` is what the rest of the engine sees: writers ``publish`` (the ExecutionActor,
once per group commit and once per delete, after the store write and the fan-out), and
``ListWatch`` registers watchers and turns their changes into events. ``MemoryFeed`` is the
embedded implementation (a bounded ring in this process); a cluster node publishes changes made on
other nodes into it too (``cluster/feed.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from stigmer_actors.feed.filter import ExecutionFilter
from stigmer_actors.feed.list_watch import ADDED, BOOKMARK, DELETED, MODIFIED, Event, ListWatch
from stigmer_actors.feed.memory import MemoryFeed
from stigmer_actors.feed.watcher import FeedWatcher, WatchOverflow
from stigmer_actors.messages.snapshot import Snapshot


class ChangeFeed(Protocol):
    @property
    def position(self) -> int:
        """The sequence number of the newest change published."""

    @property
    def recording(self) -> bool:
        """Whether changes are kept now (a list-watch is open, or was a moment ago): a
        publisher that must work to make a change (a cluster node reading another node's
        write) may skip it when not."""

    def publish(self, before: Snapshot | None, changes: Sequence[Snapshot]) -> None:
        """Record changes to one execution, in order (``before``: the state before the first)."""

    def register(self, since: str = "", relevant: Callable[[Snapshot], bool] | None = None) -> FeedWatcher:
        """A watcher of every change after now, or after the resume token ``since``."""

    def unregister(self, watcher: FeedWatcher) -> None: ...

    def token(self, seq: int) -> str: ...

    def mark(self) -> str:
        """A token for now, resumable for a while even with no watcher yet."""

    def close(self) -> None: ...


__all__ = [
    "ADDED", "BOOKMARK", "DELETED", "MODIFIED", "ChangeFeed", "Event", "ExecutionFilter",
    "FeedWatcher", "ListWatch", "MemoryFeed", "WatchOverflow",
]
