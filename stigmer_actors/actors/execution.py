"""ExecutionActor: the single writer of one execution.

Every change to execution ``id`` (create, update, updateStatus, delete, the watchdog's
expiry) is a message to this actor, handled one at a time: load (once, then cached) ->
validate -> merge -> version + 1 -> persist -> fan out -> publish to the change feed. So no update can be lost to a
concurrent one, versions follow the order of the writes, and watchers receive snapshots in
exactly that order. Subscribing is a message too: the current state is sent and the watch
registered in the same step, so nothing written between the two can be missed.

Group commit: a turn hands the actor everything queued (``PooledActor.handle_batch``). A run
of consecutive changes is applied in order, each getting its own version and its own reply
snapshot, and persisted with ONE store write (one fsync under ``sync``). Every reply and
every fan-out comes after that write succeeded: nothing is acknowledged that was not
written. If the write fails, every change of the group is answered UNAVAILABLE and the
cached state is dropped (the next message reloads it), so nothing is acknowledged that the
store does not hold.

A refused change (a domain error) is answered with its error and changes nothing; the
others of its group go on from the state before it. Any other exception in one change is
logged and answered INTERNAL, and the group continues from the last good state.

Phase changes (only those, not every update) are told to the DispatchActor, which hands
PENDING executions to runners; the watchdog is armed when the timer the phase runs under
changes (``actors/watchdog.py``), and its ``Expire`` fails the execution through the same
path as any update, so watchers always hear about it.

An actor with no execution (a request for an id that does not exist) is retired at the end
of its turn: a miss leaves nothing behind.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from loguru import logger
from pykka import ActorRef
from pykka._envelope import Envelope

from stigmer_actors.actors.dispatch import GONE, DispatchActor, PhaseChanged, workflow_id_of
from stigmer_actors.actors.watchdog import Arm, Disarm
from stigmer_actors.actors.watchers import Watchers
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
from stigmer_actors.domain.timeouts import PENDING, Timeouts, deadline, failure_message
from stigmer_actors.domain.transitions import apply_status, apply_update, created
from stigmer_actors.feed import ChangeFeed
from stigmer_actors.logs import debugging
from stigmer_actors.messages import (
    CHANGES,
    CatchUp,
    Create,
    Delete,
    Expire,
    Refresh,
    Snapshot,
    Subscribe,
    Unsubscribe,
    Update,
    UpdateStatus,
)
from stigmer_actors.observability import Metrics
from stigmer_actors.runtime import Pool, PooledActor
from stigmer_actors.store.base import Conflict, Store, Terms, Write, terms_of
from stigmer_actors.store.group_commit import GATHER_YIELDS
from stigmer_actors.wire import Execution

_CHANGE_TYPES = frozenset(CHANGES)
GATHER_LIMIT = 256
"""Most changes one synced write carries (a bound on a caller's wait behind others)."""


def _is_change(message: Any) -> bool:
    return type(message) in _CHANGE_TYPES


@dataclass(frozen=True)
class Parts:
    """What every ExecutionActor of one engine shares (one reference per actor, not six)."""

    store: Store
    pool: Pool
    watchdog: ActorRef[Any]
    """A WatchdogActor, or a cluster's DeadlineWriter."""
    dispatcher: ActorRef[DispatchActor]
    timeouts: Timeouts
    metrics: Metrics | None
    watchers_changed: Callable[[int], None]
    """Told +n / -n when an actor's number of watchers changes (the registry's count)."""
    retire: Callable[[ExecutionActor], None]
    """Asked to retire an actor that holds no execution and no watchers (a miss)."""
    feed: ChangeFeed
    """Told every accepted change, once per group and per delete (list-watches read it)."""
    no_runner_reason: Callable[[str], str | None] | None = None
    """Given a kind's name, why no runner of that kind is there, if the caller knows (the
    daemon's supervisor does): it goes into a pending timeout's error. None: not known."""


class ExecutionActor(PooledActor):
    def __init__(self, execution_id: str, parts: Parts) -> None:
        super().__init__()
        self.pool = parts.pool
        self.execution_id = self._id = execution_id
        self._parts = parts
        self._loaded = False
        self._snapshot: Snapshot | None = None
        self._armed: tuple[str, float] | None = None
        self._announced_phase: int | None = None
        self._watchers: Watchers | None = None
        self.last_used = time.monotonic()
        self.lag = 0
        """Versions its slowest watcher is behind (read by the metrics scrape)."""

    # Turns

    def handle_batch(self, batch: list[Envelope[Any]]) -> None:
        started = time.perf_counter()
        group: list[Envelope[Any]] = []
        for envelope in batch:
            if self._stopped:
                _reply(envelope, Unavailable("the engine is shutting down"))
                continue
            if type(envelope.message) in _CHANGE_TYPES:
                group.append(envelope)
                continue
            if group:
                self._commit_group(group, started)
                group = []
            self._handle_other(envelope)
        if group:
            self._commit_group(group, started)
        self.last_used = time.monotonic()
        watchers = self._watchers
        self.lag = watchers.lag(self._snapshot.version) if watchers and self._snapshot else 0

    def _after_turn(self) -> None:
        if self.holds_nothing():
            self._parts.retire(self)

    def holds_nothing(self) -> bool:
        """No execution cached and nobody watching: nothing to keep this actor for."""
        return self._snapshot is None and not self._watchers and not self._stopped

    @property
    def watched(self) -> bool:
        """Someone subscribes to this execution (read from other threads as a hint only)."""
        return bool(self._watchers)

    def idle_since(self, cutoff: float) -> bool:
        """Unused since ``cutoff`` (monotonic) and unwatched: may be evicted."""
        return self.last_used <= cutoff and not self._watchers

    def _handle_other(self, envelope: Envelope[Any]) -> None:
        message = envelope.message
        try:
            if isinstance(message, Subscribe):
                result: Any = self._subscribe(message)
            elif isinstance(message, CatchUp):
                if self._watchers is not None:
                    self._watchers.catch_up(message.watch, self._snapshot)
                result = None
            elif isinstance(message, Unsubscribe):
                if self._watchers is not None:
                    self._count_watchers(lambda w: w.remove(message.watch))
                result = None
            elif isinstance(message, Delete):
                result = self._delete(message.kind)
            elif isinstance(message, Refresh):
                self._refresh(message.version, message.state)
                result = None
            else:
                self.handle_envelope(envelope)  # pykka's own: stop, proxies
                return
        except EngineError as error:
            result = error
        except Exception:
            self._loaded = False  # the cached state may not match the store: re-read it
            result = self._internal_error(type(message).__name__)
        _reply(envelope, result)

    def _internal_error(self, what: str) -> Internal:
        logger.opt(exception=True).error("handler failed on {command}", command=what,
                                         execution_id=self._id)
        return Internal(f"internal error handling {what} for execution {self._id}; "
                        "see the server log")

    # Changes, grouped

    def _commit_group(self, group: list[Envelope[Any]], started: float) -> None:
        """Apply a run of changes in order, write them once, then answer and fan out."""
        try:
            self._apply_group(group, started)
        finally:
            metrics = self._parts.metrics
            if metrics is not None:
                # Observed here, in the one thread that owns this execution, not in each
                # caller (callers contending on a lock cost +15 % CPU, when there was one).
                now = time.perf_counter()
                for envelope in group:
                    if isinstance(envelope.message, UpdateStatus):
                        metrics.update_latency(now - envelope.message.sent_at)

    def _apply_group(self, group: list[Envelope[Any]], started: float) -> None:
        for attempt in range(1, CONFLICT_ATTEMPTS + 1):
            try:
                self._load()
            except Exception as error:  # the store cannot be read: nothing can be decided
                self._loaded = False
                failure = Unavailable(f"could not load execution {self._id}: {error}")
                for envelope in group:
                    _reply(envelope, failure)
                return
            loaded_at = time.perf_counter()
            base = self._snapshot
            applied = self._run_changes(group, base, gather=attempt == 1)
            merged_at = time.perf_counter()
            if applied.changed:
                try:
                    self._persist(applied, base)
                except Conflict:
                    # Another node wrote first: read what it wrote, apply the group again.
                    self._loaded = False
                    if self._parts.metrics is not None:
                        self._parts.metrics.conflicts.inc()
                    if attempt < CONFLICT_ATTEMPTS:
                        continue
                    busy = Unavailable(
                        f"execution {self._id} kept changing on other nodes while this change "
                        f"was applied ({CONFLICT_ATTEMPTS} attempts); nothing was changed: try again")
                    for envelope in group:
                        _reply(envelope, busy)
                    return
                except Exception as error:
                    self._loaded = False  # whether anything reached the disk is unknown: re-read
                    if not isinstance(error, EngineError):
                        logger.opt(exception=True).error("store write failed", execution_id=self._id)
                        error = Unavailable(f"could not store execution {self._id}: {error}")
                    for envelope in group:
                        _reply(envelope, error)
                    return
            persisted_at = time.perf_counter()
            watchers = len(self._watchers) if self._watchers else 0
            changes = [outcome for outcome in applied.outcomes if type(outcome) is Snapshot]
            for snapshot in changes:
                self._fan_out(snapshot)
            fanned_at = time.perf_counter()
            if changes:
                self._parts.feed.publish(base, changes)
            for envelope, outcome in zip(group, applied.outcomes):
                _reply(envelope, outcome)
            if applied.changed:
                assert applied.execution is not None
                self._after_change(applied.execution, changes, watchers, applied.reshaped,
                                   (started, loaded_at, merged_at, persisted_at, fanned_at))
            return

    def _run_changes(self, group: list[Envelope[Any]], base: Snapshot | None,
                     gather: bool) -> _Applied:
        """Apply the group's changes in order on a copy of ``base``; each gets a snapshot or
        its error. Under ``sync`` (``gather``), take in the changes queued meanwhile too."""
        kind = base.kind if base is not None else None
        data = base.data if base is not None else None
        working: Execution | None = None  # the execution being changed, parsed once per group
        outcomes: list[Snapshot | EngineError | None] = []
        changed = 0
        reshaped = base is None  # spec, metadata or phase changed: indexes and timers may move
        gather = gather and self._parts.store.group is not None  # sync: once, before the write
        i = 0
        while True:
            if i == len(group):
                if not gather or not self._gather(group):
                    break
                gather = False
            message = group[i].message
            i += 1
            try:
                if working is None and data is not None:
                    assert kind is not None
                    working = kind.message_cls.FromString(data)
                result = self._change(message, kind, working)
                if result is None:
                    outcomes.append(None)  # an Expire that had nothing to do
                    continue
                changed_kind, changed_execution = result
                changed_data = changed_execution.SerializeToString()
                check_state_size(len(changed_data), self._id)  # stored must mean readable
                kind, working, data = changed_kind, changed_execution, changed_data
                reshaped = reshaped or type(message) is Create or type(message) is Update
                outcomes.append(Snapshot(kind, self._id, working.status.version,
                                         working.status.phase, data))
                changed += 1
            except EngineError as error:
                outcomes.append(error)
                working = None  # it may be half-changed: parse the last good state again
            except Exception:
                # The cache is untouched (changes work on a copy): only this change is lost.
                outcomes.append(self._internal_error(type(message).__name__))
                working = None
        if changed:
            assert kind is not None and data is not None
            if working is None:  # the group's last change was refused: its last good state
                working = kind.message_cls.FromString(data)
            reshaped = reshaped or base is None or working.status.phase != base.phase
        return _Applied(outcomes, changed, reshaped, kind, working, data)

    def _gather(self, group: list[Envelope[Any]]) -> bool:
        """Under ``sync``, before the group's fsync: let the callers that are about to send a
        change get it in (rocksdict holds the GIL through a write, so nobody can queue during
        one), and take theirs into this group. True if it grew."""
        before = len(group)
        for _ in range(GATHER_YIELDS):
            if len(group) >= GATHER_LIMIT:
                break
            time.sleep(0)
            more = self.actor_inbox.take_leading(_is_change, GATHER_LIMIT - len(group))
            if not more:
                break
            group.extend(more)
        return len(group) > before

    def _change(self, message: Any, kind: Kind | None,
                current: Execution | None) -> tuple[Kind, Execution] | None:
        """One change on ``current`` (changed in place): (kind, execution), or None."""
        if isinstance(message, UpdateStatus):
            current = self._existing(message.kind, kind, current)
            apply_status(message.kind, current, message.status)
            return message.kind, current
        if isinstance(message, Create):
            if current is not None:
                raise AlreadyExists(f"execution {self._id} already exists")
            return message.kind, created(message.kind, message.execution, self._id)
        if isinstance(message, Update):
            current = self._existing(message.kind, kind, current)
            apply_update(current, message.execution)
            return message.kind, current
        assert isinstance(message, Expire)
        if current is None or kind is None:
            return None  # deleted meanwhile
        return self._expire(kind, current, message.reason)

    def _existing(self, wanted: Kind | None, kind: Kind | None, current: Execution | None) -> Execution:
        if current is None or (wanted is not None and wanted is not kind):
            what = f"{wanted.name} execution" if wanted else "execution"
            raise NotFound(f"{what} {self._id} does not exist")
        return current

    def _expire(self, kind: Kind, current: Execution, reason: str) -> tuple[Kind, Execution] | None:
        """A deadline passed: fail the execution if it is really still due, else re-arm."""
        parts = self._parts
        due = deadline(current, parts.timeouts)
        if due is None or due.reason != reason:
            return None  # the phase moved on (or the timer was turned off)
        if due.at > time.time():
            parts.watchdog.tell(Arm(self._id, due.reason, due.at))  # updates came in since
            return None
        why = self._no_runner_reason(kind) if reason == PENDING else None
        error = failure_message(reason, due.timeout, kind.name, why)
        logger.warning("failing execution: {error}", error=error, execution_id=self._id)
        if parts.metrics is not None:
            parts.metrics.watchdog_failures.labels(reason).inc()
        failed = kind.status_cls(phase=phases.FAILED, error=error, completed_at=now_iso())
        apply_status(kind, current, failed)
        return kind, current

    def _no_runner_reason(self, kind: Kind) -> str | None:
        """The engine's explanation for a missing runner of ``kind``; a hook that fails
        costs only the explanation (logged), never the expiry."""
        hook = self._parts.no_runner_reason
        if hook is None:
            return None
        try:
            return hook(kind.name)
        except Exception:
            logger.opt(exception=True).error("no_runner_reason failed", execution_id=self._id)
            return None

    def _persist(self, applied: _Applied, base: Snapshot | None) -> None:
        """Write the group's last state, made on ``base``; then it is the cache.

        Listing terms derive from phase, tags and owners, so they change only when the group
        changed one of those (``reshaped``); then the old ones come from ``base``, parsed
        again (cheaper than keeping every actor's terms in memory, ~0.6 KB each)."""
        kind, execution, data = applied.kind, applied.execution, applied.data
        assert kind is not None and execution is not None and data is not None
        parts = self._parts
        reshaped = applied.reshaped
        parts.store.commit(Write(
            self._id, kind, data, execution.status.version, execution.status.phase,
            expected=base.version if base is not None else 0,
            terms=terms_of(kind, execution) if reshaped else None,
            old_terms=_terms_of(base) if reshaped and base is not None else None,
            deadline=deadline(execution, parts.timeouts) if parts.store.shared else None,
        ))
        self._snapshot = Snapshot(kind, self._id, execution.status.version,
                                  execution.status.phase, data)

    def _after_change(self, execution: Execution, changes: list[Snapshot], watchers: int,
                      reshaped: bool, marks: tuple[float, ...]) -> None:
        """Metrics, one DEBUG line per group, the watchdog and the dispatcher."""
        parts = self._parts
        started, loaded_at, merged_at, persisted_at, fanned_at = marks
        n = len(changes)
        load, merge = (loaded_at - started) / n, (merged_at - loaded_at) / n
        persist, fan_out = (persisted_at - merged_at) / n, (fanned_at - persisted_at) / n
        metrics = parts.metrics
        if metrics is not None:
            for snapshot in changes:
                metrics.change(load, merge, persist, fan_out, watchers, len(snapshot.data))
        if debugging():
            logger.debug(
                "version {version} ({changes} changes in one write): load {load:.6f} s, merge "
                "{merge:.6f} s, persist {persist:.6f} s, fan-out {fan_out:.6f} s per change to "
                "{watchers} watchers", version=changes[-1].version, changes=n, load=load,
                merge=merge, persist=persist, fan_out=fan_out, watchers=watchers,
                execution_id=self._id,
            )
        if not reshaped:
            return  # same phase, spec and metadata: same timer, nothing for the dispatcher
        if not parts.store.shared:  # a shared store got the deadline with the record
            self._arm(execution)
        phase = execution.status.phase
        if phase != self._announced_phase:
            self._announced_phase = phase
            kind = changes[-1].kind
            parts.dispatcher.tell(PhaseChanged(self._id, kind, phase, workflow_id_of(execution)))

    def _arm(self, execution: Execution) -> None:
        """Tell the watchdog when this execution's timer changes (phase or timeout), not per update."""
        due = deadline(execution, self._parts.timeouts)
        armed = (due.reason, due.timeout) if due else None
        if armed == self._armed:
            return
        self._armed = armed
        if due is None:
            self._parts.watchdog.tell(Disarm(self._id))
        else:
            self._parts.watchdog.tell(Arm(self._id, due.reason, due.at))

    # Loading

    def _load(self) -> None:
        """Read the stored state into the cache, once. If the store cannot be read, the last
        state stays cached for the watchers' catch-ups (and ``_loaded`` False: read again)."""
        if self._loaded:
            return
        found = self._parts.store.load(self._id)
        self._snapshot = None if found is None else _snapshot_of(self._id, *found)
        self._loaded = True

    def _current(self, kind: Kind | None) -> Snapshot:
        """The stored state; NOT_FOUND if absent or of another kind."""
        self._load()
        snapshot = self._snapshot
        if snapshot is None or (kind is not None and kind is not snapshot.kind):
            what = f"{kind.name} execution" if kind else "execution"
            raise NotFound(f"{what} {self._id} does not exist")
        return snapshot

    # Delete and watchers

    def _delete(self, kind: Kind | None) -> Snapshot:
        for attempt in range(1, CONFLICT_ATTEMPTS + 1):
            snapshot = self._current(kind)
            try:
                self._parts.store.commit(Write(
                    self._id, snapshot.kind, None, snapshot.version, snapshot.phase,
                    expected=snapshot.version, terms=None, old_terms=_terms_of(snapshot)))
                break
            except Conflict:
                self._loaded = False  # changed on another node meanwhile: delete what is there
                if attempt == CONFLICT_ATTEMPTS:
                    raise Unavailable(f"execution {self._id} kept changing on other nodes; "
                                      "it was not deleted: try again") from None
            except Exception as error:
                self._loaded = False
                raise Unavailable(f"could not delete execution {self._id}: {error}") from None
        gone = dataclasses.replace(snapshot, deleted=True)
        self._fan_out(gone)
        self._parts.feed.publish(snapshot, (gone,))
        self._snapshot = None
        self._armed = None
        self._parts.watchdog.tell(Disarm(self._id))
        self._announced_phase = None
        self._parts.dispatcher.tell(PhaseChanged(self._id, gone.kind, GONE))
        logger.debug("deleted", execution_id=self._id)
        return gone

    def _refresh(self, version: int | None, state: tuple[str, bytes] | None) -> None:
        """Another node wrote this execution: if the cache is behind, read it again (or take
        the ``state`` read with the news) and give the watchers what changed (versions
        between may be coalesced, as for a slow reader)."""
        cached = self._snapshot if self._loaded else None
        if cached is not None and version and cached.version >= version:
            return
        if state is None and not self._watchers:
            self._loaded = False  # nobody to tell: the next use reads the store, not this
            return
        if state is not None and version:
            self._snapshot = _snapshot_of(self._id, *state)
            self._loaded = True
        else:
            self._loaded = False
            self._load()
        fresh = self._snapshot
        if fresh is None:
            if cached is not None:
                gone = dataclasses.replace(cached, deleted=True)
                self._fan_out(gone)
                self._parts.feed.publish(cached, (gone,))
            return
        if cached is None or fresh.version > cached.version:
            self._fan_out(fresh)
            self._parts.feed.publish(cached, (fresh,))

    def _subscribe(self, message: Subscribe) -> Snapshot:
        if self._parts.store.shared:
            self._loaded = False  # other nodes write too: start the watcher on the stored state
        snapshot = self._current(message.kind)
        if self._watchers is None:
            self._watchers = Watchers()
        self._count_watchers(lambda w: w.add(message.watch, snapshot))
        return snapshot

    def _fan_out(self, snapshot: Snapshot) -> None:
        if self._watchers:
            self._count_watchers(lambda w: w.offer(snapshot))

    def _count_watchers(self, change: Callable[[Watchers], None]) -> None:
        """Make a change to the watchers and tell the registry how their number moved."""
        watchers = self._watchers
        assert watchers is not None
        before = len(watchers)
        change(watchers)
        if len(watchers) != before:
            self._parts.watchers_changed(len(watchers) - before)

    def on_stop(self) -> None:
        # Only the engine's shutdown stops an actor that still has watchers (eviction
        # skips those): end their subscriptions instead of leaving consumers blocked.
        if self._watchers:
            self._count_watchers(Watchers.close)

    def __str__(self) -> str:
        return f"ExecutionActor({self._id})"


CONFLICT_ATTEMPTS = 8
"""Times a group is applied again after another node wrote the execution first (a shared
store); beyond, its changes are answered UNAVAILABLE and nothing of them is stored."""


@dataclass(slots=True)
class _Applied:
    """A group's changes applied in memory: what each change answers, and the result."""

    outcomes: list[Snapshot | EngineError | None]
    changed: int
    reshaped: bool
    kind: Kind | None
    execution: Execution | None
    data: bytes | None


def _snapshot_of(execution_id: str, tag: str, data: bytes) -> Snapshot:
    kind = BY_TAG[tag]
    status = kind.message_cls.FromString(data).status
    return Snapshot(kind, execution_id, status.version, status.phase, data)


def _terms_of(snapshot: Snapshot) -> Terms:
    return terms_of(snapshot.kind, snapshot.message())


def _reply(envelope: Envelope[Any], result: Any) -> None:
    if envelope.reply_to is not None:
        envelope.reply_to.set(result)
