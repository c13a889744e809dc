"""Changes committed on other nodes, delivered to this node's watchers and dispatcher.

``Notifier``: after each commit the store pokes it; it sends at most one NOTIFY per
``BATCH`` seconds (a NOTIFY inside every transaction takes a global lock and cut commits/s
2-3x in measurements here), on a pooled connection, outside any write.

``Feed``: one connection of its own LISTENs. Woken by a notification (or every ``POLL``
seconds, in case one was missed), it reads the rows of ``changes`` written by transactions
that have finished since its last read (``Coordination.finished_changes``: gap-free even
when transactions commit out of ``seq`` order), skips its own node's, and tells each live
execution actor ``Refresh(version)`` (it reloads if behind and feeds its watchers) and the
dispatcher the phase. When its connection breaks it reconnects with a growing pause and
goes on from the same point (the rows are kept ``RETENTION`` seconds); after a reconnect
every watched actor also reloads, in case the outage outlasted the retention.
"""

from __future__ import annotations

import threading

import psycopg
from pykka import ActorRef

from stigmer_actors.actors.dispatch import GONE, PhaseChanged
from stigmer_actors.actors.registry import ExecutionRegistry
from stigmer_actors.cluster.loop import Loop
from stigmer_actors.domain.kinds import BY_TAG
from stigmer_actors.messages import Refresh
from stigmer_actors.store.postgres.coordination import Change, Coordination

BATCH = 0.001
POLL = 0.5
READ_LIMIT = 5000
RETENTION = 600.0
"""Seconds a change stays in ``changes``; every node trims older rows now and then."""
TRIM_EVERY = 60.0


class Notifier(Loop):
    name = "cluster-notifier"
    interval = 0.0

    def __init__(self, coordination: Coordination) -> None:
        super().__init__()
        self._coordination = coordination
        self._poked = threading.Event()
        self.sent = 0

    def poke(self) -> None:
        """A commit happened (called on every commit: one flag, no I/O)."""
        self._poked.set()

    def wake(self) -> None:
        self._poked.set()

    def step(self) -> None:
        self._poked.wait()
        if self.stopping:
            return
        self._poked.clear()
        self._coordination.notify()
        self.sent += 1
        self.wait(BATCH)  # pokes meanwhile make the next NOTIFY: at most one per BATCH


class Feed(Loop):
    name = "cluster-feed"
    interval = 0.0

    def __init__(self, coordination: Coordination, registry: ExecutionRegistry,
                 dispatcher: ActorRef, node: str) -> None:
        super().__init__()
        self._coordination = coordination
        self._registry = registry
        self._dispatcher = dispatcher
        self._node = node
        self._conn: psycopg.Connection | None = None
        self._after = (coordination.horizon(), 0)
        self._trimmed = 0.0
        self.delivered = 0
        self.reconnects = 0

    def stop(self) -> None:
        super().stop()
        if self._conn is not None:
            self._conn.close()

    def step(self) -> None:
        try:
            if self._conn is None:
                self._conn = self._coordination.listener()
                if self.reconnects or self.errors:
                    self._refresh_watched()
                self.reconnects += 1
            for _ in self._conn.notifies(timeout=POLL, stop_after=1):
                pass
            self._read()
        except psycopg.Error:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            raise

    def _read(self) -> None:
        while not self.stopping:
            horizon, rows = self._coordination.finished_changes(self._after, READ_LIMIT)
            remote = [change for _, change in rows if change.origin != self._node]
            # The watched executions' states come with the news, one query for all of them,
            # so no actor needs a round trip of its own to reload.
            watched = [c.execution_id for c in remote if self._registry.is_live(c.execution_id)]
            states = self._coordination.states(sorted(set(watched))) if watched else {}
            for change in remote:
                self._deliver(change, states.get(change.execution_id))
            if rows:
                self._after = (rows[-1][0], rows[-1][1].seq)
            if len(rows) < READ_LIMIT:
                self._after = max(self._after, (horizon, 0))
                break
        self._trim()

    def _deliver(self, change: Change, state: tuple[str, bytes] | None) -> None:
        self._registry.tell_if_live(change.execution_id, Refresh(change.version, state))
        phase = change.phase if change.version else GONE
        self._dispatcher.tell(PhaseChanged(change.execution_id, BY_TAG[change.kind], phase,
                                           change.workflow_id))
        self.delivered += 1

    def _refresh_watched(self) -> None:
        """After an outage: every live actor reloads (changes may have been trimmed)."""
        for execution_id in self._registry.live_ids():
            self._registry.tell_if_live(execution_id, Refresh(None))

    def _trim(self) -> None:
        import time

        now = time.monotonic()
        if now - self._trimmed >= TRIM_EVERY:
            self._trimmed = now
            self._coordination.forget_changes_older_than(RETENTION)
