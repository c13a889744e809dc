"""What the feed carries: one accepted change, and a run of changes to one execution
coalesced into what a watcher still needs to hear.

A change is a plain tuple ``(seq, before, after)`` (cheapest to make on the writer's
path): ``after`` is the new snapshot (``deleted`` set for a deletion, holding the state the
execution had), ``before`` the snapshot it replaced (None for a create).
"""

from __future__ import annotations

from collections.abc import Iterable

from stigmer_actors.messages.snapshot import Snapshot

Change = tuple[int, "Snapshot | None", Snapshot]


class Pending:
    """The changes to one execution a watcher has not read yet, coalesced.

    ``before`` is the state before the oldest of them (what the reader last knew), ``after``
    the newest. A deletion is never coalesced away: when an execution is deleted and then
    created again (same id) before the reader reads, ``gone`` keeps the deletion, so the
    reader hears DELETED before the new ADDED.
    """

    __slots__ = ("seq", "before", "after", "gone")

    def __init__(self, seq: int, before: Snapshot | None, after: Snapshot,
                 gone: Snapshot | None = None) -> None:
        self.seq = seq
        """The newest change's sequence number."""
        self.before = before
        self.after = after
        self.gone = gone

    def add(self, seq: int, after: Snapshot) -> None:
        """Fold a newer change to the same execution in."""
        if self.after.deleted and not after.deleted and self.gone is None:
            self.gone = self.after
        self.seq = seq
        self.after = after

    def cost(self) -> int:
        """Bytes of state this entry keeps alive (what a watcher's byte bound counts)."""
        total = len(self.after.data)
        if self.before is not None:
            total += len(self.before.data)
        if self.gone is not None:
            total += len(self.gone.data)
        return total

    def as_changes(self) -> Iterable[tuple[Snapshot | None, Snapshot]]:
        """The run as at most two changes, (before, after) pairs, for folding into another box."""
        if self.gone is not None:
            yield self.before, self.gone
            yield None, self.after
        else:
            yield self.before, self.after


def coalesce(changes: Iterable[Change]) -> dict[str, Pending]:
    """Changes in sequence order -> one Pending per execution (insertion order: first seen)."""
    runs: dict[str, Pending] = {}
    for seq, before, after in changes:
        run = runs.get(after.execution_id)
        if run is None:
            runs[after.execution_id] = Pending(seq, before, after)
        else:
            run.add(seq, after)
    return runs
