"""Every RPC of the four services over a real server on loopback, with their error codes."""

from __future__ import annotations

import random
import threading
import time

import grpc
import pytest

from stigmer_actors import AGENT, wire
from stigmer_actors.domain import phases
from stigmer_actors.domain.transitions import apply_status
from stigmer_actors.grpc_edge.server import EdgeServer
from tests.conftest import agent, workflow
from tests.test_concurrency import CALLS, THREADS, _comparable, _status

AgentStatus = wire.AgentExecutionStatus
WorkflowStatus = wire.WorkflowExecutionStatus


def stubs(address: str):
    channel = grpc.insecure_channel(address)
    return (
        wire.agent_command_grpc.AgentExecutionCommandControllerStub(channel),
        wire.agent_query_grpc.AgentExecutionQueryControllerStub(channel),
        wire.workflow_command_grpc.WorkflowExecutionCommandControllerStub(channel),
        wire.workflow_query_grpc.WorkflowExecutionQueryControllerStub(channel),
    )


def code_of(call, *args) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        result = call(*args)
        if hasattr(result, "__iter__") and not hasattr(result, "SerializeToString"):
            list(result)
    return info.value.code(), info.value.details()


def test_agent_services_every_rpc(served) -> None:
    _, server, _ = served
    cmd, query, _, _ = stubs(server.address)
    created = cmd.create(agent(session_id="sess-a", tags=["x"]))
    eid = created.metadata.id
    assert created.status.phase == phases.PENDING and created.status.version == 1

    merged = cmd.updateStatus(wire.agent_io.AgentExecutionUpdateStatusInput(
        execution_id=eid, status=AgentStatus(phase=phases.IN_PROGRESS, error="e")))
    assert merged.status.version == 2
    assert query.get(wire.agent_io.AgentExecutionId(value=eid)) == merged

    updated = cmd.update(agent(message="new", session_id="sess-a", id=eid, tags=["y"]))
    assert updated.spec.message == "new" and updated.status.error == "e"

    listed = query.list(wire.agent_io.ListAgentExecutionsRequest(phase=phases.IN_PROGRESS, tags=["y"]))
    assert [e.metadata.id for e in listed.entries] == [eid] and listed.total_pages == 1
    by_session = query.listBySession(wire.agent_io.ListAgentExecutionsBySessionRequest(session_id="sess-a"))
    assert [e.metadata.id for e in by_session.entries] == [eid]

    stream = query.subscribe(wire.agent_io.AgentExecutionId(value=eid))
    assert next(stream).status.version == 3
    deleted = cmd.delete(wire.resource_io.ApiResourceId(value=eid))
    assert deleted.status.version == 3
    assert list(stream) == []  # the stream ends with OK when the execution is deleted
    assert code_of(query.get, wire.agent_io.AgentExecutionId(value=eid))[0] == grpc.StatusCode.NOT_FOUND


def test_workflow_services_every_rpc(served) -> None:
    _, server, _ = served
    _, _, cmd, query = stubs(server.address)
    created = cmd.create(workflow(workflow_id="wf-9"))
    eid = created.metadata.id
    stream = query.subscribe(wire.workflow_io.SubscribeWorkflowExecutionRequest(execution_id=eid))
    first = next(stream)  # subscribed: from here on nothing can be missed
    status = WorkflowStatus(phase=phases.IN_PROGRESS)
    status.tasks.add(task_id="a", status=2)
    cmd.updateStatus(wire.workflow_io.WorkflowExecutionUpdateStatusInput(execution_id=eid, status=status))
    # Read each state before the next update: a reader still holding an unread state when the
    # terminal one lands gets the terminal one instead (API.md allows coalescing; CI hit it).
    second = next(stream)
    cmd.updateStatus(wire.workflow_io.WorkflowExecutionUpdateStatusInput(
        execution_id=eid, status=WorkflowStatus(phase=phases.COMPLETED)))
    seen = [(s.status.version, s.status.phase, len(s.status.tasks)) for s in [first, second, *stream]]
    assert seen == [(1, phases.PENDING, 0), (2, phases.IN_PROGRESS, 1), (3, phases.COMPLETED, 1)]

    assert query.get(wire.workflow_io.WorkflowExecutionId(value=eid)).status.version == 3
    assert cmd.update(workflow(workflow_id="wf-9", id=eid)).status.version == 4
    listed = query.list(wire.workflow_io.ListWorkflowExecutionsRequest(phase=phases.COMPLETED))
    assert [e.metadata.id for e in listed.entries] == [eid]
    by_wf = query.listByWorkflow(wire.workflow_io.ListWorkflowExecutionsByWorkflowRequest(workflow_id="wf-9"))
    assert [e.metadata.id for e in by_wf.entries] == [eid]
    assert cmd.delete(wire.resource_io.ApiResourceId(value=eid)).metadata.id == eid


def test_error_codes_with_messages(served) -> None:
    _, server, _ = served
    cmd, query, wcmd, wquery = stubs(server.address)
    INVALID, NOT_FOUND = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND
    assert code_of(cmd.create, wire.AgentExecution(spec={"session_id": "s"})) == (
        INVALID, "spec.message is empty: an agent execution needs a message")
    assert code_of(wcmd.create, wire.WorkflowExecution())[0] == INVALID
    eid = cmd.create(agent(id="fixed")).metadata.id
    code, message = code_of(cmd.create, agent(id="fixed"))
    assert code == grpc.StatusCode.ALREADY_EXISTS and "fixed" in message
    upd = wire.agent_io.AgentExecutionUpdateStatusInput
    assert code_of(cmd.updateStatus, upd(status=AgentStatus(error="x")))[0] == INVALID
    assert code_of(cmd.updateStatus, upd(execution_id=eid)) == (INVALID, "status is missing")
    assert code_of(cmd.updateStatus, upd(execution_id="nope", status=AgentStatus(error="x")))[0] == NOT_FOUND
    # An agent id through the workflow services is NOT_FOUND: kinds never mix.
    wupd = wire.workflow_io.WorkflowExecutionUpdateStatusInput
    assert code_of(wcmd.updateStatus, wupd(execution_id=eid, status=WorkflowStatus(error="x")))[0] == NOT_FOUND
    assert code_of(wquery.get, wire.workflow_io.WorkflowExecutionId(value=eid))[0] == NOT_FOUND
    cmd.updateStatus(upd(execution_id=eid, status=AgentStatus(phase=phases.CANCELLED)))
    code, message = code_of(cmd.updateStatus, upd(execution_id=eid, status=AgentStatus(phase=phases.IN_PROGRESS)))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "EXECUTION_CANCELLED" in message
    assert code_of(query.list, wire.agent_io.ListAgentExecutionsRequest(page_token="junk"))[0] == INVALID
    assert code_of(query.listBySession, wire.agent_io.ListAgentExecutionsBySessionRequest())[0] == INVALID
    assert code_of(cmd.delete, wire.resource_io.ApiResourceId(value=""))[0] == INVALID
    assert code_of(query.subscribe, wire.agent_io.AgentExecutionId(value="nope"))[0] == NOT_FOUND


def test_internal_error_has_no_stack_trace(served, monkeypatch) -> None:
    engine, server, _ = served
    cmd, query, _, _ = stubs(server.address)
    eid = cmd.create(agent()).metadata.id

    def broken(*args, **kwargs):
        raise KeyError("secret internals")

    monkeypatch.setattr(engine.core, "get", broken)
    code, message = code_of(query.get, wire.agent_io.AgentExecutionId(value=eid))
    assert code == grpc.StatusCode.INTERNAL
    assert message == "internal error in AgentExecutionQueryController.get"
    assert "secret" not in message and "Traceback" not in message


def test_unavailable_after_engine_close(data_dir) -> None:
    from stigmer_actors import Engine

    engine = Engine(data_dir)
    server = EdgeServer(engine, "127.0.0.1:0").start()
    cmd, _, _, _ = stubs(server.address)
    eid = cmd.create(agent()).metadata.id
    engine.close()
    upd = wire.agent_io.AgentExecutionUpdateStatusInput(execution_id=eid, status=AgentStatus(error="x"))
    assert code_of(cmd.updateStatus, upd)[0] == grpc.StatusCode.UNAVAILABLE
    server.stop(grace=0)


def test_subscribe_semantics(served) -> None:
    _, server, client = served
    cmd, query, _, _ = stubs(server.address)
    upd = wire.agent_io.AgentExecutionUpdateStatusInput
    # Already terminal: one message, then the stream ends with OK.
    done = cmd.create(agent()).metadata.id
    cmd.updateStatus(upd(execution_id=done, status=AgentStatus(phase=phases.COMPLETED)))
    states = list(query.subscribe(wire.agent_io.AgentExecutionId(value=done)))
    assert [s.status.phase for s in states] == [phases.COMPLETED]
    # Order: every update in version order, then end on terminal.
    eid = cmd.create(agent()).metadata.id
    stream = client.watch(eid)
    assert next(stream).status.version == 1
    for i in range(50):
        cmd.updateStatus(upd(execution_id=eid, status=AgentStatus(error=str(i))))
    cmd.updateStatus(upd(execution_id=eid, status=AgentStatus(phase=phases.FAILED)))
    versions = [s.status.version for s in stream]
    assert versions == sorted(set(versions)) and versions[-1] == 52
    assert stream.code() == grpc.StatusCode.OK


def test_32_thread_race_over_grpc(served) -> None:
    """The engine's 32 x 500 race, through the wire: nothing lost, order kept for watchers."""
    engine, server, client = served
    created = client.create(agent())
    eid = created.metadata.id
    watchers, last = [], {}

    def watch(n: int) -> None:
        versions = []
        for state in client.watch(eid):
            versions.append(state.status.version)
            last[n] = state
        watchers.append(versions)

    watch_threads = [threading.Thread(target=watch, args=(n,)) for n in range(4)]
    for t in watch_threads:
        t.start()
    results, lock = [], threading.Lock()
    barrier = threading.Barrier(THREADS)

    joiners: list[threading.Thread] = []

    def writer(thread: int) -> None:
        rng = random.Random(thread)
        mine = []
        barrier.wait()
        for call in range(CALLS):
            status = _status(thread, call)
            mine.append((client.update_status(eid, status).status.version, status))
            if rng.random() < 0.001:  # a watcher joins mid-race
                joiner = threading.Thread(target=watch, args=(f"{thread}-{call}",))
                joiner.start()
                with lock:
                    joiners.append(joiner)
        with lock:
            results.extend(mine)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=writer, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"\n{THREADS * CALLS} updateStatus RPCs from {THREADS} threads: "
          f"{THREADS * CALLS / (time.perf_counter() - t0):.0f}/s, {len(joiners)} watchers joined mid-race")
    results.sort(key=lambda r: r[0])
    assert [v for v, _ in results] == list(range(2, THREADS * CALLS + 2))
    replay = _comparable(created)
    for _, status in results:
        apply_status(AGENT, replay, status)
    final = client.update_status(eid, AgentStatus(phase=phases.COMPLETED))
    apply_status(AGENT, replay, AgentStatus(phase=phases.COMPLETED))
    assert _comparable(final) == _comparable(replay)
    for t in watch_threads + joiners:
        t.join(timeout=30)
        assert not t.is_alive(), "a watcher hung after the terminal update"
    assert len(joiners) >= 5 and len(watchers) == 4 + len(joiners)
    for versions in watchers:
        assert versions == sorted(set(versions)) and versions[-1] == final.status.version
    assert all(state == final for state in last.values())
    assert engine.get(eid) == final


def test_health_and_reflection(served) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    _, server, _ = served
    channel = grpc.insecure_channel(server.address)
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "ai.stigmer.agentic.agentexecution.v1.AgentExecutionCommandController"):
        reply = health.Check(health_pb2.HealthCheckRequest(service=service))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    reflect = reflection_pb2_grpc.ServerReflectionStub(channel)
    replies = reflect.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    names = {s.name for s in next(replies).list_services_response.service}
    assert {
        "ai.stigmer.agentic.agentexecution.v1.AgentExecutionCommandController",
        "ai.stigmer.agentic.agentexecution.v1.AgentExecutionQueryController",
        "ai.stigmer.agentic.workflowexecution.v1.WorkflowExecutionCommandController",
        "ai.stigmer.agentic.workflowexecution.v1.WorkflowExecutionQueryController",
    } <= names
