"""One value must not break what every execution shares: durations and counts from a request
have a bound checked at the door, and the long-lived loops (the watchdog's actor and ticker,
the store's recovery, the idle reaper, resuming from disk) drop an item that raises,
logged and counted, and go on."""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path

import grpc
import pytest

from stigmer_actors import AGENT, Engine, wire
from stigmer_actors.actors.watchdog import Arm, WatchdogActor
from stigmer_actors.client import StigmerClient
from stigmer_actors.domain import phases
from stigmer_actors.domain.errors import InvalidArgument
from stigmer_actors.domain.timeouts import HEARTBEAT_ANNOTATION, PENDING_ANNOTATION
from stigmer_actors.store.base import Terms, Write
from stigmer_actors.store.health import StoreHealth
from stigmer_actors.store.rocks import RocksStore
from tests.conftest import agent
from tests.daemon import Daemon

BOUND = "must be a number of seconds from 0 to 2,592,000 (30 days)"


def test_timeout_annotations_beyond_the_bound_are_refused_at_the_door(served) -> None:
    engine, _, client = served
    for key, value in ((PENDING_ANNOTATION, "1e10"), (HEARTBEAT_ANNOTATION, "2592001"),
                       (PENDING_ANNOTATION, "inf"), (PENDING_ANNOTATION, "soon")):
        with pytest.raises(grpc.RpcError) as refused:
            client.create(agent(annotations={key: value}))
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert refused.value.details() == f"metadata.annotations[{key}] {BOUND}, not {value!r}"
    kept = client.create(agent(annotations={PENDING_ANNOTATION: "2592000"}))  # the bound itself
    update = wire.AgentExecution()
    update.CopyFrom(kept)
    update.metadata.annotations[HEARTBEAT_ANNOTATION] = "1e10"
    with pytest.raises(grpc.RpcError) as refused:
        client._command[AGENT].update(update, timeout=10)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert BOUND in refused.value.details()
    assert [e.metadata.id for e in engine.list("agent").entries] == [kept.metadata.id]
    assert HEARTBEAT_ANNOTATION not in engine.get(kept.metadata.id).metadata.annotations


def test_embedded_timeouts_beyond_the_bound_are_refused(data_dir: Path) -> None:
    with pytest.raises(InvalidArgument, match="pending_timeout must be a number of seconds from 0 to 2,592,000"):
        Engine(data_dir, pending_timeout=1e10)
    with pytest.raises(InvalidArgument, match="heartbeat_timeout"):
        Engine(data_dir, heartbeat_timeout=math.nan)


def test_claim_capacity_beyond_the_bound_is_refused(served) -> None:
    _, _, client = served
    with pytest.raises(grpc.RpcError) as refused:
        next(client.claim(AGENT, "greedy", capacity=5000))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.value.details() == "capacity is 5000; it must be from 0 (means 1) to 1,000"


def test_bad_values_stored_by_an_older_version_do_not_stop_the_timers(data_dir: Path) -> None:
    """An older version accepted "1e10" (it killed the watchdog's ticker, and again on every
    restart); a record may be unreadable. Written straight into the store here, then the
    daemon restarted: it starts, and timers still fire for the other executions."""
    daemon = Daemon(data_dir, "--pending-timeout", "60")
    with StigmerClient(daemon.address) as client:
        far = client.create(agent(annotations={PENDING_ANNOTATION: "60"})).metadata.id
        wordy = client.create(agent(annotations={PENDING_ANNOTATION: "60"})).metadata.id
    assert daemon.terminate() == 0

    store = RocksStore(data_dir)
    for eid, value in ((far, "1e10"), (wordy, "soon")):
        tag, data = store.load(eid)
        execution = wire.AgentExecution.FromString(data)
        execution.metadata.annotations[PENDING_ANNOTATION] = value
        store.commit(Write(eid, AGENT, execution.SerializeToString(), execution.status.version,
                           execution.status.phase, expected=execution.status.version,
                           terms=None, old_terms=None))
    unreadable = "aex-unreadable"
    pending = Terms(phases.PENDING, frozenset(), frozenset())
    store.commit(Write(unreadable, AGENT, b"\xff\xfe not a protobuf", 1, phases.PENDING,
                       expected=0, terms=pending, old_terms=None))
    store.close()

    daemon = Daemon(data_dir, "--pending-timeout", "1")
    try:
        with StigmerClient(daemon.address) as client:
            soon = client.create(agent(annotations={PENDING_ANNOTATION: "1"})).metadata.id
            for eid in (soon, wordy):  # "soon" is read as the default now: 1 s
                states = list(client.watch(eid))
                assert states[-1].status.phase == phases.FAILED, eid
                assert "within 1 s" in states[-1].status.error
            assert client.get(far).status.phase == phases.PENDING  # 30 days, not forever
        log = "".join(daemon.log)
        assert f"skipped resuming {unreadable!r}: DecodeError(" in log
    finally:
        assert daemon.terminate() == 0


def test_watchdog_ticker_outlives_a_deadline_too_far_to_wait_for() -> None:
    expired = threading.Event()
    before = set(threading.enumerate())
    watchdog = WatchdogActor.start(lambda eid, reason: expired.set() if eid == "soon" else None)
    assert watchdog.proxy().fired.get() == {}  # on_start, which starts the ticker, has run
    [ticker] = [t for t in set(threading.enumerate()) - before if t.name == "watchdog-ticker"]
    try:
        watchdog.tell(Arm("far", "pending", time.time() + 1e300))  # Condition.wait overflowed
        assert watchdog.proxy().fired.get() == {}  # taken, and the ticker told of it
        deadline = time.monotonic() + 2
        while ticker.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)  # polling a condition with a deadline: it must stay alive
        assert ticker.is_alive(), "the ticker died on a far deadline"
        watchdog.tell(Arm("soon", "pending", time.time() + 0.3))
        assert expired.wait(timeout=10), "later deadlines never fire"
    finally:
        watchdog.stop()


def test_watchdog_drops_an_item_that_fails_and_keeps_firing_the_others() -> None:
    fired: list[str] = []
    good = threading.Event()
    counted: list[int] = []

    def expire(eid: str, reason: str) -> None:
        if eid == "poison":
            raise RuntimeError("the execution's actor cannot be reached")
        fired.append(eid)
        good.set()

    watchdog = WatchdogActor.start(expire, lambda: counted.append(1))
    try:
        now = time.time()
        watchdog.tell(Arm("poison", "pending", now))
        watchdog.tell(Arm("not-a-time", "pending", math.nan))
        watchdog.tell(Arm("good", "pending", now + 0.3))
        assert good.wait(timeout=10), "one failing item stopped the watchdog"
        assert fired == ["good"]
        assert watchdog.proxy().errors.get() == 2 and len(counted) == 2
        assert watchdog.proxy().fired.get() == {"pending": 2}  # poison's deadline did pass
    finally:
        watchdog.stop()


def test_store_recovery_outlives_an_attempt_that_raises() -> None:
    outcomes = iter([RuntimeError("probe broke"), RuntimeError("again"), False, True])
    heard: list[str | None] = []
    recovered = threading.Event()

    def attempt() -> bool:
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def listen(cause: str | None) -> None:
        heard.append(cause)
        if cause is None:
            recovered.set()

    health = StoreHealth(attempt)
    health.listen(listen)
    health.failed("IO error: disk on fire")
    assert recovered.wait(timeout=30), "the recovery loop died"
    assert heard == ["IO error: disk on fire", None]
    assert health.attempt_errors == 2 and health.cause is None and health.failures == 1
    health.stop()


def test_idle_reaper_outlives_a_failed_eviction(data_dir: Path, monkeypatch) -> None:
    with Engine(data_dir, idle_timeout=0.2, pending_timeout=0, heartbeat_timeout=0) as engine:
        registry = engine.core.registry
        real = registry.evict_idle
        calls = []

        def evict_once_failing() -> int:
            calls.append(1)
            if len(calls) == 1:
                raise RuntimeError("an actor would not stop")
            return real()

        monkeypatch.setattr(registry, "evict_idle", evict_once_failing)
        engine.create(agent())
        assert registry.wait_live_at_most(0, timeout=10), "the reaper died with its first error"
        assert len(calls) >= 2
