"""Engine semantics of ../shared/API.md: create, errors, subscribe, delete, list, supervision."""

from __future__ import annotations

import threading
from pathlib import Path

import pykka
import pytest

from stigmer_actors import AGENT, WORKFLOW, Engine, wire
from stigmer_actors.domain import phases, transitions
from stigmer_actors.errors import (
    AlreadyExists,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    NotFound,
    Unavailable,
)
from tests.conftest import agent, workflow

AgentStatus = wire.AgentExecutionStatus
WorkflowStatus = wire.WorkflowExecutionStatus


def test_create_assigns_id_pending_version_and_ignores_status(engine: Engine) -> None:
    request = agent()
    request.status.phase = phases.COMPLETED
    request.status.error = "client-sent"
    created = engine.create(request)
    assert created.metadata.id.startswith("aex-")
    assert (created.api_version, created.kind) == ("agentic.stigmer.ai/v1", "AgentExecution")
    assert created.status.phase == phases.PENDING and created.status.error == ""
    assert created.status.version == 1
    assert created.status.audit.spec_audit.created_at.seconds > 0
    assert created.status.audit.status_audit.updated_at.seconds > 0
    assert engine.get(created.metadata.id) == created
    w = engine.create(workflow())
    assert w.metadata.id.startswith("wex-") and w.kind == "WorkflowExecution"


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (wire.AgentExecution(spec={"session_id": "s"}), "spec.message"),
        (wire.AgentExecution(spec={"message": "m"}), "spec.session_id"),
        (wire.WorkflowExecution(), "spec.workflow_instance_id"),
        (wire.AgentExecution(metadata={"id": "x" * 257}, spec={"message": "m", "agent_id": "a"}), "metadata.id"),
        (wire.AgentExecution(metadata={"id": "bad\nid"}, spec={"message": "m", "agent_id": "a"}), "metadata.id"),
        (wire.AgentExecution(metadata={"tags": [""]}, spec={"message": "m", "agent_id": "a"}), "metadata.tags[0]"),
    ],
)
def test_create_rejects_invalid_input_naming_the_field(engine: Engine, request_, field: str) -> None:
    with pytest.raises(InvalidArgument, match=field.replace("[", r"\[").replace("]", r"\]")):
        engine.create(request_)
    assert engine.list("agent").entries == [] and engine.list("workflow").entries == []


def test_client_id_kept_and_duplicate_refused(engine: Engine) -> None:
    assert engine.create(agent(id="my-run")).metadata.id == "my-run"
    with pytest.raises(AlreadyExists, match="my-run"):
        engine.create(agent(id="my-run"))
    with pytest.raises(AlreadyExists):
        engine.create(workflow(id="my-run"))  # ids are unique across kinds


def test_racing_creates_of_one_new_id_meet_one_actor(engine: Engine) -> None:
    outcomes: list[str] = []
    barrier = threading.Barrier(16)

    def create() -> None:
        barrier.wait()
        try:
            engine.create(agent(id="race"))
            outcomes.append("created")
        except AlreadyExists:
            outcomes.append("exists")

    threads = [threading.Thread(target=create) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["created"] + ["exists"] * 15
    assert engine.core.registry.spawned == 1


def test_update_status_errors(engine: Engine) -> None:
    eid = engine.create(agent()).metadata.id
    with pytest.raises(InvalidArgument, match="execution_id"):
        engine.update_status("", AgentStatus())
    with pytest.raises(InvalidArgument, match="status"):
        engine.core.update_status(eid, None)
    with pytest.raises(NotFound, match="nope"):
        engine.update_status("nope", AgentStatus(error="x"))
    with pytest.raises(NotFound):  # a workflow status for an agent execution
        engine.update_status(eid, WorkflowStatus(error="x"))
    with pytest.raises(InvalidArgument, match="status.phase"):
        engine.update_status(eid, AgentStatus(phase=42))
    assert engine.get(eid).status.version == 1


def test_terminal_is_final_but_unspecified_phase_still_merges(engine: Engine) -> None:
    eid = engine.create(agent()).metadata.id
    engine.update_status(eid, AgentStatus(phase=phases.FAILED, error="runner gone"))
    for phase in (phases.IN_PROGRESS, phases.COMPLETED, phases.PENDING):
        with pytest.raises(FailedPrecondition, match="EXECUTION_FAILED"):
            engine.update_status(eid, AgentStatus(phase=phase))
    late = engine.update_status(eid, AgentStatus(completed_at="2026-11-23T12:00:00Z"))
    assert late.status.phase == phases.FAILED and late.status.completed_at.startswith("2026")
    same = engine.update_status(eid, AgentStatus(phase=phases.FAILED, error="again"))
    assert same.status.error == "again"


def test_update_replaces_spec_and_metadata_keeps_status_and_id(engine: Engine) -> None:
    created = engine.create(agent(tags=["a"]))
    engine.update_status(created.metadata.id, AgentStatus(phase=phases.IN_PROGRESS, error="e"))
    request = agent(message="changed", session_id="sess-9", id=created.metadata.id, tags=["b"])
    updated = engine.update(request)
    assert updated.spec.message == "changed" and list(updated.metadata.tags) == ["b"]
    assert updated.status.phase == phases.IN_PROGRESS and updated.status.error == "e"
    assert updated.status.version == 3
    assert [e.metadata.id for e in engine.list("agent", tags=["b"]).entries] == [created.metadata.id]
    assert engine.list("agent", tags=["a"]).entries == []
    assert len(engine.list("agent", owner="sess-9").entries) == 1
    with pytest.raises(NotFound):
        engine.update(agent(id="missing"))


def test_subscribe_first_state_then_updates_then_end_on_terminal(engine: Engine) -> None:
    eid = engine.create(workflow()).metadata.id
    with engine.subscribe(eid) as sub:
        assert sub.get(timeout=5).status.version == 1
        engine.update_status(eid, WorkflowStatus(phase=phases.IN_PROGRESS))
        assert sub.get(timeout=5).status.phase == phases.IN_PROGRESS
        with pytest.raises(TimeoutError):
            sub.get(timeout=0.05)
        engine.update_status(eid, WorkflowStatus(phase=phases.CANCELLED))
        assert sub.get(timeout=5).status.phase == phases.CANCELLED
        with pytest.raises(StopIteration):
            sub.get(timeout=5)


def test_subscribe_to_terminal_execution_sends_it_and_ends(engine: Engine) -> None:
    eid = engine.create(agent()).metadata.id
    engine.update_status(eid, AgentStatus(phase=phases.COMPLETED))
    states = list(engine.subscribe(eid))
    assert [s.status.phase for s in states] == [phases.COMPLETED]


def test_subscribe_unknown_or_wrong_kind_is_not_found(engine: Engine) -> None:
    with pytest.raises(NotFound):
        engine.subscribe("unknown")
    eid = engine.create(agent()).metadata.id
    with pytest.raises(NotFound):
        engine.subscribe(eid, WORKFLOW)
    with pytest.raises(NotFound):
        engine.get(eid, WORKFLOW)
    assert engine.get(eid, AGENT).metadata.id == eid


def test_delete_returns_last_state_ends_subscriptions(engine: Engine) -> None:
    eid = engine.create(agent(tags=["x"])).metadata.id
    engine.update_status(eid, AgentStatus(phase=phases.IN_PROGRESS))
    sub = engine.subscribe(eid)
    assert sub.get(timeout=5).status.version == 2
    deleted = engine.delete(eid)
    assert deleted.status.version == 2
    with pytest.raises(StopIteration):
        sub.get(timeout=5)
    with pytest.raises(NotFound):
        engine.get(eid)
    with pytest.raises(NotFound):
        engine.delete(eid)
    assert engine.list("agent", tags=["x"]).entries == []
    assert engine.list("agent", phase=phases.IN_PROGRESS).entries == []


def test_list_filters_and_paginates(engine: Engine) -> None:
    ids = [engine.create(agent(session_id=f"s{i % 2}", tags=["t"] * (i % 3 == 0))).metadata.id
           for i in range(25)]
    for eid in ids[:5]:
        engine.update_status(eid, AgentStatus(phase=phases.IN_PROGRESS))
    engine.create(workflow())

    seen, token, pages = [], "", 0
    while True:
        page = engine.list("agent", page_size=10, page_token=token)
        assert page.total_pages == 3
        seen += [e.metadata.id for e in page.entries]
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert seen == ids and pages == 3
    assert [e.metadata.id for e in engine.list("agent", phase=phases.IN_PROGRESS).entries] == ids[:5]
    assert [e.metadata.id for e in engine.list("agent", phase=phases.PENDING).entries] == ids[5:]
    assert [e.metadata.id for e in engine.list("agent", owner="s1").entries] == ids[1::2]
    tagged = engine.list("agent", tags=["t"], phase=phases.IN_PROGRESS).entries
    assert [e.metadata.id for e in tagged] == [ids[0], ids[3]]
    assert engine.list("agent", owner="nobody").total_pages == 0
    assert len(engine.list("workflow").entries) == 1
    by_number = [e.metadata.id for n in (1, 2, 3) for e in engine.list("agent", page_size=10, page_token=str(n)).entries]
    assert by_number == ids
    assert engine.list("agent", page_size=10, page_token="4").entries == []
    for bad in ("garbage", "cDE6", "!!", "0"):
        with pytest.raises(InvalidArgument, match="page_token"):
            engine.list("agent", page_token=bad)
    with pytest.raises(InvalidArgument, match="page_size"):
        engine.list("agent", page_size=-1)


def test_idle_actor_is_evicted_and_state_reloads(data_dir: Path) -> None:
    with Engine(data_dir, idle_timeout=0.05) as engine:
        eid = engine.create(agent()).metadata.id
        engine.update_status(eid, AgentStatus(error="before"))
        assert engine.core.registry.wait_live_at_most(0, timeout=10)
        after = engine.update_status(eid, AgentStatus(started_at="t"))
        assert after.status.error == "before" and after.status.version == 3
        assert engine.core.registry.spawned >= 2  # 3 if a stall evicted it before the first update


def test_subscribed_actor_is_not_evicted(data_dir: Path) -> None:
    with Engine(data_dir, idle_timeout=0.05) as engine:
        eid = engine.create(agent()).metadata.id
        sub = engine.subscribe(eid)
        sub.get(timeout=5)
        other = engine.create(agent()).metadata.id
        # The other, unsubscribed actor is evicted; the subscribed one stays.
        assert engine.core.registry.wait_live_at_most(1, timeout=10)
        assert engine.core.registry.evicted >= 1 and engine.core.registry.live() == 1
        engine.update_status(eid, AgentStatus(phase=phases.COMPLETED))
        assert sub.get(timeout=5).status.phase == phases.COMPLETED
        assert engine.get(other).status.version == 1


def test_handler_failure_answers_internal_and_actor_recovers(engine: Engine, monkeypatch) -> None:
    eid = engine.create(agent()).metadata.id
    sub = engine.subscribe(eid)
    sub.get(timeout=5)
    real = transitions.apply_status
    calls = {"n": 0}

    def flaky(kind, stored, incoming):
        calls["n"] += 1
        if calls["n"] == 1:
            stored.status.error = "half-applied"  # a partial mutation, then a crash
            raise RuntimeError("bug in a handler")
        return real(kind, stored, incoming)

    monkeypatch.setattr("stigmer_actors.actors.execution.apply_status", flaky)
    with pytest.raises(Internal, match=eid):
        engine.update_status(eid, AgentStatus(error="x"))
    with pytest.raises(TimeoutError):
        sub.get(timeout=0.1)  # nothing was broadcast
    assert engine.get(eid).status.version == 1
    ok = engine.update_status(eid, AgentStatus(started_at="s"))
    assert ok.status.version == 2 and ok.status.error == ""  # reloaded, not half-applied
    assert sub.get(timeout=5).status.version == 2


def test_store_write_failure_changes_nothing(engine: Engine, monkeypatch) -> None:
    eid = engine.create(agent()).metadata.id
    sub = engine.subscribe(eid)
    sub.get(timeout=5)
    store_type = type(engine.store)
    real = store_type.commit

    def failing(self, *args, **kwargs):
        raise OSError("IO error: No space left on device")

    monkeypatch.setattr(store_type, "commit", failing)
    with pytest.raises(Unavailable, match="No space left"):
        engine.update_status(eid, AgentStatus(phase=phases.IN_PROGRESS, error="lost?"))
    monkeypatch.setattr(store_type, "commit", real)
    with pytest.raises(TimeoutError):
        sub.get(timeout=0.1)
    stored = engine.get(eid)
    assert stored.status.version == 1 and stored.status.error == ""
    assert engine.list("agent", phase=phases.IN_PROGRESS).entries == []
    assert engine.update_status(eid, AgentStatus(error="ok")).status.version == 2


def test_actors_stay_out_of_pykkas_global_registry(engine: Engine) -> None:
    eid = engine.create(agent()).metadata.id
    with engine.subscribe(eid):
        assert engine.core.registry.live() == 1
        assert pykka.ActorRegistry.get_all() == []


def test_closed_engine_refuses_calls_and_ends_subscriptions(data_dir: Path) -> None:
    engine = Engine(data_dir)
    eid = engine.create(agent()).metadata.id
    sub = engine.subscribe(eid)
    sub.get(timeout=5)
    waiting = threading.Thread(target=lambda: list(sub))  # blocked on the next state
    waiting.start()
    engine.close()
    waiting.join(timeout=10)
    assert not waiting.is_alive(), "a consumer stayed blocked after the engine closed"
    for t in threading.enumerate():
        if t.name.startswith("ExecutionActor-"):
            t.join(timeout=5)
            assert not t.is_alive(), f"{t.name} outlived the engine"
    engine.close()  # idempotent
    with pytest.raises(Unavailable):
        engine.update_status(eid, AgentStatus(error="x"))
    with pytest.raises(Unavailable):
        engine.get(eid)
    with pytest.raises(Unavailable):
        engine.list("agent")
