"""MemoryFeed: the embedded change feed, a bounded ring of recent changes in this process.

``publish`` is on every writer's path (the ExecutionActor calls it once per group commit
and once per delete), so it only takes one lock, numbers the changes, appends them to the
ring and, if anybody watches, wakes the dispatcher. Nothing is parsed or copied: the ring
holds the snapshots the actor already made.

One dispatcher thread (started with the first watcher) takes what was appended since its
last pass, coalesces it per execution and folds it into every watcher's box
(``watcher.FeedWatcher``). Under load one pass carries many changes, so a hot execution
costs each watcher one entry per pass, not one per change, and the writers never wait
for watchers.

The ring keeps the last ``max_changes`` changes (up to ``TRIM_STEP`` more between trims)
and at most ``max_bytes`` of their new states, for resumes, while some watcher is
registered and for ``RETAIN_IDLE`` seconds after the last one left; a feed nobody watches
does nothing on ``publish`` but read a flag, and starts a new epoch when it stops keeping
(see the README's "Watching many executions" for what keeping them cost a hot writer): a
watch may restart from any resume token still in the ring. A token
older than the ring, or from another epoch (the process restarted: sequence numbers start
again), is refused with OUT_OF_RANGE, and the client lists again (Kubernetes' 410 Gone).

A cluster feed (changes from other nodes) would implement the same ``ChangeFeed``
protocol, putting remote changes through the same numbering and dispatch.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from itertools import islice

from loguru import logger

from stigmer_actors.domain.errors import InvalidArgument, OutOfRange
from stigmer_actors.feed import tokens
from stigmer_actors.feed.changes import Change, coalesce
from stigmer_actors.feed.watcher import FeedWatcher
from stigmer_actors.messages.snapshot import Snapshot

RING_CHANGES = 10_000
"""Most changes kept for resumes."""
TRIM_STEP = 256
RING_BYTES = 32 * 1024 * 1024
"""Most bytes of new states kept for resumes (a change of a 150 KB state counts 150 KB)."""
RETAIN_IDLE = 300.0
"""Seconds the ring keeps recording after the last watcher left (or a ``mark``): a client
whose connection broke can resume within them. A feed nobody watches keeps nothing."""


class MemoryFeed:
    def __init__(self, max_changes: int | None = None, max_bytes: int | None = None) -> None:
        max_changes = RING_CHANGES if max_changes is None else max_changes
        max_bytes = RING_BYTES if max_bytes is None else max_bytes
        self.epoch = secrets.token_hex(6)
        """Names this feed's numbering: tokens of another epoch are from another process."""
        self.max_changes = max_changes
        self._trim_at = max_changes + TRIM_STEP
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._seq = 0
        self._ring: deque[Change] = deque()
        self._ring_bytes = 0
        self._dispatched = 0
        self._watchers: tuple[FeedWatcher, ...] = ()
        self._dispatcher: threading.Thread | None = None
        self._closed = False
        self._recording = False
        """Whether changes are kept in the ring: while watched, and RETAIN_IDLE seconds after."""
        self._retain_until = 0.0

    # Writers

    def publish(self, before: Snapshot | None, changes: Sequence[Snapshot]) -> None:
        """Record changes to ONE execution, in order; ``before`` is the state before the first."""
        if not self._recording:
            # Nothing kept, nothing numbered: the epoch changed when keeping stopped, so every
            # token from before is refused. Read without the lock: a registration that starts
            # keeping after this read comes after this change was stored, so its list has it.
            return
        with self._lock:
            seq = self._seq
            append = self._ring.append
            size = self._ring_bytes
            for after in changes:
                seq += 1
                append((seq, before, after))
                size += len(after.data)
                before = after
            self._seq = seq
            self._ring_bytes = size
            if size > self.max_bytes or seq - self._ring[0][0] >= self._trim_at:
                self._trim()
            if self._watchers:
                self._wake.notify()
            elif time.monotonic() > self._retain_until:
                self._stop_recording()

    def _stop_recording(self) -> None:
        """Nobody has watched for RETAIN_IDLE seconds: keep no changes, and start a new epoch
        (changes are no longer numbered, so no token from before may resume) (lock held)."""
        self._recording = False
        self._ring.clear()
        self._ring_bytes = 0
        self._dispatched = self._seq
        self.epoch = secrets.token_hex(6)

    def _record(self, until: float) -> None:
        """Keep changes at least until ``until`` (monotonic), or while watched (lock held)."""
        if not self._recording:
            self._recording = True
            self._dispatched = self._seq
        self._retain_until = max(self._retain_until, until)

    def _trim(self) -> None:
        """Drop the oldest changes down to the bounds (the count in steps of TRIM_STEP, so
        a full ring does not pay a trim on every publish)."""
        ring = self._ring
        while ring and (self._ring_bytes > self.max_bytes or len(ring) > self.max_changes):
            self._ring_bytes -= len(ring.popleft()[2].data)

    # Watchers

    @property
    def recording(self) -> bool:
        return self._recording

    @property
    def position(self) -> int:
        """The sequence number of the newest change published."""
        return self._seq

    def token(self, seq: int) -> str:
        return tokens.encode(self.epoch, seq)

    def mark(self) -> str:
        """A token for now that stays resumable for RETAIN_IDLE seconds at least (recording
        starts if it had stopped): for a reader that lists first and watches a moment later,
        such as the dashboard's list page and its stream."""
        with self._lock:
            self._record(time.monotonic() + RETAIN_IDLE)
            return tokens.encode(self.epoch, self._seq)

    def register(
        self, since: str = "", relevant: Callable[[Snapshot], bool] | None = None
    ) -> FeedWatcher:
        """A watcher of every change after now, or after ``since`` (a resume token).

        OUT_OF_RANGE for a token older than the ring or from another epoch.
        """
        wanted = tokens.decode(since) if since else None
        with self._lock:
            if self._closed:
                raise OutOfRange("the server is shutting down: list again from a new server")
            self._record(0.0)
            watcher = FeedWatcher(self._seq, relevant)
            if wanted is not None:
                self._replay_into(watcher, *wanted)
            self._watchers += (watcher,)
            if self._dispatcher is None:
                self._dispatcher = threading.Thread(target=self._dispatch_loop, name="feed-dispatcher",
                                                    daemon=True)
                self._dispatcher.start()
        return watcher

    def _replay_into(self, watcher: FeedWatcher, epoch: str, seq: int) -> None:
        """Put the changes after ``seq`` from the ring into a resuming watcher (lock held)."""
        if epoch != self.epoch:
            raise OutOfRange("resume token too old: it is from before the server restarted, or before "
                             f"a {RETAIN_IDLE:.0f} s pause with nobody watching; list again")
        if seq > self._seq:
            raise InvalidArgument("since names a position this server has not reached: not a "
                                  "resume token this server issued")
        ring = self._ring
        oldest = ring[0][0] if ring else self._seq + 1
        if seq < oldest - 1:
            raise OutOfRange(
                f"resume token too old: list again ({self._seq - seq:,} changes were made since; "
                f"the server keeps the last {len(ring):,})"
            )
        newer = list(islice(reversed(ring), self._seq - seq))
        newer.reverse()
        watcher.start = seq
        watcher.offer_changes(newer, self._seq)
        watcher.start = self._seq

    def unregister(self, watcher: FeedWatcher) -> None:
        watcher.close()
        with self._lock:
            self._watchers = tuple(w for w in self._watchers if w is not watcher)
            if not self._watchers:
                self._record(time.monotonic() + RETAIN_IDLE)

    @property
    def watchers(self) -> int:
        return len(self._watchers)

    @property
    def kept(self) -> int:
        """Changes in the ring now."""
        return len(self._ring)

    def close(self) -> None:
        """End every watch (their consumers see the end) and stop the dispatcher."""
        with self._lock:
            self._closed = True
            watchers, self._watchers = self._watchers, ()
            self._wake.notify_all()
            dispatcher = self._dispatcher
        for watcher in watchers:
            watcher.close()
        if dispatcher is not None:
            dispatcher.join(timeout=5)

    # The dispatcher

    def _dispatch_loop(self) -> None:
        while True:
            with self._lock:
                while self._dispatched >= self._seq and not self._closed:
                    self._wake.wait()
                if self._closed:
                    return
                upto, first = self._seq, self._dispatched + 1
                ring = self._ring
                available = min(upto - self._dispatched, len(ring))
                fresh = list(islice(reversed(ring), available))
                self._dispatched = upto
                watchers = self._watchers
            fresh.reverse()
            try:
                self._deliver(fresh, first, upto, watchers)
            except Exception:  # one bad pass must not end every watch for good
                logger.opt(exception=True).error("feed dispatch pass failed")
                for watcher in watchers:
                    watcher.overflow("the server failed to deliver changes to this watch: resume "
                                     "from your last resume token")

    @staticmethod
    def _deliver(fresh: list[Change], first: int, upto: int, watchers: tuple[FeedWatcher, ...]) -> None:
        lost_upto = fresh[0][0] - 1 if fresh else upto
        runs = None
        for watcher in watchers:
            if watcher.start >= upto:
                continue  # registered after this pass's changes
            if lost_upto >= first and watcher.start < lost_upto:
                # The ring dropped changes before this pass reached them (more than the
                # ring's worth was written between two passes).
                watcher.overflow("this watch fell too far behind (the server's memory of recent "
                                 "changes moved past it): resume from your last resume token")
                continue
            if watcher.start >= first:
                watcher.offer_changes(fresh, upto)  # registered during this pass's changes
                continue
            if runs is None:
                runs = list(coalesce(fresh).values())
            watcher.offer_runs(runs, upto)
