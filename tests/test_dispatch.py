"""Runner dispatch: each PENDING execution to exactly one runner; hand-back on disconnect;
a runner killed mid-run is noticed by the heartbeat watchdog and its watchers told."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import grpc

from stigmer_actors import AGENT, WORKFLOW, wire
from stigmer_actors.client import StigmerClient
from stigmer_actors.domain import phases
from stigmer_actors.domain.timeouts import PENDING_ANNOTATION
from tests.daemon import Daemon, cli

COUNT = 1000


def test_two_runners_never_get_the_same_execution(served) -> None:
    engine, _, client = served
    claimed: dict[str, list[str]] = {"r1": [], "r2": []}
    streams = {name: client.claim(AGENT, name, capacity=4) for name in claimed}
    done = threading.Event()

    def run(name: str) -> None:
        try:
            for execution in streams[name]:
                client.update_status(execution.metadata.id, wire.AgentExecutionStatus(phase=phases.IN_PROGRESS))
                claimed[name].append(execution.metadata.id)
                if sum(map(len, claimed.values())) >= COUNT:
                    done.set()
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.CANCELLED  # our own cancel() at the end

    runners = [threading.Thread(target=run, args=(n,), daemon=True) for n in claimed]
    for t in runners:
        t.start()
    ids = [client.create_agent(f"m{i}", session_id="s").metadata.id for i in range(COUNT)]
    assert done.wait(timeout=60), f"only {sum(map(len, claimed.values()))} claimed"
    for stream in streams.values():
        stream.cancel()
    counts = Counter(claimed["r1"] + claimed["r2"])
    print(f"\nrunner r1 claimed {len(claimed['r1'])}, r2 {len(claimed['r2'])}")
    assert sorted(counts) == sorted(ids)
    assert set(counts.values()) == {1}, "an execution went to two runners"
    assert min(len(v) for v in claimed.values()) > COUNT // 10  # both really took part
    assert engine.list("agent", phase=phases.PENDING).entries == []


def test_held_execution_goes_back_when_its_runner_disconnects(served) -> None:
    _, _, client = served
    first = client.claim(WORKFLOW, "flaky", capacity=1)
    eid = client.create_workflow(workflow_id="wf").metadata.id
    assert next(first).metadata.id == eid
    listing = client.runners()
    assert [(r.runner_id, list(r.holding)) for r in listing.runners] == [("flaky", [eid])]
    first.cancel()  # gone before moving it to IN_PROGRESS
    second = client.claim(WORKFLOW, "steady", capacity=1)
    assert next(second).metadata.id == eid
    client.update_status(eid, wire.WorkflowExecutionStatus(phase=phases.IN_PROGRESS))
    other = client.create_workflow(workflow_id="wf").metadata.id
    assert next(second).metadata.id == other  # capacity freed by the move to IN_PROGRESS
    assert client.runners().queued["workflow"] == 0
    second.cancel()


def test_pending_executions_on_disk_are_queued_after_a_restart(data_dir: Path) -> None:
    daemon = Daemon(data_dir)
    with StigmerClient(daemon.address) as client:
        eid = client.create_agent("m", session_id="s").metadata.id
    assert daemon.terminate() == 0
    daemon = Daemon(data_dir)
    try:
        with StigmerClient(daemon.address) as client:
            assert client.runners().queued["agent"] == 1
            stream = client.claim(AGENT, "after-restart")
            assert next(stream).metadata.id == eid
            out = cli("runners", "--address", daemon.address)
            assert out.returncode == 0 and "after-restart  agent  capacity 1  claimed 1" in out.stdout
            assert json.loads(cli("runners", "--address", daemon.address, "--json").stdout)["runners"]
            stream.cancel()
    finally:
        daemon.terminate()


RUNNER = """
import sys
from stigmer_actors import AGENT, wire
from stigmer_actors.client import StigmerClient
client = StigmerClient(sys.argv[1])
for execution in client.claim(AGENT, "doomed"):
    client.update_status(execution.metadata.id, wire.AgentExecutionStatus(phase=2))
    print(execution.metadata.id, flush=True)   # now IN_PROGRESS; then it goes quiet
"""


def test_watchers_learn_of_a_runner_killed_mid_run(data_dir: Path) -> None:
    daemon = Daemon(data_dir, "--heartbeat-timeout", "1", "--pending-timeout", "1")
    try:
        with StigmerClient(daemon.address) as client:
            # No runner at all: the watcher sees FAILED with the pending message, then the end.
            lonely = client.create_workflow(workflow_id="wf")
            states = list(client.watch(lonely.metadata.id))
            took = time.time() - lonely.status.audit.spec_audit.created_at.ToNanoseconds() / 1e9
            assert states[-1].status.phase == phases.FAILED and took < 1 + 3  # slack for load
            assert "no runner picked up this execution within 1 s" in states[-1].status.error

            runner = subprocess.Popen([sys.executable, "-c", RUNNER, daemon.address],
                                      stdout=subprocess.PIPE, text=True)
            # This one waits for the runner however slowly its process starts (a loaded CI
            # machine took over 1 s): only the heartbeat timeout is under test here.
            patient = wire.AgentExecution(
                metadata={"annotations": {PENDING_ANNOTATION: "60"}},
                spec={"message": "m", "session_id": "s"},
            )
            eid = client.create(patient).metadata.id
            watch = client.watch(eid)
            give_up = threading.Timer(60, runner.kill)  # bounds the read below
            give_up.start()
            assert runner.stdout is not None and runner.stdout.readline().strip() == eid
            give_up.cancel()
            runner.send_signal(signal.SIGKILL)
            runner.wait(timeout=10)
            states = list(watch)
            failed = states[-1].status
            last_update = max(s.status.audit.status_audit.updated_at.ToNanoseconds()
                              for s in states if s.status.phase == phases.IN_PROGRESS) / 1e9
            detected = failed.audit.status_audit.updated_at.ToNanoseconds() / 1e9 - last_update
            print(f"\npending failure after {took:.2f} s; killed runner detected after {detected:.2f} s")
            assert failed.phase == phases.FAILED
            assert failed.error.startswith("the runner stopped sending updates: none for 1 s")
            assert 1 <= detected < 1 + 1
    finally:
        assert daemon.terminate() == 0
