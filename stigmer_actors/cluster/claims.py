"""Dispatch leases: a PENDING execution handed to a runner is this node's alone.

Every node's dispatcher queues PENDING executions (created here, heard of through the feed,
or found unleased by ``unclaimed_pending``); before a runner's stream sends one, ``claim``
leases it to this node in the database, and a node that loses that race skips it. Held
leases are renewed every third of the lease, released when the runner's stream ends (the execution
goes back to every node's queue), and lapse a lease after a node dies.
"""

from __future__ import annotations

import threading

from pykka import ActorRef

from stigmer_actors.actors.dispatch import DispatchActor, PhaseChanged
from stigmer_actors.cluster.loop import Loop
from stigmer_actors.domain import phases
from stigmer_actors.domain.kinds import BY_TAG
from stigmer_actors.store.postgres.coordination import Coordination

SCAN_LIMIT = 1000


class Claims(Loop):
    name = "cluster-claims"

    def __init__(self, coordination: Coordination, node: str, dispatcher: ActorRef[DispatchActor],
                 lease: float) -> None:
        super().__init__()
        self.lease = lease
        self.interval = lease / 3
        self._coordination = coordination
        self._node = node
        self._dispatcher = dispatcher
        self._lock = threading.Lock()
        self._held: dict[str, set[str]] = {}
        """runner key -> execution ids leased for it."""

    def claim(self, execution_id: str, runner: str) -> bool:
        """Lease ``execution_id`` to this node for ``runner``; False if another node has it."""
        if not self._coordination.claim(execution_id, self._node, self.lease):
            return False
        with self._lock:
            self._held.setdefault(runner, set()).add(execution_id)
        return True

    def release(self, runner: str) -> None:
        """The runner's stream ended: what it still holds goes back to every node."""
        with self._lock:
            held = self._held.pop(runner, set())
        self._coordination.release(self._node, sorted(held))

    def step(self) -> None:
        with self._lock:
            held = sorted(set().union(*self._held.values())) if self._held else []
        pending = self._coordination.renew(self._node, held, self.lease)
        with self._lock:  # what left PENDING (taken up by its runner, ended, deleted) is done
            for ids in self._held.values():
                ids.intersection_update(pending | (ids - set(held)))
        for execution_id, tag, workflow_id in self._coordination.unclaimed_pending(SCAN_LIMIT):
            self._dispatcher.tell(PhaseChanged(execution_id, BY_TAG[tag], phases.PENDING, workflow_id))
