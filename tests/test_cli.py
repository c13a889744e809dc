"""The CLI and the daemon as real subprocesses: serve, create, update-status, watch, --json."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

import grpc
import pytest

from stigmer_actors import wire
from stigmer_actors.client import StigmerClient
from stigmer_actors.domain import phases
from tests.daemon import CLI, Daemon, cli


@pytest.fixture
def daemon(data_dir: Path):
    d = Daemon(data_dir)
    yield d
    if d.proc.poll() is None:
        d.terminate()


def _json(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _watch(address: str, eid: str) -> subprocess.Popen:
    return subprocess.Popen([*CLI, "watch", eid, "--address", address],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_first_line(proc: subprocess.Popen) -> str:
    assert proc.stdout is not None
    return proc.stdout.readline()  # watch prints the current state as soon as it subscribed


@pytest.mark.parametrize(("final", "code"), [("COMPLETED", 0), ("FAILED", 1), ("CANCELLED", 3)])
def test_watch_exit_code_follows_the_final_phase(daemon: Daemon, final: str, code: int) -> None:
    a = daemon.address
    created = _json(cli("create", "agent", "--message", "hi", "--session-id", "s1", "--address", a, "--json"))
    eid = created["metadata"]["id"]
    assert created["status"]["phase"] == "EXECUTION_PENDING"
    watcher = _watch(a, eid)
    assert eid in _wait_for_first_line(watcher)
    moved = _json(cli("update-status", eid, "--phase", "IN_PROGRESS", "--address", a, "--json"))
    assert moved["status"]["phase"] == "EXECUTION_IN_PROGRESS" and moved["status"]["version"] == "2"
    result = cli("update-status", eid, "--phase", final, "--error", "it broke" if code else "", "--address", a)
    assert result.returncode == 0, result.stderr
    out, err = watcher.communicate(timeout=30)
    assert watcher.returncode == code
    assert f"EXECUTION_{final}" in out
    if final == "FAILED":
        assert "error: it broke" in err


def test_commands_and_json_output(daemon: Daemon) -> None:
    a = daemon.address
    wf = _json(cli("create", "workflow", "--workflow-id", "wf-1", "--trigger-message", "go", "--address", a, "--json"))
    wid = wf["metadata"]["id"]
    assert wid.startswith("wex-")
    status = json.dumps({"tasks": [{"taskId": "t1", "taskName": "fetch", "status": "WORKFLOW_TASK_IN_PROGRESS"}]})
    updated = _json(cli("update-status", wid, "--status", status, "--address", a, "--json"))
    assert updated["status"]["tasks"][0]["taskName"] == "fetch"
    human = cli("get", wid, "--address", a)
    assert human.returncode == 0 and "task t1  fetch  WORKFLOW_TASK_IN_PROGRESS" in human.stdout
    assert _json(cli("get", wid, "--address", a, "--json"))["status"]["version"] == "2"
    ag = _json(cli("create", "agent", "--message", "m", "--agent-id", "ag", "--address", a, "--json"))
    listed = cli("list", "--address", a, "--json")
    assert listed.returncode == 0
    ids = [json.loads(line)["metadata"]["id"] for line in listed.stdout.splitlines()]
    assert sorted(ids) == sorted([wid, ag["metadata"]["id"]])
    only = cli("list", "--kind", "workflow", "--phase", "PENDING", "--address", a)
    assert only.stdout.strip().startswith(wid) and ag["metadata"]["id"] not in only.stdout
    bad = cli("update-status", wid, "--status", "{not json", "--address", a)
    assert bad.returncode == 2 and "not a valid WorkflowExecutionStatus" in bad.stderr
    missing = cli("get", "aex-missing", "--address", a)
    assert missing.returncode == 10 and missing.stderr.startswith("NOT_FOUND:")
    unknown = cli("get", "no-prefix", "--address", a)
    assert (unknown.returncode, unknown.stderr.strip()) == (10, "NOT_FOUND: execution no-prefix does not exist")
    deleted = cli("delete", wid, "--address", a, "--json")
    assert _json(deleted)["metadata"]["id"] == wid


def test_sigterm_with_100_open_streams_exits_cleanly_and_keeps_acked_updates(data_dir: Path) -> None:
    """Watchers that are reading see their streams end with OK. One that stopped reading
    holds up a state the server cannot hand over (our client reads nothing ahead): it is
    cut with UNAVAILABLE when the 3 s grace ends, and the daemon still exits 0."""
    daemon = Daemon(data_dir)
    client = StigmerClient(daemon.address)
    eid = client.create_agent("m", session_id="s").metadata.id

    def raw_watch():  # the server's side of a stream: no resuming client on top
        stub = wire.agent_query_grpc.AgentExecutionQueryControllerStub(client._watch_channel)
        return stub.subscribe(wire.agent_io.AgentExecutionId(value=eid))

    streams = [raw_watch() for _ in range(100)]
    for stream in streams:
        next(stream)
    outcomes: list[str] = []

    def read(stream) -> None:
        try:
            for _ in stream:
                pass
            outcomes.append("OK")
        except grpc.RpcError as error:
            outcomes.append(error.code().name)

    readers = [threading.Thread(target=read, args=(stream,)) for stream in streams]
    for reader in readers:
        reader.start()
    idle = raw_watch()
    assert next(idle).status.version == 1  # and never read again while the daemon runs
    acked = 0
    for i in range(200):
        acked = client.update_status(eid, wire.AgentExecutionStatus(error=f"e{i}")).status.version

    t0 = time.perf_counter()
    code = daemon.terminate(timeout=10)
    took = time.perf_counter() - t0
    assert code == 0, "".join(daemon.log)
    assert took < 8, f"shutdown took {took:.1f} s"
    print(f"\nSIGTERM with 101 open streams: exit 0 after {took:.2f} s")
    for reader in readers:
        reader.join(timeout=10)
    assert outcomes == ["OK"] * 100  # every stream being read ended with OK
    with pytest.raises(grpc.RpcError) as info:
        list(idle)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    client.close()

    again = Daemon(data_dir)
    try:
        with StigmerClient(again.address) as c2:
            stored = c2.get(eid)
            assert stored.status.version == acked == 201
            assert stored.status.error == "e199" and stored.status.phase == phases.PENDING
    finally:
        assert again.terminate() == 0


def test_live_view_shows_phase_tasks_and_timings() -> None:
    from rich.console import Console

    from stigmer_actors.cli.live_view import render

    execution = wire.WorkflowExecution(metadata={"id": "wex-1"}, kind="WorkflowExecution")
    execution.status.phase = phases.FAILED
    execution.status.error = "task b timed out"
    execution.status.tasks.add(task_id="a", task_name="fetch", status=3, started_at="t0", completed_at="t1")
    execution.status.tasks.add(task_id="b", task_name="summarize", status=4, error="timeout")
    console = Console(record=True, width=120)
    console.print(render(execution))
    text = console.export_text()
    assert "wex-1  EXECUTION_FAILED" in text and "error: task b timed out" in text
    assert "fetch" in text and "COMPLETED" in text and "t1" in text
    assert "summarize" in text and "FAILED" in text and "timeout" in text

    run = wire.AgentExecution(metadata={"id": "aex-1"}, kind="AgentExecution")
    run.status.messages.add(content="thinking about it")
    run.status.tool_calls.add(id="c1", name="search", status=2)
    run.status.todos["x"].content = "write report"
    console = Console(record=True, width=120)
    console.print(render(run))
    text = console.export_text()
    assert "> thinking about it" in text and "search" in text and "RUNNING" in text
    assert "write report" in text


def test_stats_summarizes_what_the_daemon_did(daemon: Daemon) -> None:
    a = daemon.address
    eid = _json(cli("create", "agent", "--message", "m", "--agent-id", "ag", "--address", a, "--json"))["metadata"]["id"]
    for i in range(3):
        assert cli("update-status", eid, "--error", f"e{i}", "--address", a).returncode == 0
    assert cli("update-status", eid, "--phase", "COMPLETED", "--address", a).returncode == 0
    assert cli("update-status", eid, "--phase", "RUNNING", "--address", a).returncode != 0  # unknown phase: CLI refuses
    assert cli("update-status", eid, "--phase", "IN_PROGRESS", "--address", a).returncode == 10  # refused
    out = cli("stats", "--address", a)
    assert out.returncode == 0, out.stderr
    lines = {line.split()[0]: line for line in out.stdout.splitlines()}
    assert "1 live · 1 spawned · 0 evicted idle" in lines["actors"]
    assert lines["updates"].split("·")[0].split() == ["updates", "5", "updateStatus"]
    assert "FAILED_PRECONDITION 1" in lines["requests"] and "OK 5" in lines["requests"]
    as_json = _json(cli("stats", "--address", a, "--json"))
    assert as_json["statusUpdates"] == "5" and as_json["liveActors"] == "1"
