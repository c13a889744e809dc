"""ListWatch: the executions matching a filter, then every change to them, as events.

Without a resume token: register in the feed first (noting its position), list the
matching executions from the store (each an ADDED event), then send the feed's changes
after that position, skipping the versions the list already had. A change written while
the list was read is in the feed after the noted position (it is published after it is
stored) and either in the list or not: so nothing falls between the two, and nothing is
sent twice. With a token (``since``): the ring's changes after it, then the rest.

Events follow Kubernetes' watch:

- ADDED: an execution now matches that did not (created, or it moved into the filter);
- MODIFIED: it matched and still does;
- DELETED: it was deleted, or it no longer matches (``left_filter``: e.g. its phase moved
  out of a phase filter), so a client keeping a set can drop it either way;
- BOOKMARK: nothing new for the reader, only a fresh resume token: sent when the initial
  list is complete (``initial_list_done``), and after ``BOOKMARK_SECONDS`` of quiet when
  changes the filter excludes moved the position on (so an idle reader's token stays in
  the ring).

Event types are judged from the state before and after the change (``Pending``), so a
reader that fell behind and gets one coalesced event per execution still gets the right
one. Each event carries the resume token of its change; resuming from it loses and
repeats nothing. The list's ADDED events, and changes seen before the list was complete,
carry no token (resuming from one could repeat a version the list had): the BOOKMARK that
ends the initial list carries the first.

Memory: the watcher's box (``watcher.py``) plus, for a watch that listed, the id and
version of each listed execution (~100 bytes each) until a newer change to it arrives.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from stigmer_actors.feed.changes import Pending
from stigmer_actors.feed.filter import ExecutionFilter
from stigmer_actors.messages.snapshot import Snapshot
from stigmer_actors.wire import Execution

if TYPE_CHECKING:
    from stigmer_actors.feed import ChangeFeed

ADDED, MODIFIED, DELETED, BOOKMARK = "ADDED", "MODIFIED", "DELETED", "BOOKMARK"
BOOKMARK_SECONDS = 5.0
"""Quiet time after which a reader whose position moved gets a BOOKMARK."""
SYNC_POLL = 0.01
"""Seconds between checks, after the initial list, that the feed reached the list's end."""


@dataclass(frozen=True, slots=True)
class Event:
    type: str
    snapshot: Snapshot | None
    """The execution's state (for DELETED: the state it had); None for a BOOKMARK."""
    token: str
    """Resume from here: every change up to this event has been told (empty: see above)."""
    left_filter: bool = False
    """DELETED because the execution no longer matches (it still exists)."""
    initial: bool = False
    """Part of the initial list."""
    initial_list_done: bool = False
    message: Execution | None = None
    """The parsed execution, when the filter needed it (saves a second parse)."""


Lister = Callable[[ExecutionFilter], Iterator[Snapshot]]


class ListWatch(Iterator[Event]):
    """Iterate for events; ``close()`` (from any thread) ends the iteration."""

    def __init__(self, feed: ChangeFeed, query: ExecutionFilter, since: str, lister: Lister,
                 bookmark_seconds: float = BOOKMARK_SECONDS, heartbeat: bool = False) -> None:
        self._feed = feed
        self._filter = query
        self._watcher = feed.register(since, query.may_match)
        self._bookmark_seconds = bookmark_seconds
        self._heartbeat = heartbeat
        """Send a BOOKMARK after every ``bookmark_seconds`` of quiet, even with no news (a
        reader that must write now and then to notice a peer that has gone)."""
        self._closed = threading.Event()
        self._events = self._run(lister if not since else None)

    def __next__(self) -> Event:
        return next(self._events)

    def close(self) -> None:
        if not self._closed.is_set():
            self._closed.set()
            self._feed.unregister(self._watcher)

    def __enter__(self) -> ListWatch:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _run(self, lister: Lister | None) -> Iterator[Event]:
        try:
            listed: dict[str, int] = {}
            synced_at = 0
            if lister is not None:
                for snapshot in lister(self._filter):
                    if self._closed.is_set():
                        return
                    listed[snapshot.execution_id] = snapshot.version
                    yield Event(ADDED, snapshot, "", initial=True)
                synced_at = self._feed.position  # every change up to here may be in the list
            synced = lister is None
            told, told_at = 0, time.monotonic()
            while not self._closed.is_set():
                # Until the list is complete, poll briefly: the dispatcher reaches the
                # position noted after the list within a pass, with or without new changes.
                taken = self._watcher.take(self._bookmark_seconds if synced else SYNC_POLL)
                if taken is None:
                    return
                entries, position = taken
                sent = False
                for entry in entries:
                    for event in self._events_of(entry, listed, synced):
                        sent = True
                        yield event
                if not synced and position >= synced_at:
                    synced, told, told_at = True, position, time.monotonic()
                    yield Event(BOOKMARK, None, self._feed.token(position), initial_list_done=True)
                elif sent:
                    told, told_at = entries[-1].seq, time.monotonic()
                elif (synced and (position > told or self._heartbeat)
                      and time.monotonic() - told_at >= self._bookmark_seconds):
                    told, told_at = position, time.monotonic()
                    yield Event(BOOKMARK, None, self._feed.token(position))
        finally:
            self.close()

    def _events_of(self, entry: Pending, listed: dict[str, int], synced: bool) -> Iterator[Event]:
        token = self._feed.token(entry.seq) if synced else ""
        after = entry.after
        known = listed.get(after.execution_id)
        if known is not None:
            if not after.deleted and entry.gone is None and after.version <= known:
                return  # the list had this version already
            del listed[after.execution_id]
        before = entry.before
        was = known is not None or (before is not None and self._matches(before)[0])
        if entry.gone is not None:
            if was:
                yield Event(DELETED, entry.gone, token)
            was = False
        if after.deleted:
            if was:
                yield Event(DELETED, after, token)
            return
        now, message = self._matches(after)
        if now:
            yield Event(MODIFIED if was else ADDED, after, token, message=message)
        elif was:
            yield Event(DELETED, after, token, left_filter=True, message=message)

    def _matches(self, snapshot: Snapshot) -> tuple[bool, Execution | None]:
        query = self._filter
        if not query.may_match(snapshot):
            return False, None
        message = snapshot.message() if query.needs_message else None
        return query.matches(snapshot, message), message
