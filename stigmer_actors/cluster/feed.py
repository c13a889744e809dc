"""Changes committed on other nodes, delivered to this node's watchers and dispatcher.

``Notifier``: after each commit the store pokes it; it sends at most one NOTIFY per
``BATCH`` seconds (a NOTIFY inside every transaction takes a global lock and cut commits/s
2-3x in measurements here), on a pooled connection, outside any write.

``Feed``: one connection of its own LISTENs. Woken by a notification (or every ``POLL``
seconds, in case one was missed), it reads the rows of ``changes`` written by transactions
that have finished since its last read (``Coordination.finished_changes``: gap-free even
when transactions commit out of ``seq`` order), skips its own node's, and tells each live
execution actor ``Refresh(version)`` (one with watchers reloads if behind and feeds them;
one without only drops its cached state) and the dispatcher the phase. When its
connection breaks it reconnects with a growing pause and goes on from the same point (the
rows are kept ``RETENTION`` seconds); after a reconnect every watched actor also reloads,
in case the outage outlasted the retention.

List-watches on this node hear other nodes' changes too: a live actor publishes what its
``Refresh`` brought to the node's ``ChangeFeed``; for the rest, while that feed is
recording, ``Feed`` reads their states with the news and publishes the newest of each
itself (the state before it: the last one it published, from a bounded memory; unknown
states count as not matching before, so a reader may miss that such an execution left its
filter, never a change that matches).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import psycopg
from pykka import ActorRef

from stigmer_actors.actors.dispatch import GONE, DispatchActor, PhaseChanged
from stigmer_actors.actors.registry import ExecutionRegistry
from stigmer_actors.cluster.loop import Loop
from stigmer_actors.domain.kinds import BY_TAG
from stigmer_actors.feed import ChangeFeed
from stigmer_actors.messages import Refresh
from stigmer_actors.messages.snapshot import Snapshot
from stigmer_actors.store.postgres.coordination import Change, Coordination

BATCH = 0.001
POLL = 0.5
READ_LIMIT = 5000
RETENTION = 600.0
"""Seconds a change stays in ``changes``; every node trims older rows now and then."""
TRIM_EVERY = 60.0
REMEMBERED = 10_000
"""States of executions not live here kept to publish the next change's ``before``."""


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
                 dispatcher: ActorRef[DispatchActor], node: str, changes: ChangeFeed | None = None) -> None:
        super().__init__()
        self._coordination = coordination
        self._changes = changes
        self._remembered: OrderedDict[str, Snapshot] = OrderedDict()
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
            # so no actor needs a round trip of its own to reload (every one's, while a
            # list-watch here wants them all). A live actor nobody watches only forgets its
            # cached state: reading it for every change made elsewhere doubled a node's work.
            listing = self._changes is not None and self._changes.recording
            wanted = {c.execution_id for c in remote
                      if listing or self._registry.is_watched(c.execution_id)}
            states = self._coordination.states(sorted(wanted)) if wanted else {}
            unpublished: dict[str, Change] = {}
            for change in remote:
                if not self._deliver(change, states.get(change.execution_id)) and listing:
                    unpublished.pop(change.execution_id, None)
                    unpublished[change.execution_id] = change  # its newest, in newest order
            for change in unpublished.values():
                self._publish(change, states.get(change.execution_id))
            if rows:
                self._after = (rows[-1][0], rows[-1][1].seq)
            if len(rows) < READ_LIMIT:
                self._after = max(self._after, (horizon, 0))
                break
        self._trim()

    def _deliver(self, change: Change, state: tuple[str, bytes] | None) -> bool:
        """Tell the live actor (if any: whether there was one) and the dispatcher."""
        live = self._registry.tell_if_live(change.execution_id, Refresh(change.version, state))
        phase = change.phase if change.version else GONE
        self._dispatcher.tell(PhaseChanged(change.execution_id, BY_TAG[change.kind], phase,
                                           change.workflow_id))
        self.delivered += 1
        return live

    def _publish(self, change: Change, state: tuple[str, bytes] | None) -> None:
        """Put the newest known state of an execution not live here on the change feed."""
        assert self._changes is not None
        execution_id = change.execution_id
        before = self._remembered.pop(execution_id, None)
        if state is not None:
            kind = BY_TAG[state[0]]
            status = kind.message_cls.FromString(state[1]).status
            after = Snapshot(kind, execution_id, status.version, status.phase, state[1])
            if before is not None and after.version <= before.version:
                self._remembered[execution_id] = before
                return  # published already (a later change read with an earlier one)
            self._remembered[execution_id] = after
            if len(self._remembered) > REMEMBERED:
                self._remembered.popitem(last=False)
        elif before is not None:
            after = Snapshot(before.kind, execution_id, before.version, before.phase,
                             before.data, deleted=True)
        else:
            kind = BY_TAG[change.kind]
            after = Snapshot(kind, execution_id, change.version, change.phase, b"", deleted=True)
        self._changes.publish(before, (after,))

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
