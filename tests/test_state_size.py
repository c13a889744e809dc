"""A state bigger than a client can receive is refused before it is stored, and list pages
are bounded by bytes: every reply of the daemon fits a standard gRPC client (4 MiB)."""

from __future__ import annotations

import re
from pathlib import Path

import grpc
import pytest
from google.protobuf import struct_pb2

from stigmer_actors import Engine, wire
from stigmer_actors.client import StigmerClient
from stigmer_actors.client.status_builder import refused
from stigmer_actors.domain import phases
from stigmer_actors.domain.errors import ResourceExhausted
from stigmer_actors.domain.kinds import AGENT, WORKFLOW
from stigmer_actors.domain.sizes import CLIENT_RECEIVE_BYTES, MAX_STATE_BYTES, check_state_size
from stigmer_actors.domain.transitions import apply_status
from stigmer_actors.store.listing import ListQuery
from tests.conftest import agent
from tests.daemon import Daemon

TASK_COMPLETED = wire.workflow_enum.WorkflowTaskStatus.Value("WORKFLOW_TASK_COMPLETED")
REFUSAL = re.compile(
    r"execution (\S+) would be ([\d,]+) bytes after this change, over the limit of 4,190,208 "
    r"bytes for one execution \(what any gRPC client receives: 4 MiB, less room for a list "
    r"page\); nothing was changed"
)


def tasks_status(tasks: int, task_bytes: int) -> wire.WorkflowExecutionStatus:
    """An IN_PROGRESS status with ``tasks`` completed tasks of about ``task_bytes`` each."""
    status = wire.WorkflowExecutionStatus(phase=phases.IN_PROGRESS)
    for i in range(tasks):
        task = status.tasks.add(
            task_id=f"node-{i}#0", task_name=f"node-{i}", status=TASK_COMPLETED,
            started_at="2026-11-29T10:00:00.000Z", completed_at="2026-11-29T10:00:01.000Z",
        )
        task.output.update({"result": "r" * max(0, task_bytes - 90)})
    return status


@pytest.fixture
def daemon(tmp_path: Path):
    d = Daemon(tmp_path / "data", "--no-runner", "--pending-timeout", "0", "--heartbeat-timeout", "0")
    client = StigmerClient(d.address)
    yield d, client
    client.close()
    if d.proc.poll() is None:
        d.proc.kill()


def test_the_limit_is_inclusive_and_the_message_names_both_sizes() -> None:
    check_state_size(MAX_STATE_BYTES, "wex-1")
    with pytest.raises(ResourceExhausted) as info:
        check_state_size(MAX_STATE_BYTES + 1, "wex-1")
    assert info.value.message == (
        "execution wex-1 would be 4,190,209 bytes after this change, over the limit of "
        "4,190,208 bytes for one execution (what any gRPC client receives: 4 MiB, less room "
        "for a list page); nothing was changed"
    )
    assert MAX_STATE_BYTES == CLIENT_RECEIVE_BYTES - 4096


def test_an_update_whose_state_a_client_could_not_receive_is_refused_and_changes_nothing(daemon) -> None:
    d, client = daemon
    eid = client.create_workflow(workflow_id="wf-big").metadata.id
    accepted = client.update_status(eid, tasks_status(1000, 2500))  # ~2.6 MB: fits
    assert accepted.status.version == 2 and len(accepted.status.tasks) == 1000
    stored_bytes = accepted.ByteSize()
    watch = client.watch(eid)
    assert next(watch).status.version == 2

    # 1.7 MB of output: the request is well under the daemon's 4 MiB receive limit, the
    # merged state (4.21 MB) is over what a client receives.
    blob = "x" * 1_700_000
    too_big = wire.WorkflowExecutionStatus(output=struct_pb2.Struct(fields={"blob": struct_pb2.Value(string_value=blob)}))
    with pytest.raises(grpc.RpcError) as info:
        client.update_status(eid, too_big)
    error = info.value
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    match = REFUSAL.fullmatch(error.details())
    assert match, error.details()
    assert match.group(1) == eid
    size = int(match.group(2).replace(",", ""))
    merged = client.get(eid)
    apply_status(WORKFLOW, merged, too_big)  # what the daemon merged (its timestamp may differ)
    assert abs(size - merged.ByteSize()) <= 8, (size, merged.ByteSize())
    assert refused(error)  # a runner stops the run and reports the reason, as for any refusal

    # Nothing was stored or broadcast; the execution works as before for every client.
    after = client.get(eid)
    assert after.status.version == 2 and not after.status.HasField("output")
    assert after.ByteSize() == stored_bytes
    done = client.update_status(eid, wire.WorkflowExecutionStatus(phase=phases.COMPLETED))
    assert done.status.version == 3
    seen = list(watch)  # the next state the watcher gets is the accepted one, then it ends
    assert [s.status.version for s in seen] == [3]
    assert not seen[0].status.HasField("output") and len(seen[0].status.tasks) == 1000
    listed = client.list(WORKFLOW)
    assert [(e.metadata.id, e.status.version) for e in listed.entries] == [(eid, 3)]
    assert [s.status.version for s in client.watch(eid)] == [3]
    assert d.terminate() == 0


def test_a_create_whose_state_would_not_fit_is_refused(daemon) -> None:
    """The check is on the stored state, whatever the change: here a create just under the
    daemon's receive limit, whose stored form (ids, audit) is over the state limit."""
    d, client = daemon
    request = agent(message="m" * (MAX_STATE_BYTES - 10), session_id="s")
    with pytest.raises(grpc.RpcError) as info:
        client.create(request)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert REFUSAL.fullmatch(info.value.details()), info.value.details()
    assert client.list(AGENT).entries == []
    assert client.create_agent("small", session_id="s").status.version == 1
    assert d.terminate() == 0


def test_a_listing_of_big_executions_pages_by_bytes_for_a_standard_client(daemon) -> None:
    """40 workflow runs with 1,000-task statuses (~150 KB each) are 6 MB: one page of the
    default size would be refused by any client with grpc's default 4 MiB receive limit."""
    d, client = daemon
    created = []
    for _ in range(40):
        eid = client.create_workflow(workflow_id="wf-many").metadata.id
        client.update_status(eid, tasks_status(1000, 150))
        created.append(eid)
    assert client.get(created[0]).ByteSize() > 150_000

    standard = grpc.insecure_channel(d.address)  # grpc's defaults: receives 4 MiB at most
    stub = wire.workflow_query_grpc.WorkflowExecutionQueryControllerStub(standard)
    try:
        listed, sizes, token = [], [], ""
        while True:
            page = stub.list(wire.workflow_io.ListWorkflowExecutionsRequest(page_token=token), timeout=30)
            sizes.append(page.ByteSize())
            listed += [e.metadata.id for e in page.entries]
            assert all(len(e.status.tasks) == 1000 for e in page.entries)
            assert page.total_pages == 1  # pages of page_size (100) entries: see store/listing.py
            token = page.next_page_token
            if not token:
                break
        assert sorted(listed) == sorted(created) and len(listed) == len(set(listed))
        assert len(sizes) == 2 and all(size <= CLIENT_RECEIVE_BYTES for size in sizes), sizes
        assert sizes[0] > CLIENT_RECEIVE_BYTES - 200_000  # filled up to the budget, not short
        by_owner = stub.listByWorkflow(
            wire.workflow_io.ListWorkflowExecutionsByWorkflowRequest(workflow_id="wf-many"), timeout=30)
        assert by_owner.next_page_token and by_owner.ByteSize() <= CLIENT_RECEIVE_BYTES
        assert stub.get(wire.workflow_io.WorkflowExecutionId(value=created[-1]), timeout=30).status.version == 2
    finally:
        standard.close()
    assert d.terminate() == 0


def test_pages_are_bounded_by_bytes_with_at_least_one_entry(engine: Engine) -> None:
    ids = [engine.create(agent(message=f"m{i}" + "x" * 1000)).metadata.id for i in range(10)]
    one = len(engine.get(ids[0]).SerializeToString())

    def walk(max_bytes: int, page_size: int = 0) -> list[list[str]]:
        pages, token = [], ""
        while True:
            page = engine.store.list(ListQuery(AGENT, page_size=page_size, page_token=token), max_bytes)
            pages.append([r.execution_id for r in page.records])
            token = page.next_page_token
            if not token:
                return pages

    assert walk(1) == [[eid] for eid in ids]  # smaller than any entry: one each, none lost
    three = walk(3 * (one + 3))
    assert [len(p) for p in three] == [3, 3, 3, 1] and sum(three, []) == ids
    assert [len(p) for p in walk(3 * (one + 3), page_size=2)] == [2, 2, 2, 2, 2]  # the count bound still holds
    assert engine.store.list(ListQuery(WORKFLOW), 1).records == []
