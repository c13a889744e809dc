"""The engine's operations in terms of snapshots: validate, route to the actor, answer.

Validation that needs no state runs here, on the caller's thread, so an actor only spends
its time on what must be serialized. Writes go to the execution's actor through the
registry; reads (get, list) go straight to the store, which every accepted change reaches
before it is acknowledged or broadcast. The gRPC edge uses this layer directly, so it can
send the stored bytes without re-serializing; ``Engine`` wraps it for embedding.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from loguru import logger
from pykka import ActorDeadError, ActorRef

from stigmer_actors.actors.dispatch import DispatchActor, PhaseChanged, workflow_id_of
from stigmer_actors.actors.execution import ExecutionActor, Parts
from stigmer_actors.actors.registry import ExecutionRegistry
from stigmer_actors.actors.watchdog import Arm, WatchdogActor
from stigmer_actors.domain import kinds, phases
from stigmer_actors.domain.errors import EngineError, InvalidArgument, NotFound, Unavailable
from stigmer_actors.domain.ids import new_id
from stigmer_actors.domain.kinds import Kind
from stigmer_actors.domain.timeouts import Timeouts, check_annotations, deadline
from stigmer_actors.domain.validation import check_id, check_message, check_tags
from stigmer_actors.feed import ExecutionFilter, ListWatch, MemoryFeed
from stigmer_actors.messages import (
    CatchUp,
    Command,
    Create,
    Delete,
    Expire,
    Snapshot,
    Subscribe,
    Unsubscribe,
    Update,
    UpdateStatus,
)
from stigmer_actors.observability import Metrics
from stigmer_actors.runtime import Pool
from stigmer_actors.store.base import Store
from stigmer_actors.store.listing import ListQuery
from stigmer_actors.subscription import Subscription, Watch
from stigmer_actors.wire import Execution, ExecutionStatus

if TYPE_CHECKING:
    from stigmer_actors.cluster import Cluster
    from stigmer_actors.store.postgres.store import PostgresStore


@dataclass(frozen=True)
class SnapshotPage:
    entries: list[Snapshot]
    next_page_token: str
    total_pages: int


class Core:
    def __init__(
        self, store: Store, idle_timeout: float, timeouts: Timeouts, metrics: Metrics | None,
        pool: Pool | None = None, no_runner_reason: Callable[[str], str | None] | None = None,
        cluster_lease: float = 15.0,
    ) -> None:
        self.store = store
        self.timeouts = timeouts
        self.metrics = metrics
        self.pool = pool or Pool(name="engine")
        """The threads every actor of this engine takes its turns on (when no caller does)."""
        self.registry = ExecutionRegistry(self._spawn, idle_timeout)
        if metrics is not None:
            levels = metrics.levels
            levels.live_actors, levels.subscriptions = self.registry.live, self.registry.subscribers
            levels.spawned = lambda: self.registry.spawned
            levels.evicted = lambda: self.registry.evicted
            levels.slowest_lag = self.registry.slowest_lag
        self.dispatcher = DispatchActor.start(pool=self.pool)
        self.feed = MemoryFeed()
        """Every accepted change, for list-watches (``feed/``)."""
        if metrics is not None:
            metrics.levels.list_watches = lambda: self.feed.watchers
        self.cluster: Cluster | None = None
        """The cross-node loops, when the store is shared (``cluster/``)."""
        if store.shared:
            from stigmer_actors.cluster import Cluster
            from stigmer_actors.cluster.timers import DeadlineWriter

            self.cluster = Cluster(cast("PostgresStore", store),  # the one shared store there is
                                   self.registry, self.dispatcher, self._expire, cluster_lease, self.feed)
            self.watchdog: ActorRef[Any] = DeadlineWriter.start(self.cluster.coordination, self.pool)
        else:
            on_error = partial(metrics.loop_errors.labels("watchdog").inc) if metrics else None
            self.watchdog = WatchdogActor.start(self._expire, on_error, pool=self.pool)
        self._parts = Parts(
            self.store, self.pool, self.watchdog, self.dispatcher, timeouts, metrics,
            self.registry.watchers_changed, self.registry.retire_miss, self.feed, no_runner_reason,
        )
        # A shared store keeps timers in its rows, and its claims loop queues what is PENDING.
        self.rearmed = 0 if self.cluster else self._resume_from_store()
        if self.cluster is not None:
            self.cluster.start()

    def _spawn(self, execution_id: str) -> ExecutionActor:
        actor = ExecutionActor(execution_id, self._parts)
        actor._start_actor_loop()
        return actor

    def _expire(self, execution_id: str, reason: str) -> None:
        """The watchdog's way in: an Expire message to the execution's actor, no waiting."""
        try:
            self.registry.send(execution_id, Expire(reason))
        except Unavailable:
            pass  # closing: the timer re-arms from disk on the next open

    def _resume_from_store(self) -> int:
        """After a (re)start: queue every PENDING execution for the runners and arm the
        watchdog for every non-terminal one, from what is on disk. Returns how many armed."""
        armed = 0
        for kind in kinds.KINDS:
            for phase in (phases.PENDING, phases.IN_PROGRESS):
                for execution_id in self.store.unfinished(kind, phase):
                    try:
                        armed += self._resume(kind, phase, execution_id)
                    except Exception as error:  # one unreadable record must not keep the daemon down
                        logger.error("skipped resuming {key!r}: {error!r}", key=execution_id,
                                     error=error)
                        if self.metrics is not None:
                            self.metrics.loop_errors.labels("resume").inc()
        return armed

    def _resume(self, kind: Kind, phase: int, execution_id: str) -> int:
        snapshot = self._read(execution_id)
        if snapshot is None:
            return 0
        message = snapshot.message()
        if phase == phases.PENDING:
            self.dispatcher.tell(PhaseChanged(execution_id, kind, phase, workflow_id_of(message)))
        due = deadline(message, self.timeouts)
        if due is None:
            return 0
        self.watchdog.tell(Arm(execution_id, due.reason, due.at))
        return 1

    def call(self, execution_id: str, command: Command) -> Snapshot:
        """Send one command to the execution's actor; raise what it refused with."""
        try:
            result: Snapshot | EngineError = self.registry.ask(execution_id, command)
        except ActorDeadError:
            raise Unavailable("the engine is shutting down") from None
        if isinstance(result, EngineError):
            raise result
        return result

    def create(self, execution: Execution) -> Snapshot:
        kind = kinds.of_message(execution)
        kind.check_spec(execution)
        check_tags(execution.metadata.tags, "metadata.tags")
        check_annotations(execution)
        check_message(execution)
        execution_id = execution.metadata.id or new_id(kind.id_prefix)
        check_id(execution_id, "metadata.id")
        return self.call(execution_id, Create(kind, execution))

    def update(self, execution: Execution) -> Snapshot:
        kind = kinds.of_message(execution)
        execution_id = check_id(execution.metadata.id, "metadata.id")
        kind.check_spec(execution)
        check_tags(execution.metadata.tags, "metadata.tags")
        check_annotations(execution)
        check_message(execution)
        return self.call(execution_id, Update(kind, execution))

    def update_status(self, execution_id: str, status: ExecutionStatus | None) -> Snapshot:
        check_id(execution_id, "execution_id")
        if status is None:
            raise InvalidArgument("status is missing")
        kind = kinds.of_status(status)
        check_message(status, "status")
        return self.call(execution_id, UpdateStatus(kind, status, time.perf_counter()))

    def delete(self, execution_id: str, kind: Kind | None = None) -> Snapshot:
        check_id(execution_id, "id")
        return self.call(execution_id, Delete(kind))

    def get(self, execution_id: str, kind: Kind | None = None) -> Snapshot:
        check_id(execution_id, "id")
        snapshot = self._read(execution_id)
        if snapshot is None or (kind is not None and snapshot.kind is not kind):
            what = f"{kind.name} execution" if kind else "execution"
            raise NotFound(f"{what} {execution_id} does not exist")
        return snapshot

    def list(self, query: ListQuery) -> SnapshotPage:
        page = self.store.list(query)
        entries = [self._snapshot(r.execution_id, r.tag, r.data) for r in page.records]
        return SnapshotPage(entries, page.next_page_token, page.total_pages)

    def subscribe(self, execution_id: str, kind: Kind | None = None) -> Subscription:
        check_id(execution_id, "id")
        watch = Watch()
        catch_up, unsubscribe = CatchUp(watch), Unsubscribe(watch)
        watch.catch_up = lambda: self.registry.tell_if_live(execution_id, catch_up)
        watch.count_coalesced = self.metrics.coalesced.inc if self.metrics else None
        try:
            self.call(execution_id, Subscribe(kind, watch))
        except BaseException:
            watch.close()
            raise
        return Subscription(watch, lambda: self.registry.tell_if_live(execution_id, unsubscribe))

    def claim(self, execution_id: str, runner: str) -> bool:
        """May ``runner`` (connected here) be sent ``execution_id``? Always, unless another
        node's runner took it first (a shared store: ``cluster/claims.py``)."""
        return self.cluster is None or self.cluster.claims.claim(execution_id, runner)

    def released(self, runner: str) -> None:
        """``runner``'s stream ended: what it held goes back to every node's runners."""
        if self.cluster is not None:
            self.cluster.claims.release(runner)

    def watch_executions(self, query: ExecutionFilter, since: str = "",
                         heartbeat: float | None = None) -> ListWatch:
        """The executions matching ``query``, then every change to them (``feed/list_watch.py``).

        INVALID_ARGUMENT for a malformed ``since``, OUT_OF_RANGE for one too old to resume
        from; the iteration raises ABORTED (``WatchOverflow``) if the reader fell further
        behind than a watch's bounds. ``heartbeat``: a BOOKMARK after that many seconds of
        quiet, news or not.
        """
        if heartbeat is None:
            return ListWatch(self.feed, query, since, self._matching)
        return ListWatch(self.feed, query, since, self._matching, heartbeat, heartbeat=True)

    def _matching(self, query: ExecutionFilter) -> Iterator[Snapshot]:
        """The stored executions matching ``query``: by kind, then phase, then id."""
        for kind in kinds.KINDS:
            if kind not in query.kinds:
                continue
            owner = query.session_id if kind is kinds.AGENT else query.workflow_id
            for phase in sorted(query.phases) or [phases.UNSPECIFIED]:
                for execution_id in self.store.ids(ListQuery(kind, phase, tuple(query.tags), owner)):
                    snapshot = self._read(execution_id)
                    if snapshot is not None and snapshot.kind is kind:
                        yield snapshot

    def close(self) -> None:
        if self.cluster is not None:
            self.cluster.close()  # first: no Expire or Refresh may race the actors' shutdown
        self.watchdog.stop()  # first: no Expire may race the actors' shutdown
        self.registry.close()
        self.feed.close()
        self.dispatcher.stop()
        self.pool.close()

    def _read(self, execution_id: str) -> Snapshot | None:
        found = self.store.load(execution_id)
        if found is None:
            return None
        return self._snapshot(execution_id, *found)

    @staticmethod
    def _snapshot(execution_id: str, tag: str, data: bytes) -> Snapshot:
        kind = kinds.BY_TAG[tag]
        status = kind.message_cls.FromString(data).status
        return Snapshot(kind, execution_id, status.version, status.phase, data)
