"""What one CEL expression may cost a run: its node's ``timeout`` and the run's cancellation
stop an evaluation in progress, and without them a step budget does (``limits.EXPRESSION_STEPS``).

Before: a 272-byte definition ran its expression for 8 CPU-seconds despite ``timeout: 1s``
and after its run was CANCELLED, holding the run's actor thread all along (in-line nodes,
templates and branch conditions are evaluated there).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from stigmer_actors.client import StigmerClient
from stigmer_actors.domain import phases
from stigmer_actors.domain.kinds import WORKFLOW
from stigmer_actors.runner import limits
from tests.daemon import Daemon as Subprocess
from tests.test_workflow_limits import stop
from tests.test_workflow_runs import IN_PROGRESS, Daemon

# Seven nested comprehensions over ten numbers: 10**7 evaluations of the innermost
# condition, minutes of CPU in celpy (~25 us a syntax-tree node), from 150 characters.
BURN = ("input.l.all(a, input.l.all(b, input.l.all(c, input.l.all(d, input.l.all(e, "
        "input.l.all(f, input.l.all(g, a + b + c + d + e + f + g >= 0)))))))")
TEN = "input: {l: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]}\n"
SPENT = (f"CEL `{BURN}`: stopped after {limits.EXPRESSION_STEPS:,} evaluation steps, "
         f"the most one node's expressions may take")


@pytest.fixture
def unbudgeted(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Daemon]:
    """A real server and runner in this process, with the step budget out of the way, so that
    only the node's timeout or the run's cancellation can stop an expression."""
    monkeypatch.setattr(limits, "EXPRESSION_STEPS", 10**12)
    d = Daemon(data_dir)
    yield d
    d.close()


def test_a_node_timeout_stops_its_expression(unbudgeted: Daemon) -> None:
    began = time.monotonic()
    seen = unbudgeted.run(f"name: burn\n{TEN}nodes:\n"
                          f"  - {{id: burn, type: transform, timeout: 1s, with: {{set: {{ok: '{BURN}'}}}}}}\n")
    assert seen[-1].status.phase == phases.FAILED
    assert seen[-1].status.error == "node burn: timed out after 1 s"
    assert time.monotonic() - began < 30  # the watch's own bound; about 1 s here


def test_cancelling_the_run_stops_its_expression_and_the_cpu_it_burns(unbudgeted: Daemon) -> None:
    d = unbudgeted
    d.client.apply_workflow(f"name: burn\n{TEN}nodes:\n  - {{id: burn, type: transform, with: {{set: {{ok: '{BURN}'}}}}}}\n")
    run = d.client.create_workflow(workflow_id="burn")
    stream = d.client.watch(run.metadata.id, WORKFLOW)
    for state in stream:  # the actor is in the expression once the node is reported started
        if any(t.task_id == "burn#0" and t.status == IN_PROGRESS for t in state.status.tasks):
            break
    stream.cancel()
    burning = time.process_time()
    time.sleep(1.0)  # a measurement window, not a synchronization: the expression burns on
    assert time.process_time() - burning > 0.2, "the expression was not running"
    d.client.update_status(run.metadata.id, WORKFLOW.status_cls(phase=phases.CANCELLED))
    cancelled = time.monotonic()
    assert d.runner.wait_idle(timeout=15), "the run's actor is still evaluating after the cancel"
    stopped_in = time.monotonic() - cancelled
    quiet = time.process_time()
    time.sleep(2.0)  # a measurement window: nothing of this run may burn CPU any more
    assert time.process_time() - quiet < 0.25, f"CPU still burning {stopped_in:.2f} s after the cancel"
    final = d.client.get(run.metadata.id)
    assert final.status.phase == phases.CANCELLED
    assert [t.task_id for t in final.status.tasks] == ["burn#0"]  # what was reported stays


def _until_end(client: StigmerClient, execution_id: str, seconds: float = 60) -> object:
    stream = client.watch(execution_id)
    timer = threading.Timer(seconds, stream.cancel)  # a hung run fails the test, not the suite
    timer.start()
    last = None
    try:
        for last in stream:
            pass
    finally:
        timer.cancel()
    assert last is not None and phases.is_terminal(last.status.phase), "the run did not end"
    return last


@pytest.mark.parametrize("name,nodes,error", [
    ("in-line", f"  - {{id: burn, type: transform, with: {{set: {{ok: '{BURN}'}}}}}}\n", f"node burn: {SPENT}"),
    ("branch", f"  - {{id: route, type: noop, branch: {{rules: [{{when: '{BURN}', next: [a]}}], default: [a]}}}}\n"
               "  - {id: a, type: noop}\n", f"node route: {SPENT}"),
    ("template", f"  - {{id: call, type: wait, with: {{for: 1s, note: '{{{{ {BURN} }}}}'}}}}\n", f"node call: {SPENT}"),
])
def test_without_a_timeout_the_step_budget_stops_an_expression(tmp_path: Path, name: str, nodes: str, error: str) -> None:
    """The default budget, on a real daemon in a subprocess: each place an expression is
    evaluated fails its node with the budget's message, and the daemon runs on."""
    daemon = Subprocess(tmp_path / "data", "--pending-timeout", "0", "--heartbeat-timeout", "0")
    try:
        with StigmerClient(daemon.address, timeout=30) as client:
            client.apply_workflow(f"name: burn\n{TEN}nodes:\n{nodes}")  # 258 to 311 bytes
            last = _until_end(client, client.create_workflow(workflow_id="burn").metadata.id)
            assert (last.status.phase, last.status.error) == (phases.FAILED, error)
            client.apply_workflow("name: fine\nnodes: [{id: a, type: transform, with: {set: {x: 'input.l.size()'}}}]\n"
                                  + TEN)
            after = _until_end(client, client.create_workflow(workflow_id="fine").metadata.id)
            assert after.status.phase == phases.COMPLETED
            assert daemon.proc.poll() is None
    finally:
        assert stop(daemon) == 0


@pytest.mark.parametrize("expression,variables", [
    ("input.l.map(x, input.big)", {"l": list(range(100)), "big": list(range(5000))}),  # 500,000 elements out
    ("input.l.reduce(r, i, 'x', r + r)", {"l": list(range(24))}),  # a string doubling 24 times: 16 MB
])
def test_the_budget_counts_the_size_of_values_not_only_the_steps(expression: str, variables: dict) -> None:
    """Few syntax-tree nodes, big values: what they build or read is what they cost."""
    from stigmer_actors.runner.expressions import ExpressionError, evaluate

    with pytest.raises(ExpressionError) as info:
        evaluate(expression, {"input": variables})
    assert str(info.value) == (f"CEL `{expression}`: stopped after {limits.EXPRESSION_STEPS:,} evaluation steps, "
                               f"the most one node's expressions may take")
