"""Group commit: a burst of changes queued behind a busy ExecutionActor is applied in order
and written once; a fault in the middle of the group changes nothing that was not
acknowledged and acknowledges nothing that was not written.

The group is made deterministic: the first caller's store write is held (a gate in the
store's write), the others queue behind it one by one, then the gate opens and the actor
drains them as one batch.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stigmer_actors import Engine, errors, wire
from stigmer_actors.domain import phases, transitions
from stigmer_actors.observability import Metrics
from stigmer_actors.store.group_commit import GroupCommit
from tests.conftest import agent


class HeldWrites:
    """Wraps ``RocksStore._write``: counts writes, can hold one, can fail one."""

    def __init__(self, engine: Engine) -> None:
        self.store = engine.store
        self.real = engine.store._write
        self.writes = 0
        self.hold_next = threading.Event()
        self.entered = threading.Event()
        self.release = threading.Event()
        self.fail_next = False
        engine.store._write = self  # type: ignore[method-assign]

    def __call__(self, batch: Any) -> None:
        if self.hold_next.is_set():
            self.hold_next.clear()
            self.entered.set()
            assert self.release.wait(30)
        if self.fail_next:
            self.fail_next = False
            raise OSError("injected: the disk refused the write")
        self.real(batch)
        self.writes += 1


@pytest.fixture(params=["wal", "sync"])
def engine(data_dir: Path, request: pytest.FixtureRequest) -> Iterator[Engine]:
    with Engine(data_dir, durability=request.param, pending_timeout=0, heartbeat_timeout=0) as e:
        yield e


def _queue_behind_a_held_write(engine: Engine, eid: str, held: HeldWrites,
                               statuses: list[wire.AgentExecutionStatus]) -> list[Any]:
    """First update held in its store write; then each status sent from its own thread, in
    order, each queued before the next is sent; then the write released. Returns each
    call's reply or error, first call's included."""
    outcomes: list[Any] = [None] * (len(statuses) + 1)
    mailbox = engine.core.registry._actors[eid].actor_inbox

    def call(i: int, status: wire.AgentExecutionStatus) -> None:
        try:
            outcomes[i] = engine.update_status(eid, status)
        except errors.EngineError as error:
            outcomes[i] = error

    held.hold_next.set()
    first = threading.Thread(target=call, args=(0, wire.AgentExecutionStatus(error="first")))
    first.start()
    assert held.entered.wait(10)
    threads = [first]
    for i, status in enumerate(statuses, start=1):
        t = threading.Thread(target=call, args=(i, status))
        t.start()
        threads.append(t)
        deadline = time.monotonic() + 10
        while len(mailbox._queue) < i:  # wait until it is queued: the group's order is ours
            assert time.monotonic() < deadline, "a change never reached the mailbox"
            time.sleep(0.001)
    writes_before_release = held.writes
    held.release.set()
    for t in threads:
        t.join(30)
    outcomes.append(held.writes - writes_before_release)
    return outcomes


def test_a_queued_burst_is_one_write_with_a_version_and_a_reply_each(engine: Engine) -> None:
    eid = engine.create(agent()).metadata.id
    watch = engine.subscribe(eid)
    assert watch.get(timeout=5).status.version == 1
    held = HeldWrites(engine)
    burst = [wire.AgentExecutionStatus(error=f"e{i}") for i in range(10)]
    *replies, writes = _queue_behind_a_held_write(engine, eid, held, burst)
    assert writes == 2  # the held one, then the whole burst in one
    assert [r.status.version for r in replies] == list(range(2, 13))
    assert [r.status.error for r in replies] == ["first", *[f"e{i}" for i in range(10)]]
    assert engine.get(eid) == replies[-1]
    seen = [watch.get(timeout=5).status.version]
    while seen[-1] < 12:
        seen.append(watch.get(timeout=5).status.version)
    assert seen == sorted(set(seen)) and seen[-1] == 12  # increasing, ending on the newest
    watch.close()


def test_a_refused_change_and_a_failing_handler_cost_only_themselves(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In one group: an accepted change, the terminal one, a phase change refused because of
    it (terminal is final), a change whose handler raises, and a later accepted change."""
    real_apply = transitions.apply_status

    def apply_or_raise(kind: Any, stored: Any, incoming: Any) -> None:
        if incoming.error == "raise":
            stored.status.error = "half-applied"  # a change that fails half-way
            raise RuntimeError("injected handler fault")
        real_apply(kind, stored, incoming)

    monkeypatch.setattr("stigmer_actors.actors.execution.apply_status", apply_or_raise)
    eid = engine.create(agent()).metadata.id
    watch = engine.subscribe(eid)
    assert watch.get(timeout=5).status.version == 1
    held = HeldWrites(engine)
    burst = [
        wire.AgentExecutionStatus(error="accepted"),
        wire.AgentExecutionStatus(phase=phases.COMPLETED),
        wire.AgentExecutionStatus(phase=phases.IN_PROGRESS),  # refused: already COMPLETED
        wire.AgentExecutionStatus(error="raise"),  # its handler fails
        wire.AgentExecutionStatus(completed_at="later"),  # still merges (phase unspecified)
    ]
    first, accepted, completed, refused, raised, later, writes = _queue_behind_a_held_write(
        engine, eid, held, burst)
    assert writes == 2
    assert (first.status.version, accepted.status.version, completed.status.version) == (2, 3, 4)
    assert isinstance(refused, errors.FailedPrecondition) and "already EXECUTION_COMPLETED" in refused.message
    assert isinstance(raised, errors.Internal)
    assert later.status.version == 5 and later.status.error == "accepted"  # not "half-applied"
    assert later.status.phase == phases.COMPLETED and later.status.completed_at == "later"
    assert engine.get(eid) == later
    versions = []
    for state in watch:  # ends at the terminal state, the first final one
        versions.append(state.status.version)
    assert versions[-1] == 4 and versions == sorted(set(versions))


def test_a_failed_group_write_acknowledges_nothing_and_stores_nothing(engine: Engine) -> None:
    eid = engine.create(agent()).metadata.id
    watch = engine.subscribe(eid)
    assert watch.get(timeout=5).status.version == 1
    held = HeldWrites(engine)
    first_written = engine.update_status(eid, wire.AgentExecutionStatus(error="before"))
    burst = [wire.AgentExecutionStatus(error=f"lost{i}") for i in range(5)]

    real = held.real
    calls = {"n": 0}

    def fail_second(batch: Any) -> None:  # the held write passes, the group's write fails
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("injected: the disk refused the write")
        real(batch)

    held.real = fail_second
    first, *group, _ = _queue_behind_a_held_write(engine, eid, held, burst)
    assert first.status.version == 3
    for outcome in group:
        assert isinstance(outcome, errors.Unavailable), outcome
        assert "could not store" in outcome.message and "disk refused" in outcome.message
    assert engine.get(eid) == first  # nothing of the failed group is stored
    assert first_written.status.version == 2
    seen = []
    while not seen or seen[-1] < 3:
        seen.append(watch.get(timeout=5).status.version)
    with pytest.raises(TimeoutError):
        watch.get(timeout=0.3)  # and no watcher heard of it
    after = engine.update_status(eid, wire.AgentExecutionStatus(error="after"))
    assert after.status.version == 4  # the versions of the failed group were never used
    assert watch.get(timeout=5).status.version == 4
    watch.close()


def test_group_commit_shares_one_write_and_answers_each_writer() -> None:
    """GroupCommit on its own: writers queued during a write go out together in the next
    one; each returns only after the write that carried its batch; an error goes to every
    writer of its group and to no other."""
    written: list[list[int]] = []
    gate = threading.Event()
    entered = threading.Event()
    fail = {"group": None}

    def write(batch: list[int]) -> None:
        if not written:
            entered.set()
            assert gate.wait(10)
        if fail["group"] == len(written):
            written.append([])
            raise OSError("injected")
        written.append(list(batch))

    group: GroupCommit[list[int]] = GroupCommit(list, write)
    results: dict[int, str] = {}

    def writer(i: int) -> None:
        try:
            group.write(lambda batch: batch.append(i))
            assert any(i in w for w in written)  # durable before it returns
            results[i] = "ok"
        except OSError:
            results[i] = "failed"

    first = threading.Thread(target=writer, args=(0,))
    first.start()
    assert entered.wait(10)
    others = [threading.Thread(target=writer, args=(i,)) for i in range(1, 9)]
    for t in others:
        t.start()
    deadline = time.monotonic() + 10
    while len(group._queue) < 8:
        assert time.monotonic() < deadline
        time.sleep(0.001)
    gate.set()
    for t in [first, *others]:
        t.join(10)
    assert written == [[0], list(range(1, 9))]
    assert results == {i: "ok" for i in range(9)}
    assert (group.writes, group.batches) == (2, 9)

    fail["group"] = 2  # the next group fails as a whole, and the one after is fine again
    gate.clear()
    failing = [threading.Thread(target=writer, args=(i,)) for i in range(10, 13)]
    for t in failing:
        t.start()
    for t in failing:
        t.join(10)
    assert {results[i] for i in range(10, 13)} <= {"failed", "ok"}
    assert any(results[i] == "failed" for i in range(10, 13))
    assert all(i not in w for w in written for i in range(10, 13) if results[i] == "failed")
    writer(20)
    assert results[20] == "ok" and written[-1] == [20]


def test_a_group_whose_last_change_is_refused_writes_the_ones_before(engine: Engine) -> None:
    """The last change of a group refused (a workflow status for an agent execution): the
    accepted ones before it are written, and its refusal changes nothing."""
    eid = engine.create(agent()).metadata.id
    held = HeldWrites(engine)
    burst = [
        wire.AgentExecutionStatus(error="kept"),
        wire.WorkflowExecutionStatus(error="wrong kind"),
    ]
    first, kept, refused, writes = _queue_behind_a_held_write(engine, eid, held, burst)
    assert writes == 2
    assert first.status.version == 2 and kept.status.version == 3
    assert isinstance(refused, errors.NotFound)
    assert engine.get(eid) == kept


@pytest.mark.parametrize("durability", ["wal", "sync"])
def test_a_refused_last_change_after_a_phase_change_leaves_the_actor_working(
    data_dir: Path, durability: str
) -> None:
    """The bookkeeping after a group's write (metrics per change, the dispatcher told of the
    new phase) reads only the group's accepted changes: a refused one last in the group, after
    one that moved the phase, must not fail the actor (which would drop its watchers)."""
    with Engine(data_dir, durability=durability, pending_timeout=0, heartbeat_timeout=0,
                metrics=Metrics()) as engine:
        eid = engine.create(agent()).metadata.id
        watch = engine.subscribe(eid)
        assert watch.get(timeout=5).status.version == 1
        held = HeldWrites(engine)
        burst = [
            wire.AgentExecutionStatus(phase=phases.IN_PROGRESS),  # the phase moves: reshaped
            wire.WorkflowExecutionStatus(error="wrong kind"),  # refused, last in the group
        ]
        first, moved, refused, writes = _queue_behind_a_held_write(engine, eid, held, burst)
        assert writes == 2
        assert moved.status.version == 3 and moved.status.phase == phases.IN_PROGRESS
        assert isinstance(refused, errors.NotFound)
        after = engine.update_status(eid, wire.AgentExecutionStatus(error="after"))
        assert after.status.version == 4
        seen = [watch.get(timeout=5).status.version]
        while seen[-1] < 4:  # the watcher hears of the change after the group
            seen.append(watch.get(timeout=5).status.version)
        assert seen == sorted(set(seen))
        watch.close()
