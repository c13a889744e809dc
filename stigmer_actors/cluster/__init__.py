"""Cluster mode: what a node does beside its own actors when its store is shared.

Several daemons on one PostgreSQL each keep actors for the executions they serve; the
store's compare-and-set keeps their writes consistent (``store/base.py``). This package
makes the rest cluster-wide, with loops that read and write the shared database:

- ``feed``: changes committed on other nodes reach this node's watchers, list-watches and
  dispatcher (a batched NOTIFY wakes every node; each reads the finished changes,
  gap-free);
- ``timers``: an execution's deadline is kept in its row; every node polls for due ones
  with SKIP LOCKED and expires them through the ordinary commit, so each fires once;
- ``claims``: a PENDING execution handed to a runner is leased to this node; leases are
  renewed while held, released when the runner goes, and lapse when the node dies, so
  another node's runner gets it.
"""

from __future__ import annotations

from collections.abc import Callable

from pykka import ActorRef

from stigmer_actors.actors.dispatch import DispatchActor
from stigmer_actors.actors.registry import ExecutionRegistry
from stigmer_actors.cluster.claims import Claims
from stigmer_actors.cluster.feed import Feed, Notifier
from stigmer_actors.cluster.timers import DeadlinePoller
from stigmer_actors.feed import ChangeFeed
from stigmer_actors.store.postgres.coordination import Coordination
from stigmer_actors.store.postgres.store import PostgresStore

DEFAULT_LEASE = 15.0
"""Seconds a node's hold on a PENDING execution (for one of its runners) or on a due timer
lasts unless renewed: how long after a node dies another node takes them over."""


class Cluster:
    def __init__(self, store: PostgresStore, registry: ExecutionRegistry, dispatcher: ActorRef[DispatchActor],
                 expire: Callable[[str, str], None], lease: float = DEFAULT_LEASE,
                 changes: ChangeFeed | None = None) -> None:
        self.store = store
        self.node = store.node
        self.coordination = Coordination(store)
        self.notifier = Notifier(self.coordination)
        store.on_commit = self.notifier.poke
        self.claims = Claims(self.coordination, self.node, dispatcher, lease)
        self.feed = Feed(self.coordination, registry, dispatcher, self.node, changes)
        self.timers = DeadlinePoller(self.coordination, expire, lease)

    def start(self) -> Cluster:
        for part in (self.notifier, self.feed, self.timers, self.claims):
            part.start()
        return self

    def close(self) -> None:
        for part in (self.timers, self.claims, self.feed, self.notifier):
            part.stop()
