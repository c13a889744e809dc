"""The runner as its own process: ``serve --no-runner`` leaves workflow executions PENDING;
``stigmer-actors runner --address`` claims them through dispatch and runs them; ``run``
drives it all from the command line."""

from __future__ import annotations

import subprocess
from pathlib import Path

from stigmer_actors.client import StigmerClient
from stigmer_actors.domain import phases
from tests.daemon import CLI, Daemon, cli


def start_runner(address: str, tmp_path: Path) -> subprocess.Popen:
    """``stigmer-actors runner`` with its log kept in ``tmp_path/runner.log``."""
    log = (tmp_path / "runner.log").open("w")
    return subprocess.Popen(
        [*CLI, "runner", "--address", address, "--data-dir", str(tmp_path / "runner"), "--log-level", "DEBUG"],
        stderr=log,
    )


def stop_runner(runner: subprocess.Popen, tmp_path: Path) -> None:
    """SIGTERM must stop it cleanly and soon; if not, the failure shows its log."""
    runner.terminate()
    try:
        code = runner.wait(20)
    except subprocess.TimeoutExpired:
        runner.kill()
        raise AssertionError("runner did not stop on SIGTERM:\n"
                             + (tmp_path / "runner.log").read_text()[-6000:]) from None
    assert code == 0, (tmp_path / "runner.log").read_text()[-6000:]

WORKFLOW = """
name: two-step
input: {who: nobody}
nodes:
  - {id: greet, type: transform, with: {set: {text: "'hello ' + input.who"}}}
  - {id: wait, type: wait, with: {for: 20ms}}
edges: [{from: greet, to: wait}]
"""


def test_serve_without_runner_then_a_runner_process(tmp_path: Path) -> None:
    source = tmp_path / "two-step.yaml"
    source.write_text(WORKFLOW)
    daemon = Daemon(tmp_path / "data", "--no-runner")
    runner = None
    try:
        with StigmerClient(daemon.address) as client:
            client.apply_workflow(WORKFLOW)
            waiting = client.create_workflow(workflow_id="two-step", trigger_metadata={"who": "world"})
            assert client.runners().runners == []  # --no-runner: nobody claims it
            assert client.get(waiting.metadata.id).status.phase == phases.PENDING
            runner = start_runner(daemon.address, tmp_path)
            last = None
            for last in client.watch(waiting.metadata.id):
                pass
            assert last is not None and last.status.phase == phases.COMPLETED, last
            assert [t.task_id for t in last.status.tasks] == ["greet#0", "wait#0"]
            assert last.status.tasks[0].output["text"] == "hello world"
            done = cli("run", str(source), "--input", "who=cli", "--address", daemon.address, timeout=60)
            assert done.returncode == 0, done.stderr
            assert "EXECUTION_COMPLETED" in done.stdout and "greet#0  COMPLETED" in done.stdout
    finally:
        try:
            if runner is not None:
                stop_runner(runner, tmp_path)
        finally:
            daemon.terminate()


def test_run_exits_non_zero_when_the_workflow_fails(tmp_path: Path) -> None:
    source = tmp_path / "broken.yaml"
    source.write_text("name: broken\nnodes: [{id: boom, type: transform, with: {set: {x: \"1 / 0\"}}}]\n")
    daemon = Daemon(tmp_path / "data")
    try:
        done = cli("run", str(source), "--address", daemon.address, timeout=60)
    finally:
        daemon.terminate()
    assert done.returncode == 1, done.stdout + done.stderr
    assert "error: node boom:" in done.stderr and "divide by zero" in done.stderr.lower()


def test_a_runner_process_rides_out_a_daemon_restart(tmp_path: Path) -> None:
    """The daemon restarts mid-run: the runner's reports wait for it and the run completes."""
    daemon = Daemon(tmp_path / "data", "--no-runner")
    address = daemon.address
    runner = start_runner(address, tmp_path)
    try:
        with StigmerClient(address) as client:
            client.apply_workflow(
                "name: slow-then-done\nnodes:\n  - {id: slow, type: wait, with: {for: 1500ms}}\n"
                "  - {id: done, type: noop}\nedges: [{from: slow, to: done}]\n"
            )
            eid = client.create_workflow(workflow_id="slow-then-done").metadata.id
            for state in client.watch(eid):
                if any(t.task_id == "slow#0" and t.status == 2 for t in state.status.tasks):
                    break  # the slow node is running
        assert daemon.terminate() == 0
        daemon = Daemon(tmp_path / "data", "--no-runner", "--address", address)
        with StigmerClient(address) as client:
            last = None
            for last in client.watch(eid):
                pass
        assert last is not None and last.status.phase == phases.COMPLETED, last
        assert [(t.task_id, t.status) for t in last.status.tasks] == [("slow#0", 3), ("done#0", 3)]
    finally:
        try:
            stop_runner(runner, tmp_path)
        finally:
            daemon.terminate()
