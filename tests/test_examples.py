"""The workflows in ``examples/`` run and end as ``examples/README.md`` says they do.

Each file is run as it is on disk: by the in-process daemon of test_workflow_runs.py, and
one of them through the real ``stigmer-actors run`` against a ``stigmer-actors serve``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message

from stigmer_actors.domain import phases
from stigmer_actors.wire import workflow_enum
from tests.daemon import Daemon as ServeProcess
from tests.daemon import cli
from tests.test_workflow_runs import (
    COMPLETED,
    IN_PROGRESS,
    SKIPPED,
    Daemon,
    check_after,
    check_forward,
    final,
)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    d = Daemon(tmp_path / "data")
    try:
        yield d
    finally:
        d.close()


def run_example(daemon: Daemon, name: str, **inputs: str) -> list:
    seen = daemon.run((EXAMPLES / f"{name}.yaml").read_text(), **inputs)
    assert seen[-1].status.phase == phases.COMPLETED, seen[-1].status.error
    check_forward(seen)
    return seen


def statuses(seen: list) -> dict[str, int]:
    return {task_id: task.status for task_id, task in final(seen).items()}


def plain(message: Message) -> dict:
    return MessageToDict(message)


def at(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp)


def test_fan_out_fan_in(daemon: Daemon) -> None:
    seen = run_example(daemon, "fan-out-fan-in")
    tasks = final(seen)
    assert statuses(seen) == {t: COMPLETED for t in ["start#0", "stats#0", "big#0", "pause#0", "merge#0"]}
    for branch in ("stats#0", "big#0", "pause#0"):
        check_after(seen, branch, "start#0")
    check_after(seen, "merge#0", "stats#0", "big#0", "pause#0")
    merged = plain(tasks["merge#0"].output)
    assert merged == {"stats": {"count": 6, "first": 4, "last": 42}, "big": {"items": [15, 16, 23, 42]},
                      "pause": {}}
    assert plain(seen[-1].status.output) == {"merge": merged}
    assert tasks["merge#0"].task_type == workflow_enum.WORKFLOW_TASK_PARALLEL
    # The slow branch did not hold the others up: they were done before it was.
    pause = tasks["pause#0"]
    assert (at(pause.completed_at) - at(pause.started_at)).total_seconds() >= 0.09
    for fast in ("stats#0", "big#0"):
        assert at(tasks[fast].completed_at) <= at(pause.completed_at)
    assert at(tasks["merge#0"].started_at) >= at(pause.completed_at)


def test_fan_out_fan_in_with_an_input(daemon: Daemon) -> None:
    seen = run_example(daemon, "fan-out-fan-in", threshold="20")
    assert plain(final(seen)["merge#0"].output)["big"] == {"items": [23, 42]}


@pytest.mark.parametrize(("severity", "taken", "untaken", "last"), [
    ("high", ["page#0", "escalate#0"], ["file#0", "label#0"], "escalate"),
    ("low", ["file#0", "label#0"], ["page#0", "escalate#0"], "label"),
])
def test_branch_and_join(daemon: Daemon, severity: str, taken: list[str], untaken: list[str], last: str) -> None:
    seen = run_example(daemon, "branch-and-join", severity=severity)
    hist = check_forward(seen)
    tasks = final(seen)
    assert statuses(seen) == {
        "route#0": COMPLETED, **{t: COMPLETED for t in taken}, **{t: SKIPPED for t in untaken},
        "done#0": COMPLETED,
    }
    assert all(IN_PROGRESS not in hist[t] for t in untaken)  # skipped, never run
    check_after(seen, "done#0", *taken, *untaken)
    done = plain(tasks["done#0"].output)
    assert list(done) == [last]  # the join merged the side that ran
    assert plain(seen[-1].status.output) == {"done": done}
    if severity == "high":
        assert done == {"escalate": {"escalated_to": "incident-commander", "after": "on-call"}}
    else:
        assert done == {"label": {"labels": ["low", "support"]}}
    assert tasks["route#0"].task_type == workflow_enum.WORKFLOW_TASK_CONDITIONAL
    assert tasks["done#0"].task_type == workflow_enum.WORKFLOW_TASK_PARALLEL


def test_retrying_loop(daemon: Daemon) -> None:
    seen = run_example(daemon, "retrying-loop")
    tasks = final(seen)
    assert list(tasks) == ["start#0", "body#0", "check#0", "gave-up#0", "finish#0",
                           "body#1", "check#1", "body#2", "check#2"]
    assert statuses(seen) == {**{t: COMPLETED for t in tasks}, "gave-up#0": SKIPPED}
    for i in range(3):
        body = tasks[f"body#{i}"]
        assert body.metadata["attempt"] == 2 and body.metadata["iteration"] == i  # retried once
        assert plain(body.output) == {"count": i + 1, "attempt": 2}
        assert body.error == ""  # the retry's success clears the failed attempt's error
        assert tasks[f"check#{i}"].metadata["attempt"] == 1
        assert plain(tasks[f"check#{i}"].output) == {"remaining": 2 - i}
    errors = {t.error for s in seen for t in s.status.tasks if t.error}
    assert errors <= {f"attempt 1 failed: simulated failure (iteration {i}, attempt 1)" for i in range(3)}
    check_after(seen, "body#1", "check#0")
    check_after(seen, "body#2", "check#1")
    check_after(seen, "finish#0", "check#2")
    assert plain(tasks["finish#0"].output) == {"iterations": 3, "attempts": 2}
    assert plain(seen[-1].status.output) == {"finish": {"iterations": 3, "attempts": 2}}


def test_retrying_loop_exhausted(daemon: Daemon) -> None:
    """A target the loop cannot reach in max_iterations (5) ends at gave-up, not finish."""
    seen = run_example(daemon, "retrying-loop", target="10")
    tasks = final(seen)
    assert [t for t in tasks if t.startswith("body#")] == [f"body#{i}" for i in range(5)]
    assert tasks["gave-up#0"].status == COMPLETED and tasks["finish#0"].status == SKIPPED
    assert plain(seen[-1].status.output) == {"gave-up": {}}


def test_run_an_example_with_the_cli(tmp_path: Path) -> None:
    serve = ServeProcess(tmp_path / "d")
    try:
        result = cli("run", str(EXAMPLES / "branch-and-join.yaml"), "--address", serve.address,
                     "--input", "severity=high", timeout=60)
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        execution_id, _, name = lines[0].partition(": ")
        assert name == "branch-and-join v1"
        assert any("EXECUTION_COMPLETED" in line for line in lines)
        expected = [("route#0", "COMPLETED"), ("page#0", "COMPLETED"), ("escalate#0", "COMPLETED"),
                    ("file#0", "SKIPPED"), ("label#0", "SKIPPED"), ("done#0", "COMPLETED")]
        # Piped, ``run`` prints each state's summary line and the tasks that changed under it.
        for task, status in expected:
            assert f"  {task}  {status}" in lines, result.stdout
        shown = cli("get", execution_id, "--address", serve.address)
        assert shown.returncode == 0, shown.stderr
        for task, status in expected:
            name = task.split("#")[0]
            assert f"task {task}  {name}  WORKFLOW_TASK_{status}" in shown.stdout, shown.stdout
    finally:
        serve.terminate()
