"""Failures nobody reports (no runner, a runner gone silent) still reach every watcher."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from stigmer_actors import Engine, wire
from stigmer_actors.domain import phases
from stigmer_actors.domain.timeouts import HEARTBEAT_ANNOTATION, PENDING_ANNOTATION
from stigmer_actors.errors import FailedPrecondition, InvalidArgument
from tests.conftest import agent, workflow

AgentStatus = wire.AgentExecutionStatus


def _created_at(execution) -> float:
    return execution.status.audit.spec_audit.created_at.ToNanoseconds() / 1e9


def _last(subscription, timeout: float):
    states = []
    while True:
        try:
            states.append(subscription.get(timeout=timeout))
        except StopIteration:
            return states


def test_pending_timeout_fails_and_ends_the_watchers_stream(data_dir: Path) -> None:
    with Engine(data_dir, pending_timeout=0.5) as engine:
        created = engine.create(workflow())
        states = _last(engine.subscribe(created.metadata.id), timeout=5)
        failed = states[-1]
        assert [s.status.phase for s in states] == [phases.PENDING, phases.FAILED]
        assert failed.status.error == (
            "no runner picked up this execution within 0.5 s: "
            "is a runner for workflow executions running and connected?"
        )
        assert failed.status.completed_at
        took = time.time() - _created_at(created)
        assert 0.5 <= took < 3.0  # detected, not merely eventually (slack for a loaded machine)
        assert engine.get(created.metadata.id) == failed
        assert engine.core.watchdog.proxy().fired.get().get("pending") == 1
        with pytest.raises(FailedPrecondition, match="EXECUTION_FAILED"):  # a zombie runner
            engine.update_status(created.metadata.id, wire.WorkflowExecutionStatus(phase=phases.COMPLETED))


def test_heartbeat_postponed_by_updates_then_fails_when_they_stop(data_dir: Path) -> None:
    with Engine(data_dir, heartbeat_timeout=1.0) as engine:
        eid = engine.create(agent()).metadata.id
        sub = engine.subscribe(eid)
        sub.get(timeout=5)
        engine.update_status(eid, AgentStatus(phase=phases.IN_PROGRESS))
        assert sub.get(timeout=5).status.phase == phases.IN_PROGRESS
        for beat in range(6):  # 6 x 0.25 s = 1.5 s alive, well past one 1.0 s timeout
            with pytest.raises(TimeoutError):
                sub.get(timeout=0.25)  # nothing happened meanwhile: no failure yet
            engine.update_status(eid, AgentStatus(error=f"beat {beat}"))
            assert sub.get(timeout=5).status.phase == phases.IN_PROGRESS
        last_beat = time.time()
        failed = _last(sub, timeout=5)[-1]
        assert failed.status.phase == phases.FAILED
        assert failed.status.error.startswith("the runner stopped sending updates: none for 1 s")
        assert 1.0 <= time.time() - last_beat < 3.0


def test_annotations_override_the_defaults(data_dir: Path) -> None:
    with Engine(data_dir, pending_timeout=60, heartbeat_timeout=0.3) as engine:
        quick = engine.create(agent(annotations={PENDING_ANNOTATION: "0.3"}))
        assert _last(engine.subscribe(quick.metadata.id), timeout=5)[-1].status.phase == phases.FAILED

        never = engine.create(agent(annotations={HEARTBEAT_ANNOTATION: "0"}))
        engine.update_status(never.metadata.id, AgentStatus(phase=phases.IN_PROGRESS))
        sub = engine.subscribe(never.metadata.id)
        sub.get(timeout=5)
        with pytest.raises(TimeoutError):
            sub.get(timeout=1.0)  # three default heartbeat timeouts pass without a failure
        sub.close()
        for bad in ("soon", "-1", "nan", "inf"):
            with pytest.raises(InvalidArgument, match=PENDING_ANNOTATION):
                engine.create(agent(annotations={PENDING_ANNOTATION: bad}))


def test_timers_resume_after_restart_counting_the_time_already_elapsed(data_dir: Path) -> None:
    with Engine(data_dir, pending_timeout=60) as engine:
        created = engine.create(agent())
        running = engine.create(workflow())
        engine.update_status(running.metadata.id, wire.WorkflowExecutionStatus(phase=phases.IN_PROGRESS))
        done = engine.create(agent())
        engine.update_status(done.metadata.id, AgentStatus(phase=phases.COMPLETED))
    # Downtime between two runs of the service (simulated time passing, not synchronization).
    time.sleep(1.5)  # downtime to simulate: time must pass; there is no event to await
    with Engine(data_dir, pending_timeout=2.0, heartbeat_timeout=2.0) as engine:
        assert engine.core.rearmed == 2  # the PENDING and the IN_PROGRESS one, not the done one
        failed = _last(engine.subscribe(created.metadata.id), timeout=5)[-1]
        took = time.time() - _created_at(created)
        # Counted from creation, not from the reopen: not counting would give >= 1.5 + 2.0.
        assert failed.status.phase == phases.FAILED and 2.0 <= took < 3.5
        assert _last(engine.subscribe(running.metadata.id), timeout=5)[-1].status.phase == phases.FAILED
        assert engine.get(done.metadata.id).status.phase == phases.COMPLETED


def test_deleted_or_finished_executions_are_left_alone(data_dir: Path) -> None:
    with Engine(data_dir, pending_timeout=0.3) as engine:
        gone = engine.create(agent()).metadata.id
        engine.delete(gone)
        finished = engine.create(agent()).metadata.id
        engine.update_status(finished, AgentStatus(phase=phases.IN_PROGRESS))
        engine.update_status(finished, AgentStatus(phase=phases.COMPLETED))
        witness = engine.create(agent()).metadata.id  # same timeout: fails after both deadlines
        assert _last(engine.subscribe(witness), timeout=5)[-1].status.phase == phases.FAILED
        assert engine.get(finished).status.phase == phases.COMPLETED
        assert engine.list("agent").total_pages == 1 and len(engine.list("agent").entries) == 2
