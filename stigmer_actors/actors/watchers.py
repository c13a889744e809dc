"""Watchers: an ExecutionActor's subscriptions, fed or parked.

Fed watches are offered every new snapshot. A watch whose consumer has not taken the last
one refuses the next (``Watch.push`` answers False) and is *parked*: skipped, at no cost per
update, until its consumer catches up and asks (``catch_up``) for the newest state. Final
snapshots (terminal, deleted) go to every watch, parked or not, and end them all.

Owned by one actor and used only in its turns, so nothing here locks.
"""

from __future__ import annotations

from stigmer_actors.messages.snapshot import Snapshot
from stigmer_actors.subscription import Watch


class Watchers:
    __slots__ = ("_fed", "_parked", "_parked_floor")

    def __init__(self) -> None:
        self._fed: dict[Watch, None] = {}
        self._parked: dict[Watch, None] = {}
        self._parked_floor = 0  # the lowest version a parked watch's consumer has taken

    def __len__(self) -> int:
        return len(self._fed) + len(self._parked)

    def add(self, watch: Watch, current: Snapshot) -> None:
        """Send ``current`` to a new watch and, unless it is final, keep feeding it."""
        watch.push(current)
        if not current.final:
            self._fed[watch] = None

    def remove(self, watch: Watch) -> None:
        self._fed.pop(watch, None)
        self._unpark(watch)

    def offer(self, snapshot: Snapshot) -> None:
        """Offer ``snapshot`` to every fed watch (to all, and end them, if it is final)."""
        if snapshot.final:
            for watch in [*self._fed, *self._parked]:
                watch.push(snapshot)
            self._fed.clear()
            self._parked.clear()
            return
        refused = [watch for watch in self._fed if not watch.push(snapshot)]
        for watch in refused:
            del self._fed[watch]
            if watch.closed:
                continue
            if not self._parked or watch.last_taken < self._parked_floor:
                self._parked_floor = watch.last_taken
            self._parked[watch] = None

    def catch_up(self, watch: Watch, newest: Snapshot | None) -> None:
        """A parked watch's consumer read its snapshot: feed it again, starting with the
        newest state (or, with none at hand, with the next change)."""
        if not self._unpark(watch) or watch.closed:
            return
        self._fed[watch] = None
        if newest is not None:
            watch.push(newest)

    def close(self) -> None:
        """End every subscription now (the engine is shutting down)."""
        for watch in [*self._fed, *self._parked]:
            watch.close()
        self._fed.clear()
        self._parked.clear()

    def lag(self, version: int) -> int:
        """Versions the slowest watch is behind ``version`` (parked ones only: fed ones
        hold at most the newest)."""
        return version - self._parked_floor if self._parked else 0

    def _unpark(self, watch: Watch) -> bool:
        if self._parked.pop(watch, False) is False:
            return False
        if self._parked:
            self._parked_floor = min(w.last_taken for w in self._parked)
        return True
