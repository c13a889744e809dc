"""ExecutionActor: the single writer of one execution.

Every change to execution ``id`` (create, update, updateStatus, delete, and later the
watchdog and the runners) is a message to this actor, handled one at a time:
load (once, then cached) -> validate -> merge -> version + 1 -> persist -> fan out. So no
update can be lost to a concurrent one, versions follow the order of the writes, and
subscribers receive snapshots in exactly that order. Subscribing is a message too: the
current state is sent and the subscriber registered in the same step, so nothing written
between the two can be missed. A subscriber whose consumer has not taken its last snapshot
is sent nothing more until it has (its box says so, see ``subscription.py``); it then asks
with ``CatchUp`` for the newest state. So a stuck watcher costs an update a flag, not a
message, and no subscriber's inbox can grow.

Phase changes (only those, not every update) are also told to the DispatchActor, which
hands PENDING executions to runners. Timeouts: the actor arms the watchdog when its phase
changes; when a deadline passes the
watchdog sends ``Expire`` and the actor fails the execution like any other change (see
``actors/watchdog.py``), so watchers always hear about it.

Failure handling ("restart from disk"): a request the domain refuses is returned as an
EngineError and changes nothing. Any other exception, and any store failure, drops the
cached state, so the next message reloads it from the store; the failed request gets
INTERNAL or UNAVAILABLE and nothing is broadcast. The actor itself keeps serving.
"""

from __future__ import annotations

import dataclasses
import time
from typing import NamedTuple

from google.protobuf.message import Message
from loguru import logger
from pykka import ActorDeadError, ActorRef

from stigmer_actors.actors.base import UnregisteredActor
from stigmer_actors.actors.dispatch import GONE, PhaseChanged, workflow_id_of
from stigmer_actors.actors.registry import ExecutionRegistry
from stigmer_actors.actors.watchdog import Arm, Disarm
from stigmer_actors.domain import phases
from stigmer_actors.domain.clock import now_iso
from stigmer_actors.domain.errors import (
    AlreadyExists,
    EngineError,
    Internal,
    NotFound,
    Unavailable,
)
from stigmer_actors.domain.kinds import BY_TAG, Kind
from stigmer_actors.domain.sizes import check_state_size
from stigmer_actors.domain.timeouts import Timeouts, deadline, failure_message
from stigmer_actors.domain.transitions import apply_status, apply_update, created
from stigmer_actors.messages import (
    CatchUp,
    Closed,
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
from stigmer_actors.store.keys import index_keys
from stigmer_actors.store.rocks import RocksStore
from stigmer_actors.subscription import NewestStateBox


class ExecutionActor(UnregisteredActor):
    def __init__(
        self,
        execution_id: str,
        store: RocksStore,
        registry: ExecutionRegistry,
        watchdog: ActorRef,
        dispatcher: ActorRef,
        timeouts: Timeouts,
        metrics: Metrics | None = None,
    ) -> None:
        super().__init__()
        self._metrics = metrics
        self._started = self._loaded_at = 0.0  # perf_counter marks of the message in hand
        self._id = execution_id
        self._store = store
        self._registry = registry
        self._watchdog = watchdog
        self._dispatcher = dispatcher
        self._timeouts = timeouts
        self._armed: tuple[str, float] | None = None
        self._announced_phase: int | None = None
        self._log = logger.bind(execution_id=execution_id)
        self._loaded = False
        self._kind: Kind | None = None
        self._snapshot: Snapshot | None = None
        self._index: frozenset[bytes] = frozenset()
        # Subscribers by actor urn: ``_fed`` get each new snapshot offered; ``_parked`` ones
        # were refused one (their consumer is behind) and are skipped, at no cost per
        # update, until their CatchUp arrives. Final snapshots go to both.
        self._fed: dict[str, Subscriber] = {}
        self._parked: dict[str, Subscriber] = {}
        self._parked_floor = 0  # lowest version a parked subscriber's consumer has taken

    def on_receive(self, message: Command) -> Snapshot | EngineError | None:
        self._started = time.perf_counter()
        try:
            return self._handle(message)
        except EngineError as error:
            return error
        except Exception:
            self._log.opt(exception=True).error(
                "handler failed on {command}; state will reload from the store",
                command=type(message).__name__,
            )
            self._loaded = False
            return Internal(
                f"internal error handling {type(message).__name__} for execution {self._id}; "
                "see the server log"
            )
        finally:
            if self._metrics is not None and isinstance(message, UpdateStatus):
                # Observed here, in the one thread that owns this execution, not in each
                # caller (callers contending on a lock cost +15 % CPU, when there was one).
                self._metrics.update_latency(time.perf_counter() - message.sent_at)
            self._registry.done(self._id, len(self._fed) + len(self._parked), self._lag())

    def _handle(self, message: Command) -> Snapshot | None:
        if isinstance(message, UpdateStatus):
            current = self._current(message.kind)
            apply_status(message.kind, current, message.status)
            return self._commit(message.kind, current)
        if isinstance(message, Subscribe):
            return self._subscribe(message)
        if isinstance(message, CatchUp):
            subscriber = self._unpark(message.subscriber_urn)
            if subscriber is not None and self._snapshot is not None:
                self._fed[message.subscriber_urn] = subscriber
                self._send(message.subscriber_urn, subscriber, self._snapshot)
            return None
        if isinstance(message, Unsubscribe):
            self._fed.pop(message.subscriber_urn, None)
            self._unpark(message.subscriber_urn)
            return None
        if isinstance(message, Create):
            self._load()
            self._loaded_at = time.perf_counter()
            if self._snapshot is not None:
                raise AlreadyExists(f"execution {self._id} already exists")
            return self._commit(message.kind, created(message.kind, message.execution, self._id))
        if isinstance(message, Update):
            current = self._current(message.kind)
            apply_update(current, message.execution)
            return self._commit(message.kind, current)
        if isinstance(message, Delete):
            return self._delete(message.kind)
        if isinstance(message, Expire):
            return self._expire(message.reason)
        raise TypeError(f"unknown command {message!r}")

    def _load(self) -> None:
        if self._loaded:
            return
        self._forget()
        found = self._store.load(self._id)
        if found is not None:
            tag, data = found
            kind = BY_TAG[tag]
            execution = kind.message_cls.FromString(data)
            self._remember(kind, execution, data)
        self._loaded = True

    def _forget(self) -> None:
        """The cached state of an execution that does not exist (yet, or any more)."""
        self._kind = self._snapshot = None
        self._index = frozenset()

    def _current(self, kind: Kind | None) -> Message:
        """A fresh copy of the execution to change; NOT_FOUND if absent or of another kind.

        Parsed from the cached bytes each time (~10 us for 2 KB) rather than changed in
        place: upb keeps every string ever set on a message in that message's arena, so a
        long-lived cached message grew by the size of each update (1.5 KB per update
        measured, 150 MB per 100,000). A copy also leaves the cache untouched when a
        change fails half-way.
        """
        self._load()
        if self._snapshot is None or (kind is not None and kind is not self._kind):
            what = f"{kind.name} execution" if kind else "execution"
            raise NotFound(f"{what} {self._id} does not exist")
        assert self._kind is not None
        current = self._kind.message_cls.FromString(self._snapshot.data)
        self._loaded_at = time.perf_counter()
        return current

    def _remember(self, kind: Kind, execution: Message, data: bytes) -> None:
        self._kind = kind
        self._index = index_keys(kind, execution)
        status = execution.status
        self._snapshot = Snapshot(kind, self._id, status.version, status.phase, data)

    def _commit(self, kind: Kind, execution: Message) -> Snapshot:
        """Persist ``execution`` with its index changes, then fan it out.

        Each step is timed once (load and merge from the marks the handler left), for the
        metrics and for one DEBUG line per change, so a slow update can be traced.
        """
        merged_at = time.perf_counter()
        data = execution.SerializeToString()
        check_state_size(len(data), self._id)  # before the write: stored means readable
        new_index = index_keys(kind, execution)
        try:
            self._store.commit(
                self._id, (kind.tag, data), self._index - new_index, new_index - self._index
            )
        except Exception as error:
            # Whether anything reached the disk is unknown: re-read it on the next message.
            self._loaded = False
            if isinstance(error, EngineError):
                raise
            self._log.opt(exception=True).error("store write failed")
            raise Unavailable(f"could not store execution {self._id}: {error}") from None
        persisted_at = time.perf_counter()
        self._remember(kind, execution, data)
        assert self._snapshot is not None
        subscribers = len(self._fed) + len(self._parked)
        self._fan_out(self._snapshot)
        fanned_at = time.perf_counter()
        load, merge = self._loaded_at - self._started, merged_at - self._loaded_at
        persist, fan_out = persisted_at - merged_at, fanned_at - persisted_at
        if self._metrics is not None:
            self._metrics.change(load, merge, persist, fan_out, subscribers, len(data))
        self._log.debug(
            "version {version}: load {load:.6f} s, merge {merge:.6f} s, persist {persist:.6f} s, "
            "fan-out {fan_out:.6f} s to {subscribers} subscribers",
            version=self._snapshot.version, load=load, merge=merge, persist=persist,
            fan_out=fan_out, subscribers=subscribers,
        )
        self._arm(execution)
        if execution.status.phase != self._announced_phase:
            self._announced_phase = execution.status.phase
            self._dispatcher.tell(PhaseChanged(self._id, kind, execution.status.phase, workflow_id_of(execution)))
        return self._snapshot

    def _arm(self, execution: Message) -> None:
        """Tell the watchdog when this execution's timer changes (phase or timeout), not per update."""
        due = deadline(execution, self._timeouts)
        armed = (due.reason, due.timeout) if due else None
        if armed == self._armed:
            return
        self._armed = armed
        if due is None:
            self._watchdog.tell(Disarm(self._id))
        else:
            self._watchdog.tell(Arm(self._id, due.reason, due.at))

    def _expire(self, reason: str) -> Snapshot | None:
        """A deadline passed: fail the execution if it is really still due, else re-arm."""
        try:
            current = self._current(None)
        except NotFound:
            return None  # deleted meanwhile
        due = deadline(current, self._timeouts)
        if due is None or due.reason != reason:
            return None  # the phase moved on (or the timer was turned off)
        if due.at > time.time():
            self._watchdog.tell(Arm(self._id, due.reason, due.at))  # updates came in since
            return None
        assert self._kind is not None
        error = failure_message(reason, due.timeout, self._kind.name)
        self._log.warning("failing execution: {error}", error=error)
        if self._metrics is not None:
            self._metrics.watchdog_failures.labels(reason).inc()
        failed = self._kind.status_cls(phase=phases.FAILED, error=error, completed_at=now_iso())
        apply_status(self._kind, current, failed)
        return self._commit(self._kind, current)

    def _delete(self, kind: Kind | None) -> Snapshot:
        self._current(kind)
        assert self._snapshot is not None
        try:
            self._store.commit(self._id, None, remove=self._index)
        except Exception as error:
            self._loaded = False
            raise Unavailable(f"could not delete execution {self._id}: {error}") from None
        gone = dataclasses.replace(self._snapshot, deleted=True)
        self._fan_out(gone)
        self._forget()
        self._armed = None
        self._watchdog.tell(Disarm(self._id))
        self._announced_phase = None
        self._dispatcher.tell(PhaseChanged(self._id, gone.kind, GONE))
        self._log.debug("deleted")
        return gone

    def _subscribe(self, message: Subscribe) -> Snapshot:
        self._current(message.kind)
        snapshot = self._snapshot
        assert snapshot is not None
        urn = message.subscriber.actor_urn
        if not snapshot.final:
            self._fed[urn] = Subscriber(message.subscriber, message.box)
        self._send(urn, Subscriber(message.subscriber, message.box), snapshot)
        self._log.debug("subscribed; {count} subscribers", count=len(self._fed) + len(self._parked))
        return snapshot

    def on_stop(self) -> None:
        # Only the engine's shutdown stops an actor that still has subscribers (eviction
        # skips those): end their subscriptions instead of leaving consumers blocked.
        for subscriber in [*self._fed.values(), *self._parked.values()]:
            try:
                subscriber.ref.tell(Closed())
            except ActorDeadError:
                pass
        self._fed.clear()
        self._parked.clear()

    def _fan_out(self, snapshot: Snapshot) -> None:
        """Offer ``snapshot`` to every fed subscriber (all, if final); never waits on one."""
        if snapshot.final:
            for urn, subscriber in [*self._fed.items(), *self._parked.items()]:
                self._send(urn, subscriber, snapshot)
            self._fed.clear()
            self._parked.clear()
            return
        for urn, subscriber in list(self._fed.items()):
            if not self._send(urn, subscriber, snapshot):
                if not self._parked or subscriber.box.last_taken < self._parked_floor:
                    self._parked_floor = subscriber.box.last_taken
                self._parked[urn] = self._fed.pop(urn)

    def _unpark(self, urn: str) -> Subscriber | None:
        subscriber = self._parked.pop(urn, None)
        if subscriber is not None and self._parked:
            self._parked_floor = min(s.box.last_taken for s in self._parked.values())
        return subscriber

    def _lag(self) -> int:
        """Versions the slowest subscriber is behind (parked ones only: fed ones are not)."""
        if not self._parked or self._snapshot is None:
            return 0
        return self._snapshot.version - self._parked_floor

    def _send(self, urn: str, subscriber: Subscriber, snapshot: Snapshot) -> bool:
        """``tell`` the subscriber ``snapshot`` if its box has room (True); a queue put at most."""
        if not subscriber.box.admit(snapshot):
            return False
        try:
            subscriber.ref.tell(snapshot)
        except ActorDeadError:
            self._fed.pop(urn, None)
        return True


class Subscriber(NamedTuple):
    """What the ExecutionActor holds of one subscription."""

    ref: ActorRef
    box: NewestStateBox
