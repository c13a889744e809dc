"""What a subscribe stream sends: each state as fresh as the reader's pace allows.

A sync grpcio stream pulls its next message only once the previous one was handed to the
transport, and the transport takes it only when the client's HTTP/2 window has room, so a
slow reader holds the stream thread at that hand-off. Meanwhile the subscription's box
accepts the state written right after the last take and holds back the newer ones: after
a hand-off that waited for the reader, the state in the box is as old as that wait (0.5 s
for a reader taking a state every 0.5 s). Taking it asks the execution's actor for its
newest state; here the stream waits briefly for that one and sends it instead, so a slow
reader is one state behind, not two (measured through ``StigmerClient``, which reads
nothing ahead; 100 updates/s, a read every 0.5 s: ~100 -> ~50 versions behind).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from stigmer_actors.messages import Snapshot
from stigmer_actors.subscription import Subscription

SLOW_HAND_OFF = 0.05
"""Seconds a hand-off to the transport must have waited for the state in the box to count
as stale (a reader keeping up hands off in well under a millisecond on loopback)."""
FRESH_WAIT = 0.05
"""Seconds to wait for the newest state after a slow hand-off. The actor answers in about a
millisecond; when nothing newer was written nothing comes, and the state in hand goes out."""


def fresh_states(
    subscription: Subscription, dropped: Callable[[], None] | None = None
) -> Iterator[Snapshot]:
    """The snapshots to send on ``subscription``, ending when it ends.

    ``dropped`` is called for each state replaced by a newer one before it was sent (the
    reader never sees it: a coalesced state for the metrics).
    """
    stale = False
    while True:
        try:
            snapshot = subscription.next_snapshot()
        except StopIteration:
            return
        if stale and not snapshot.final:
            try:
                snapshot = subscription.next_snapshot(FRESH_WAIT)
            except TimeoutError:
                pass  # nothing newer: the state in hand is the newest
            except StopIteration:
                yield snapshot  # deleted meanwhile: end after the last state, as everywhere
                return
            else:
                if dropped is not None:
                    dropped()
        handed_at = time.monotonic()
        yield snapshot
        stale = time.monotonic() - handed_at >= SLOW_HAND_OFF
