"""The daemon supervises its runners (``serve --runner NAME=COMMAND``), with real processes:
a runner that works, one that dies at import, one that ignores SIGTERM, one that floods its
output, and a daemon killed with SIGKILL. What ``runners --json`` shows is checked as it goes.

Backoffs and graces are short through the flags, so the file runs in well under a minute.
"""

from __future__ import annotations

import json
import re
import shlex
import signal
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import psutil
import pytest

from stigmer_actors import wire
from stigmer_actors.client import StigmerClient
from stigmer_actors.domain import phases
from tests.daemon import Daemon, cli

ROOT = Path(__file__).resolve().parents[1]
PY = shlex.quote(sys.executable)

CRASHES_AT_IMPORT = """
import stigmer_no_such_module_langgraph  # what a runner missing a dependency does at start
"""
IGNORES_SIGTERM = """
import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
helper = subprocess.Popen(["sleep", "1000"])  # in the runner's process group
print("helper", helper.pid, flush=True)
time.sleep(1000)
"""
FLOODS = """
import os, sys, time
go = sys.argv[1]
while not os.path.exists(go):  # the test is measuring from now on
    time.sleep(0.05)
out = sys.stdout.buffer
block = (b"x" * 99 + b"\\n") * 10_000       # 1 MB of 100-byte lines
for _ in range(50):
    out.write(block)
chunk = b"y" * 2**20
for _ in range(50):                         # one 50 MB line without a newline
    out.write(chunk)
out.write(b"\\nafter the long line\\n")
out.flush()
"""
IGNORES_SIGTERM_ALONE = """
import signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("up", flush=True)
time.sleep(1000)
"""
SLEEPS = """
import time
print("up", flush=True)
time.sleep(1000)
"""


def script(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / f"{name}.py"
    path.write_text(text)
    return str(path)


def runner_flag(name: str, *command: str) -> str:
    return f"{name}={' '.join(shlex.quote(c) for c in command)}"


def supervised(address: str) -> dict[str, dict]:
    """``runners --json``'s supervised runners, by name."""
    out = cli("runners", "--address", address, "--json")
    assert out.returncode == 0, out.stderr
    return {r["name"]: r for r in json.loads(out.stdout).get("supervised", [])}


def wait_for(what: str, check: Callable[[], object], timeout: float = 30.0) -> object:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)  # polling a condition with a deadline


def state_of(client: StigmerClient, name: str) -> int:
    return next(r.state for r in client.runners().supervised if r.name == name)


def gone(pid: int) -> bool:
    """No such process any more (a zombie nobody reaps counts as gone: it runs nothing)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for daemon in started:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
            daemon.proc.wait(10)


def test_a_working_runner_completes_executions(tmp_path: Path, daemons: list[Daemon]) -> None:
    """The example agent runner under the supervisor: it gets the daemon's address from
    STIGMER_ADDR and runs executions to COMPLETED; its output is in the daemon's log."""
    daemon = Daemon(tmp_path / "data", "--no-runner",
                    "--runner", runner_flag("agents", sys.executable, str(ROOT / "examples" / "echo_agent.py")))
    daemons.append(daemon)
    with StigmerClient(daemon.address) as client:
        wait_for("the runner to be running", lambda: state_of(client, "agents") == wire.dispatch.RUNNER_RUNNING)
        runner = supervised(daemon.address)["agents"]
        assert runner["state"] == "RUNNER_RUNNING" and runner["kind"] == "AGENT"
        assert psutil.Process(runner["pid"]).ppid() == daemon.proc.pid
        assert runner["uptimeSeconds"] >= 1.0 and "lastExitCode" not in runner and "restarts" not in runner
        ids = [client.create_agent(f"hello {i}", session_id="s1").metadata.id for i in range(3)]
        for eid in ids:
            final = list(client.watch(eid))[-1]
            assert final.status.phase == phases.COMPLETED, final.status.error
            assert final.status.messages[-1].content == f"You said: hello {ids.index(eid)}"
            assert [c.status for c in final.status.tool_calls] == [wire.agent_enum.TOOL_CALL_COMPLETED]
        claimers = {r.runner_id for r in client.runners().runners}
        assert claimers == {"agents"}  # STIGMER_RUNNER_NAME is its runner id
    assert daemon.terminate() == 0
    log = "".join(daemon.log)
    # Its address is the daemon's private socket for its runners (STIGMER_ADDR).
    assert re.search(r"\[runner agents\] echo agent 'agents' claiming agent executions from unix:\S+/runner\.sock", log)
    assert "[runner agents] answering " + ids[0] in log
    assert gone(runner["pid"])


def test_a_runner_that_fails_at_import(tmp_path: Path, daemons: list[Daemon]) -> None:
    """It is restarted after 0.1, 0.2, 0.4, 0.8 s, then marked failed at its 5th exit; the
    daemon keeps serving, and a pending timeout's error names it and quotes its stderr."""
    crash = script(tmp_path, "crash", CRASHES_AT_IMPORT)
    daemon = Daemon(tmp_path / "data", "--no-runner", "--runner-backoff", "0.1",
                    "--runner", runner_flag("agents", sys.executable, crash))
    daemons.append(daemon)
    with StigmerClient(daemon.address) as client:
        wait_for("the crash loop to be called", lambda: state_of(client, "agents") == wire.dispatch.RUNNER_FAILED)
        runner = supervised(daemon.address)["agents"]
        assert runner["state"] == "RUNNER_FAILED" and runner["restarts"] == 4 and runner["lastExitCode"] == 1
        assert "pid" not in runner and "uptimeSeconds" not in runner
        assert runner["lastStderr"][-1] == "ModuleNotFoundError: No module named 'stigmer_no_such_module_langgraph'"
        assert runner["lastStderr"][0] == "Traceback (most recent call last):"

        # The daemon serves on, and fails a PENDING agent execution through the normal path.
        request = wire.AgentExecution(spec={"message": "hi", "session_id": "s1"})
        request.metadata.annotations["stigmer-actors/pending-timeout-seconds"] = "1"
        eid = client.create(request).metadata.id
        states = list(client.watch(eid))
        assert [s.status.phase for s in states][-1] == phases.FAILED
        error = states[-1].status.error
        assert error.startswith("no runner picked up this execution within 1 s: runner 'agents' exited "
                                "5 times (exit 1) and is not started again (a crash loop); last output: ")
        assert error.endswith("\nModuleNotFoundError: No module named 'stigmer_no_such_module_langgraph'")
        assert client.get(eid).status.error == error  # stored as the watchers saw it

        stats = cli("stats", "--address", daemon.address)
        assert "runner      agents (agent) · failed · 4 restarts · last exit 1" in stats.stdout
    assert daemon.terminate() == 0
    log = "".join(daemon.log)
    delays = [float(d) for d in re.findall(r"runner agents exited \(exit 1\); starting it again in ([\d.]+) s", log)]
    assert delays == [0.1, 0.2, 0.4, 0.8]
    stamps = [("started" if m.group(2) == "started" else "ended", _time(m.group(1))) for m in re.finditer(
        r"^(\S+ \S+) \S+ +runner agents (started|\(pid \d+\) ended)", log, re.M)]
    kinds = [k for k, _ in stamps]
    assert kinds == ["started", "ended"] * 5, kinds
    for n, delay in enumerate(delays):  # each restart came no sooner than its backoff
        ended, restarted = stamps[2 * n + 1][1], stamps[2 * n + 2][1]
        assert restarted - ended >= delay - 0.01
    assert "[runner agents] ModuleNotFoundError: No module named 'stigmer_no_such_module_langgraph'" in log
    assert "runner agents exited 5 times within 60 s (last: exit 1): it is not started again" in log


def _time(stamp: str) -> float:
    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f").timestamp()


def test_a_runner_that_ignores_sigterm_is_killed_after_the_grace(tmp_path: Path, daemons: list[Daemon]) -> None:
    """SIGTERM to the daemon: SIGTERM to each runner's group, SIGKILL after --runner-grace to
    the group of the one still there (the helper it started too); the daemon exits 0 after."""
    hang = script(tmp_path, "hang", IGNORES_SIGTERM)
    sleeper = script(tmp_path, "sleeper", SLEEPS)
    daemon = Daemon(tmp_path / "data", "--no-runner", "--runner-grace", "2",
                    "--runner", runner_flag("stubborn", sys.executable, hang),
                    "--runner", runner_flag("polite", sys.executable, sleeper))
    daemons.append(daemon)
    with StigmerClient(daemon.address) as client:
        for name in ("stubborn", "polite"):
            wait_for(f"{name} to be running", lambda n=name: state_of(client, n) == wire.dispatch.RUNNER_RUNNING)
    helper = int(wait_for("the helper's pid", lambda: next(
        (m.group(1) for m in re.finditer(r"\[runner stubborn\] helper (\d+)", "".join(daemon.log))), None)))
    pids = {name: r["pid"] for name, r in supervised(daemon.address).items()}
    assert psutil.Process(helper).ppid() == pids["stubborn"]
    began = time.monotonic()
    assert daemon.terminate(timeout=30) == 0
    took = time.monotonic() - began
    assert took >= 2.0  # it waited the grace for the stubborn one
    for pid in (*pids.values(), helper):
        assert gone(pid), pid
    log = "".join(daemon.log)
    assert "runner stubborn did not stop within 2 s of SIGTERM: killed" in log
    assert re.search(r"runner stubborn \(pid \d+\) ended after [\d.]+ s: killed by SIGKILL", log)
    assert re.search(r"runner polite \(pid \d+\) ended after [\d.]+ s: killed by SIGTERM", log)
    assert log.rstrip().endswith("stopped; store flushed")


def test_a_runner_flooding_its_output(tmp_path: Path, daemons: list[Daemon]) -> None:
    """50 MB of lines then a 50 MB line without a newline, as fast as the pipe takes them:
    the daemon answers gets meanwhile, its memory stays bounded, the excess is counted."""
    go = tmp_path / "go"
    flood = script(tmp_path, "flood", FLOODS)
    daemon = Daemon(tmp_path / "data", "--no-runner", "--runner-backoff", "60",
                    "--runner", runner_flag("flood", sys.executable, flood, str(go)))
    daemons.append(daemon)
    server = psutil.Process(daemon.proc.pid)
    with StigmerClient(daemon.address) as client:
        eid = client.create_agent("m", session_id="s1").metadata.id
        for _ in range(20):
            client.get(eid)  # warm: connection, actor, caches
        baseline = server.memory_info().rss
        latencies: list[float] = []
        peak = baseline
        go.touch()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            began = time.perf_counter()
            client.get(eid)
            latencies.append(time.perf_counter() - began)
            peak = max(peak, server.memory_info().rss)
            runner = next(r for r in client.runners().supervised if r.name == "flood")
            if runner.HasField("last_exit_code"):
                break
        assert runner.last_exit_code == 0, "the flood did not end in time"
    info = supervised(daemon.address)["flood"]
    dropped = int(info["outputLinesDropped"])
    print(f"\nflood: {len(latencies)} gets, p50 {statistics.median(latencies) * 1000:.1f} ms, "
          f"max {max(latencies) * 1000:.1f} ms; daemon RSS {baseline >> 20} -> peak {peak >> 20} MB; "
          f"{dropped:,} lines not logged")
    assert len(latencies) >= 5
    assert statistics.median(latencies) < 0.5 and max(latencies) < 5.0
    assert peak - baseline < 40 * 2**20  # a 50 MB line held whole would be more than that
    assert daemon.terminate() == 0
    log = "".join(daemon.log)
    assert re.search(r"\[runner flood\] \([\d,]+ lines not logged: over 500 lines/s", log)
    # Every one of the 500,002 lines is either in the log or counted as dropped; the long
    # one, if logged, cut at 4 KiB.
    logged = [line for line in daemon.log if re.search(r"\[runner flood\] (x+|y+ \[line cut at 4096 bytes\]|after the long line) \|", line)]
    assert dropped > 0 and len(logged) + dropped == 500_002
    assert max(len(line) for line in daemon.log) < 4096 + 200


def test_a_daemon_killed_with_sigkill_leaves_no_runner(tmp_path: Path, daemons: list[Daemon]) -> None:
    """The kernel kills each runner when the daemon dies (PR_SET_PDEATHSIG), even one that
    ignores SIGTERM. (Only the runner's own process: what it started it must end itself,
    so these runners start nothing.)"""
    hang = script(tmp_path, "hang", IGNORES_SIGTERM_ALONE)
    sleeper = script(tmp_path, "sleeper", SLEEPS)
    daemon = Daemon(tmp_path / "data", "--no-runner",
                    "--runner", runner_flag("stubborn", sys.executable, hang),
                    "--runner", runner_flag("polite", sys.executable, sleeper))
    daemons.append(daemon)
    with StigmerClient(daemon.address) as client:
        for name in ("stubborn", "polite"):
            wait_for(f"{name} to be running", lambda n=name: state_of(client, n) == wire.dispatch.RUNNER_RUNNING)
    pids = [r["pid"] for r in supervised(daemon.address).values()]
    assert all(not gone(pid) for pid in pids)
    daemon.proc.send_signal(signal.SIGKILL)
    daemon.proc.wait(10)
    wait_for("every runner to be gone", lambda: all(gone(pid) for pid in pids), timeout=10)


def test_the_workflow_runner_supervised_equals_the_default(tmp_path: Path, daemons: list[Daemon]) -> None:
    """``serve --no-runner --runner workflows="stigmer-actors runner"``: the runner finds the
    daemon through STIGMER_ADDR, keeps its progress under the daemon's data directory, and
    runs workflows as the in-process runner does."""
    data = tmp_path / "data"
    daemon = Daemon(data, "--no-runner",
                    "--runner", runner_flag("workflows", sys.executable, "-m", "stigmer_actors.cli.main", "runner"))
    daemons.append(daemon)
    out = cli("run", str(ROOT / "examples" / "branch-and-join.yaml"), "--input", "severity=high",
              "--address", daemon.address, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr + "".join(daemon.log)[-3000:]
    # A run may finish within the runner's first second, which still counts as starting.
    runner = wait_for("the runner to count as running",
                      lambda: (r := supervised(daemon.address)["workflows"])["state"] == "RUNNER_RUNNING" and r,
                      timeout=10)
    assert runner["kind"] == "WORKFLOW"
    with StigmerClient(daemon.address) as client:
        assert [r.runner_id for r in client.runners().runners] == ["workflows"]
    assert any((data / "runners" / "workflows").rglob("CURRENT"))  # its progress store
    assert daemon.terminate() == 0
    assert "[runner workflows] " in "".join(daemon.log)


@pytest.mark.parametrize("flag, message", [
    ("agents", "is not NAME=COMMAND"),
    ("Agents=x", "runner name 'Agents' must be"),
    ("agents=", "runner 'agents' has an empty command"),
    ("agents='unclosed", "cannot be split into words"),
])
def test_a_bad_runner_flag_is_one_usage_line(tmp_path: Path, flag: str, message: str) -> None:
    out = cli("serve", "--data-dir", str(tmp_path / "data"), "--runner", flag)
    assert out.returncode == 2
    assert message in out.stderr.splitlines()[-1]
    assert not (tmp_path / "data").exists()


def test_two_runners_with_one_name_are_refused(tmp_path: Path) -> None:
    out = cli("serve", "--data-dir", str(tmp_path / "data"), "--runner", "a=x", "--runner", "a=y")
    assert out.returncode == 2
    assert "two runners are named 'a'" in out.stderr
