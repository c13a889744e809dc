"""Timers of a shared store: deadlines live in the executions' rows, polled by every node.

Each commit writes the execution's deadline with its state (``Write.deadline``). Every
``POLL`` seconds each node takes the due ones with SKIP LOCKED, pushing each one's deadline
a lease ahead as it takes it (if the node dies now, another finds it due again
then), and hands them to ``expire``: the execution's actor checks and fails it through the
ordinary compare-and-set commit, so a deadline fires once across the cluster.

``DeadlineWriter`` stands in for the watchdog actor: the one ``Arm`` a shared store needs
(an actor found an expired deadline had moved meanwhile) writes the new deadline back.
"""

from __future__ import annotations

from collections.abc import Callable

from stigmer_actors.actors.watchdog import Arm, Disarm
from stigmer_actors.cluster.loop import Loop
from stigmer_actors.runtime import Pool, PooledActor
from stigmer_actors.store.postgres.coordination import Coordination

POLL = 0.5
BATCH = 100


class DeadlinePoller(Loop):
    name = "cluster-timers"
    interval = POLL

    def __init__(self, coordination: Coordination, expire: Callable[[str, str], None],
                 lease: float) -> None:
        super().__init__()
        self.lease = lease
        self._coordination = coordination
        self._expire = expire
        self.fired = 0

    def step(self) -> None:
        while True:
            due = self._coordination.claim_due(BATCH, self.lease)
            for execution_id, reason in due:
                self._expire(execution_id, reason)
                self.fired += 1
            if len(due) < BATCH:
                return


class DeadlineWriter(PooledActor):
    """The watchdog's messages for a shared store: a deadline written into the row."""

    def __init__(self, coordination: Coordination, pool: Pool) -> None:
        super().__init__()
        self.pool = pool
        self._coordination = coordination

    def on_receive(self, message: object) -> None:
        if isinstance(message, Arm):
            self._coordination.set_deadline(message.execution_id, message.at, message.reason)
        elif isinstance(message, Disarm):
            self._coordination.set_deadline(message.execution_id, None, None)
