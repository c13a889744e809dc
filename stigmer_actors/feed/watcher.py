"""FeedWatcher: one list-watch's box of unread changes, coalesced per execution.

The feed's dispatcher thread folds each batch of changes in (``offer``); the watch's
consumer (a gRPC stream thread, an SSE connection, your iterator) drains the whole box at
once (``take``). A consumer that reads slower than executions change does not make the box
grow per change: an execution changed 1,000 times since the last read is one entry, its
newest state (with the state the reader last knew, so the event type can be decided, and
a deletion is never lost: ``changes.Pending``).

Bounded per watcher: at most ``max_ids`` executions and ``max_bytes`` of state waiting.
Beyond either the box is emptied and marked *overflowed*: the consumer's next ``take``
raises ``WatchOverflow``, whose message tells the client to resume from its last token.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from stigmer_actors.domain.errors import Aborted
from stigmer_actors.feed.changes import Change, Pending
from stigmer_actors.messages.snapshot import Snapshot

MAX_PENDING_IDS = 10_000
"""Executions with unread changes one watcher may hold."""
MAX_PENDING_BYTES = 32 * 1024 * 1024
"""Bytes of state (new, previous and deleted states) one watcher's unread changes may hold."""


class WatchOverflow(Aborted):
    """The watcher fell further behind than its bounds allow (ABORTED: resume from the last token)."""


class FeedWatcher:
    def __init__(
        self,
        start: int,
        relevant: Callable[[Snapshot], bool] | None = None,
        max_ids: int | None = None,
        max_bytes: int | None = None,
    ) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._pending: dict[str, Pending] = {}
        self._bytes = 0
        self._overflow: str | None = None
        self._closed = False
        self.start = start
        """Changes with a sequence number above this one are for this watcher."""
        self.position = start
        """The newest sequence number offered (every change up to it is in the box, was
        taken, or was not relevant)."""
        self.relevant = relevant
        """A cheap test on a snapshot (kind, phase: no parsing), applied by the dispatcher;
        a change is kept if its before or after state passes."""
        self.max_ids = MAX_PENDING_IDS if max_ids is None else max_ids
        self.max_bytes = MAX_PENDING_BYTES if max_bytes is None else max_bytes

    # Writer side: the feed's dispatcher (or the registration, for a resumed watch)

    def offer_runs(self, runs: Iterable[Pending], upto: int) -> None:
        """Fold coalesced runs in (shared between watchers: read, never kept)."""
        with self._cond:
            if self._closed or self._overflow:
                return
            for run in runs:
                for before, after in run.as_changes():
                    self._fold(run.seq, before, after)
            self._settle(upto)

    def offer_changes(self, changes: Iterable[Change], upto: int) -> None:
        """Fold raw changes in (those at or below ``start`` are ignored)."""
        with self._cond:
            if self._closed or self._overflow:
                return
            for seq, before, after in changes:
                if seq > self.start:
                    self._fold(seq, before, after)
            self._settle(upto)

    def overflow(self, reason: str) -> None:
        with self._cond:
            self._overflow = reason
            self._pending.clear()
            self._bytes = 0
            self._cond.notify_all()

    def _fold(self, seq: int, before: Snapshot | None, after: Snapshot) -> None:
        relevant = self.relevant
        if relevant is not None and not relevant(after) and (before is None or not relevant(before)):
            return
        entry = self._pending.get(after.execution_id)
        if entry is None:
            entry = self._pending[after.execution_id] = Pending(seq, before, after)
            self._bytes += entry.cost()
        else:
            self._bytes -= entry.cost()
            entry.add(seq, after)
            self._bytes += entry.cost()

    def _settle(self, upto: int) -> None:
        if upto > self.position:
            self.position = upto
        if len(self._pending) > self.max_ids or self._bytes > self.max_bytes:
            self._overflow = (
                f"this watch fell too far behind (more than {self.max_ids:,} executions or "
                f"{self.max_bytes // (1024 * 1024)} MiB of state unread): resume from your last "
                "resume token"
            )
            self._pending.clear()
            self._bytes = 0
        if self._pending or self._overflow:
            self._cond.notify_all()

    # Consumer side

    def take(self, timeout: float | None) -> tuple[list[Pending], int] | None:
        """Everything unread, oldest change first, and the position it brings the reader to.

        ([], position) when nothing came within ``timeout``; None once closed. Raises
        WatchOverflow if the watcher overflowed.
        """
        with self._cond:
            self._cond.wait_for(lambda: self._pending or self._overflow or self._closed, timeout)
            if self._closed:
                return None
            if self._overflow:
                raise WatchOverflow(self._overflow)
            pending, self._pending, self._bytes = self._pending, {}, 0
            position = self.position
        return sorted(pending.values(), key=_seq), position

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._pending.clear()
            self._bytes = 0
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed


def _seq(entry: Pending) -> int:
    return entry.seq
