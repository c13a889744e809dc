"""SubscriberActor: the ExecutionActor's side of one subscription.

The ExecutionActor ``tell``s it every new snapshot and never waits on it. It keeps only the
newest one in a ``NewestStateBox`` for the consumer, so a consumer that reads slowly costs
the writer nothing and, when it reads, gets the latest state; the terminal (or deleted)
snapshot is never coalesced away. After that final snapshot the actor stops itself: the
box still holds what the consumer has yet to read. When the engine shuts down, ``Closed``
closes the box, so a consumer blocked on it wakes and its iteration ends.
"""

from __future__ import annotations

from stigmer_actors.actors.base import UnregisteredActor
from stigmer_actors.messages import Closed, Snapshot
from stigmer_actors.subscription import NewestStateBox


class SubscriberActor(UnregisteredActor):
    def __init__(self, box: NewestStateBox) -> None:
        super().__init__()
        self._box = box

    def on_receive(self, message: Snapshot | Closed) -> None:
        if isinstance(message, Closed):
            self._box.close()
            self.stop()
            return
        self._box.offer(message)
        if message.final:
            self.stop()
