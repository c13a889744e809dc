"""Bad input over the wire: a precise status naming the field, never a crash or a write."""

from __future__ import annotations

import random

import grpc
import pytest

from stigmer_actors import Engine, wire
from stigmer_actors.domain.validation import MAX_STRUCT_DEPTH
from stigmer_actors.grpc_edge.server import EdgeServer
from tests.conftest import agent, workflow

INVALID = grpc.StatusCode.INVALID_ARGUMENT
AGENT_CMD = "/ai.stigmer.agentic.agentexecution.v1.AgentExecutionCommandController/"
WORKFLOW_CMD = "/ai.stigmer.agentic.workflowexecution.v1.WorkflowExecutionCommandController/"


def raw(channel: grpc.Channel, method: str, data: bytes, stream: bool = False):
    """Call ``method`` with ``data`` as the request bytes; return (code, details)."""
    call = (channel.unary_stream if stream else channel.unary_unary)(method)
    try:
        result = call(data, timeout=10)
        if stream:
            list(result)
        return grpc.StatusCode.OK, ""
    except grpc.RpcError as error:
        return error.code(), error.details()


def update(execution_id: str, status) -> bytes:
    return wire.agent_io.AgentExecutionUpdateStatusInput(
        execution_id=execution_id, status=status).SerializeToString()


@pytest.fixture
def setup(served):
    engine, server, client = served
    channel = grpc.insecure_channel(server.address)
    eid = client.create_agent("m", session_id="s").metadata.id
    yield engine, channel, eid
    channel.close()
    # Nothing bad was ever written: the execution is exactly as created.
    assert engine.get(eid).status.version == 1


def test_empty_id(setup) -> None:
    _, channel, _ = setup
    assert raw(channel, AGENT_CMD + "updateStatus", update("", wire.AgentExecutionStatus(error="x"))) == (
        INVALID, "execution_id is empty")


def test_id_over_256_characters(setup) -> None:
    _, channel, _ = setup
    code, details = raw(channel, AGENT_CMD + "delete", wire.resource_io.ApiResourceId(value="x" * 257).SerializeToString())
    assert code == INVALID and details == "id is 257 characters long (at most 256)"


@pytest.mark.parametrize("bad_id", ["tab\there", "nul\x00", "bell\x07", "line\nbreak"])
def test_id_not_printable(setup, bad_id: str) -> None:
    _, channel, _ = setup
    code, details = raw(channel, AGENT_CMD + "create", agent(id=bad_id).SerializeToString())
    assert (code, details) == (INVALID, "metadata.id contains characters that are not printable")


@pytest.mark.parametrize(
    ("build", "named"),
    [
        (lambda s: setattr(s, "phase", 42), "status.phase = 42 is not a defined ExecutionPhase value"),
        (lambda s: s.messages.add(type=9), "status.messages[0].type = 9 is not a defined MessageType value"),
        (lambda s: (s.tool_calls.add(id="a"), s.tool_calls.add(id="b", status=77)),
         "status.tool_calls[1].status = 77 is not a defined ToolCallStatus value"),
        (lambda s: setattr(s.todos["t1"], "status", 8), "status.todos['t1'].status = 8 is not a defined TodoStatus value"),
    ],
    ids=["phase", "message-type", "tool-call-status", "todo-status"],
)
def test_undefined_enum_value(setup, build, named: str) -> None:
    _, channel, eid = setup
    status = wire.AgentExecutionStatus()
    build(status)
    assert raw(channel, AGENT_CMD + "updateStatus", update(eid, status)) == (INVALID, named)


def test_undefined_enum_in_create_metadata(setup) -> None:
    _, channel, _ = setup
    request = agent()
    request.metadata.owner_scope = 9
    code, details = raw(channel, AGENT_CMD + "create", request.SerializeToString())
    assert code == INVALID and details == "metadata.owner_scope = 9 is not a defined ApiResourceOwnerScope value"


def test_invalid_utf8_names_the_field(setup) -> None:
    _, channel, eid = setup
    data = update(eid, wire.AgentExecutionStatus(error="h~y")).replace(b"h~y", b"h\xffy")
    assert raw(channel, AGENT_CMD + "updateStatus", data) == (INVALID, "status.error is not valid UTF-8")
    nested = update(eid, wire.AgentExecutionStatus(messages=[{"content": "ok"}, {"content": "b~d"}]))
    assert raw(channel, AGENT_CMD + "updateStatus", nested.replace(b"b~d", b"b\xc3d")) == (
        INVALID, "status.messages.content is not valid UTF-8")


def test_struct_nested_too_deep(served) -> None:
    engine, server, client = served
    channel = grpc.insecure_channel(server.address)
    eid = client.create_workflow(workflow_id="wf").metadata.id

    def nested(depth: int) -> wire.WorkflowExecutionStatus:
        status = wire.WorkflowExecutionStatus()
        level = status.output
        for _ in range(depth - 1):
            level = level.fields["in"].struct_value
        level.fields["leaf"].string_value = "x"
        return status

    request = wire.workflow_io.WorkflowExecutionUpdateStatusInput
    ok = request(execution_id=eid, status=nested(MAX_STRUCT_DEPTH)).SerializeToString()
    assert raw(channel, WORKFLOW_CMD + "updateStatus", ok)[0] == grpc.StatusCode.OK
    too_deep = request(execution_id=eid, status=nested(MAX_STRUCT_DEPTH + 1)).SerializeToString()
    assert raw(channel, WORKFLOW_CMD + "updateStatus", too_deep) == (
        INVALID, f"status.output nests Struct values deeper than {MAX_STRUCT_DEPTH} levels")
    assert engine.get(eid).status.version == 2  # only the allowed one was written
    channel.close()


def test_message_over_the_size_limit(data_dir) -> None:
    with Engine(data_dir) as engine:
        server = EdgeServer(engine, "127.0.0.1:0", max_message_bytes=64 * 1024).start()
        channel = grpc.insecure_channel(server.address)
        try:
            big = agent(message="x" * 100_000).SerializeToString()
            code, _ = raw(channel, AGENT_CMD + "create", big)
            assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert engine.list("agent").entries == []
            assert raw(channel, AGENT_CMD + "create", agent().SerializeToString())[0] == grpc.StatusCode.OK
        finally:
            channel.close()
            server.stop(grace=0)


METHODS = [
    (AGENT_CMD + m, False) for m in ("create", "update", "updateStatus", "delete")
] + [
    (WORKFLOW_CMD + m, False) for m in ("create", "update", "updateStatus", "delete")
] + [
    ("/ai.stigmer.agentic.agentexecution.v1.AgentExecutionQueryController/" + m, m == "subscribe")
    for m in ("get", "list", "listBySession", "subscribe")
] + [
    ("/ai.stigmer.agentic.workflowexecution.v1.WorkflowExecutionQueryController/" + m, m == "subscribe")
    for m in ("get", "list", "listByWorkflow", "subscribe")
] + [("/ai.stigmer.actors.v1.RunnerDispatch/claim", True), ("/ai.stigmer.actors.v1.RunnerDispatch/listRunners", False)]


def test_raw_garbage_to_every_method_never_crashes(setup) -> None:
    engine, channel, eid = setup
    rng = random.Random(5)
    seen = set()
    for method, stream in METHODS:
        for _ in range(20):
            garbage = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
            code, details = raw(channel, method, garbage, stream)
            assert code in (INVALID, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.OK), (method, code, details)
            assert "Traceback" not in details and "Exception" not in details
            seen.add(code)
    assert INVALID in seen
    # Still serving, and still correct.
    get = "/ai.stigmer.agentic.agentexecution.v1.AgentExecutionQueryController/get"
    assert raw(channel, get, wire.agent_io.AgentExecutionId(value=eid).SerializeToString())[0] == grpc.StatusCode.OK


def test_workflow_create_with_bad_nested_enum(setup) -> None:
    _, channel, _ = setup
    request = workflow()
    request.status.tasks.add(task_id="ignored-on-create", status=99)
    # Create ignores any status, but bad values in it are still refused: nothing half-read.
    code, details = raw(channel, WORKFLOW_CMD + "create", request.SerializeToString())
    assert code == INVALID and details == "status.tasks[0].status = 99 is not a defined WorkflowTaskStatus value"
