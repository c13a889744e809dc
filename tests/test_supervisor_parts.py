"""The supervisor's parts on their own: lines cut to a bound, the stderr tail, the restart
policy, NAME=COMMAND, the explanation a pending timeout quotes, and the engine's hook that
puts it into the execution through the normal expiry path."""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path

import psutil
import pytest

from stigmer_actors import Engine, wire
from stigmer_actors.domain import phases
from stigmer_actors.domain.kinds import AGENT, WORKFLOW
from stigmer_actors.supervisor import RestartPolicy, Supervisor, parse_runner
from stigmer_actors.supervisor.lifecycle import BACKING_OFF, FAILED, RUNNING, RunnerStatus
from stigmer_actors.supervisor.output import LineSplitter, Tail
from stigmer_actors.supervisor.policy import MAX_BACKOFF, ExitHistory
from stigmer_actors.supervisor.supervisor import absence
from tests.conftest import agent, workflow


def test_lines_are_split_across_reads() -> None:
    splitter = LineSplitter(max_line=10)
    assert splitter.feed(b"ab") == []
    assert splitter.feed(b"c\nde\n\nf") == [b"abc", b"de", b""]
    assert splitter.feed(b"g\r\n") == [b"fg\r"]
    assert splitter.end() == []
    assert splitter.feed(b"tail without newline") == [b"tail witho [line cut at 10 bytes]"]
    assert splitter.end() == []  # the rest of a cut line is skipped, even at the end
    assert splitter.feed(b"last") == [] and splitter.end() == [b"last"]


def test_a_50_mb_line_without_newline_is_cut_not_held() -> None:
    splitter = LineSplitter(max_line=4096)
    chunk = b"y" * 65536
    out: list[bytes] = []
    for _ in range(800):  # 50 MiB
        out += splitter.feed(chunk)
        assert len(splitter._partial) <= 4096  # what it holds between reads
    out += splitter.feed(b"y" * 10 + b"\nnext\n")
    assert out == [b"y" * 4096 + b" [line cut at 4096 bytes]", b"next"]


def test_the_tail_keeps_the_last_20_lines_and_2_kb() -> None:
    tail = Tail()
    for i in range(30):
        tail.add(f"line {i}")
    assert tail.lines() == [f"line {i}" for i in range(10, 30)]
    for i in range(30):
        tail.add(f"{i:03d} " + "z" * 296)  # 300 characters each
    kept = tail.lines()
    assert len(kept) == 6 and kept[-1].startswith("029 ") and len("\n".join(kept)) <= 2048
    tail.add("x" * 5000 + "the end")
    assert tail.lines() == ["..." + ("x" * 5000 + "the end")[-2045:]]


def test_restarts_back_off_and_a_crash_loop_stops_them() -> None:
    history = ExitHistory(RestartPolicy(backoff=1.0))
    assert [history.record(t) for t in (0.0, 1.1, 3.2, 7.3)] == [1.0, 2.0, 4.0, 8.0]
    assert history.record(15.4) is None  # the 5th exit within 60 s
    calm = ExitHistory(RestartPolicy(backoff=1.0))
    assert [calm.record(t) for t in (0.0, 100.0, 200.0)] == [1.0, 1.0, 1.0]  # each alone in its window
    capped = ExitHistory(RestartPolicy(backoff=MAX_BACKOFF, max_exits=100, window=1e9))
    assert [capped.record(t) for t in range(3)] == [MAX_BACKOFF] * 3
    with pytest.raises(ValueError):
        RestartPolicy(backoff=-1)


def test_runner_specs() -> None:
    spec = parse_runner("""agents=python -m my_runner --flag 'two words'""")
    assert spec.argv == ("python", "-m", "my_runner", "--flag", "two words") and spec.kind is AGENT
    assert parse_runner("workflows=stigmer-actors runner").kind is WORKFLOW
    assert parse_runner("workflow-heavy=x").kind is WORKFLOW
    with pytest.raises(ValueError, match="at most 4,096"):
        parse_runner("a=" + "x" * 5000)


def _status(state: str, exits: int, code: int | None, stderr: tuple[str, ...]) -> RunnerStatus:
    return RunnerStatus(parse_runner("agents=python -m my_runner"), state, 0, max(exits - 1, 0),
                        exits, code, 0.0, stderr, 0)


def test_the_explanation_names_the_runner_and_quotes_its_stderr() -> None:
    said = ("Traceback (most recent call last):", "ModuleNotFoundError: No module named 'langgraph'")
    assert absence(_status(BACKING_OFF, 3, 1, said)) == (
        "runner 'agents' exited 3 times (exit 1) and is waiting to be started again; last output: "
        "Traceback (most recent call last):\nModuleNotFoundError: No module named 'langgraph'")
    assert absence(_status(FAILED, 5, -9, ())) == (
        "runner 'agents' exited 5 times (killed by SIGKILL) and is not started again (a crash "
        "loop); last output: (nothing on stderr)")


def test_a_command_that_does_not_exist_fails_like_a_shell_says(tmp_path: Path) -> None:
    supervisor = Supervisor([parse_runner("agents=stigmer-no-such-command --x")], RestartPolicy(0.0), 1.0)
    supervisor.start("127.0.0.1:1", tmp_path)
    try:
        deadline = time.monotonic() + 30
        while supervisor.statuses()[0].state != FAILED:
            assert time.monotonic() < deadline, supervisor.statuses()
            time.sleep(0.05)  # polling a condition with a deadline
        status = supervisor.statuses()[0]
        assert status.exits == 5 and status.last_exit_code == 127
        assert status.last_stderr == ("cannot start 'stigmer-no-such-command': command not found",)
        assert supervisor.no_runner_reason("workflow") is None  # it serves agents only
        assert supervisor.no_runner_reason("agent") == (
            "runner 'agents' exited 5 times (exit 127) and is not started again (a crash loop); "
            "last output: cannot start 'stigmer-no-such-command': command not found")
        assert (tmp_path / "runners" / "agents").is_dir()
    finally:
        supervisor.stop()


LEAVES_A_HELPER = (
    "import subprocess, sys; helper = subprocess.Popen(['sleep', '1000']); "
    "print('helper', helper.pid, file=sys.stderr, flush=True); sys.exit(3)"
)


def test_what_a_runner_started_goes_with_it(tmp_path: Path) -> None:
    """A runner that exits leaving a helper behind: the helper, in its process group, is
    killed before the runner is reaped (and its stderr is the runner's tail)."""
    spec = parse_runner(f"agents={shlex.quote(sys.executable)} -c {shlex.quote(LEAVES_A_HELPER)}")
    supervisor = Supervisor([spec], RestartPolicy(60.0), 1.0)
    supervisor.start("127.0.0.1:1", tmp_path)
    try:
        deadline = time.monotonic() + 30
        while supervisor.statuses()[0].state != BACKING_OFF:
            assert time.monotonic() < deadline, supervisor.statuses()
            time.sleep(0.05)  # polling a condition with a deadline
        status = supervisor.statuses()[0]
        assert status.last_exit_code == 3
        helper = int(status.last_stderr[-1].split()[1])
        deadline = time.monotonic() + 10
        while not _gone(helper):
            assert time.monotonic() < deadline, f"helper {helper} outlived its runner"
            time.sleep(0.05)  # polling a condition with a deadline
    finally:
        supervisor.stop()


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_a_running_runner_explains_nothing(tmp_path: Path) -> None:
    supervisor = Supervisor([parse_runner("agents=sleep 60")], RestartPolicy(0.0), 1.0)
    supervisor.start("127.0.0.1:1", tmp_path)
    try:
        deadline = time.monotonic() + 30
        while supervisor.statuses()[0].state != RUNNING:
            assert time.monotonic() < deadline, supervisor.statuses()
            time.sleep(0.05)  # polling a condition with a deadline
        assert supervisor.no_runner_reason("agent") is None
    finally:
        supervisor.stop()
    status = supervisor.statuses()[0]
    assert status.state == "stopped" and status.last_exit_code == -15  # SIGTERM


def test_the_engine_puts_the_explanation_into_a_pending_timeout(data_dir: Path) -> None:
    def why(kind: str) -> str | None:
        if kind == "workflow":
            raise RuntimeError("a hook that fails costs only the explanation")
        return "runner 'agents' exited 3 times (exit 1); last output: boom"

    with Engine(data_dir, pending_timeout=0.5, heartbeat_timeout=0, no_runner_reason=why) as engine:
        agent_id = engine.create(agent()).metadata.id
        workflow_id = engine.create(workflow()).metadata.id
        for eid, error in [
            (agent_id, "no runner picked up this execution within 0.5 s: runner 'agents' exited 3 "
                       "times (exit 1); last output: boom"),
            (workflow_id, "no runner picked up this execution within 0.5 s: is a runner for "
                          "workflow executions running and connected?"),
        ]:
            with engine.subscribe(eid) as watch:
                states = list(watch)
            assert states[-1].status.phase == phases.FAILED
            assert states[-1].status.error == error


def test_without_a_hook_the_message_is_the_generic_one(data_dir: Path) -> None:
    with Engine(data_dir, pending_timeout=0.5, heartbeat_timeout=0) as engine:
        eid = engine.create(wire.AgentExecution(spec={"message": "m", "session_id": "s"})).metadata.id
        with engine.subscribe(eid) as watch:
            final = list(watch)[-1]
        assert final.status.error == ("no runner picked up this execution within 0.5 s: is a runner "
                                      "for agent executions running and connected?")
