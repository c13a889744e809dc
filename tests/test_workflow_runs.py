"""Workflow runs end to end: a real gRPC server, the runner claiming through dispatch, and a
subscriber watching ``status.tasks`` change (not only the final state).

Each test checks what the watcher saw: every task's statuses only ever move forward
(PENDING -> IN_PROGRESS -> COMPLETED/FAILED/SKIPPED; coalescing may hide a middle one),
and causality across tasks: no node is seen started before the nodes it waits for are
seen ended.
"""

from __future__ import annotations

import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from stigmer_actors import Engine
from stigmer_actors.client import StigmerClient
from stigmer_actors.domain import phases
from stigmer_actors.domain.kinds import WORKFLOW
from stigmer_actors.grpc_edge.server import EdgeServer
from stigmer_actors.runner.policy import HttpHosts, NodePolicy, PythonModules
from stigmer_actors.runner.service import WorkflowRunner
from stigmer_actors.wire import workflow_enum
from tests import workflow_hooks
from tests.daemon import HOOK_MODULES

TASK = workflow_enum.WorkflowTaskStatus
ORDER = {TASK.Value(n): i for i, n in enumerate(
    ["WORKFLOW_TASK_PENDING", "WORKFLOW_TASK_IN_PROGRESS", "WORKFLOW_TASK_COMPLETED"])}
PENDING, IN_PROGRESS, COMPLETED, FAILED, SKIPPED = (
    TASK.Value(f"WORKFLOW_TASK_{n}") for n in ("PENDING", "IN_PROGRESS", "COMPLETED", "FAILED", "SKIPPED"))
ENDED = {COMPLETED, FAILED, SKIPPED}


class Daemon:
    """A daemon and its runner in this process. Its python nodes may call the tests' hooks,
    and its http nodes reach ``http_hosts`` (loopback, for the tests' HTTP servers; None:
    the default, public addresses only)."""

    def __init__(
        self, data_dir: Path, inactivity_timeout: float = 60.0, heartbeat_timeout: float = 0,
        heartbeat_every: float = 30.0, max_message_bytes: int = 4 * 1024 * 1024,
        http_hosts: str | None = "127.0.0.1",
    ) -> None:
        self.engine = Engine(data_dir, pending_timeout=0, heartbeat_timeout=heartbeat_timeout,
                             python_modules=HOOK_MODULES)
        self.server = EdgeServer(self.engine, "127.0.0.1:0", max_message_bytes=max_message_bytes).start()
        self.policy = NodePolicy(PythonModules.parse(HOOK_MODULES),
                                 HttpHosts.parse(http_hosts) if http_hosts is not None else HttpHosts())
        self.runner = WorkflowRunner(self.server.address, self.engine.store, inactivity_timeout=inactivity_timeout,
                                     heartbeat_every=heartbeat_every, policy=self.policy).start()
        self.client = StigmerClient(self.server.address)

    def run(self, source: str, **inputs: str) -> list:
        """Apply, start, and return every state a watcher saw until the end."""
        name = self.client.apply_workflow(textwrap.dedent(source)).definition.name
        execution = self.client.create_workflow(workflow_id=name, trigger_metadata=inputs)
        return self.watch(execution.metadata.id)

    def watch(self, execution_id: str) -> list:
        seen = []
        stream = self.client.watch(execution_id, WORKFLOW)
        timer = threading.Timer(30, stream.cancel)  # a hung run fails the test, not the suite
        timer.start()
        try:
            seen.extend(stream)
        finally:
            timer.cancel()
        assert phases.is_terminal(seen[-1].status.phase), "the watch ended before the run did"
        return seen

    def close(self) -> None:
        self.client.close()
        self.runner.stop()
        self.server.stop(grace=1)
        self.engine.close()


@pytest.fixture
def daemon(data_dir: Path) -> Iterator[Daemon]:
    d = Daemon(data_dir)
    workflow_hooks.CALLS.clear()
    yield d
    d.close()


def history(seen: list) -> dict[str, list[int]]:
    """task_id -> the distinct statuses it had, in the order the watcher saw them."""
    out: dict[str, list[int]] = {}
    for execution in seen:
        for task in execution.status.tasks:
            statuses = out.setdefault(task.task_id, [])
            if not statuses or statuses[-1] != task.status:
                statuses.append(task.status)
    return out


def first(seen: list, task_id: str, statuses: set[int]) -> int:
    """Index of the first state in which ``task_id`` has one of ``statuses``."""
    for index, execution in enumerate(seen):
        if any(t.task_id == task_id and t.status in statuses for t in execution.status.tasks):
            return index
    raise AssertionError(f"{task_id} never reached {statuses}")


def final(seen: list) -> dict[str, object]:
    return {t.task_id: t for t in seen[-1].status.tasks}


def check_forward(seen: list) -> dict[str, list[int]]:
    """Every task's statuses only move forward; returns the history."""
    hist = history(seen)
    for task_id, statuses in hist.items():
        ended = [s for s in statuses if s in ENDED]
        assert len(ended) <= 1, f"{task_id} ended twice: {statuses}"
        ranks = [ORDER.get(s, 2) for s in statuses]
        assert ranks == sorted(ranks), f"{task_id} went backwards: {statuses}"
    return hist


def check_after(seen: list, later: str, *earlier: str) -> None:
    """``later`` is not seen started before every one of ``earlier`` is seen ended."""
    started = first(seen, later, {IN_PROGRESS, COMPLETED, FAILED})
    for task_id in earlier:
        assert first(seen, task_id, ENDED) <= started, f"{later} started before {task_id} ended"


def calls(node_prefix: str = "") -> list[tuple[str, int, int]]:
    return [(n, i, a) for _, n, i, a in workflow_hooks.CALLS if n.startswith(node_prefix)]


RECORD = "{type: python, with: {call: 'tests.workflow_hooks:record'}}"


def test_sequential_chain(daemon: Daemon) -> None:
    seen = daemon.run(f"""
        name: chain
        nodes:
          - {{id: a, {RECORD[1:-1]}}}
          - {{id: b, {RECORD[1:-1]}}}
          - {{id: c, {RECORD[1:-1]}}}
        edges: [{{from: a, to: b}}, {{from: b, to: c}}]
    """)
    assert seen[-1].status.phase == phases.COMPLETED
    check_forward(seen)
    listed = next(s for s in seen if s.status.tasks)
    assert [t.task_id for t in listed.status.tasks] == ["a#0", "b#0", "c#0"]  # the whole graph at once
    check_after(seen, "b#0", "a#0")
    check_after(seen, "c#0", "b#0")
    assert calls() == [("a", 0, 1), ("b", 0, 1), ("c", 0, 1)]
    assert dict(seen[-1].status.output["c"]) == {"node": "c", "iteration": 0.0}
    assert [t.task_id for t in seen[-1].status.tasks] == ["a#0", "b#0", "c#0"]
    assert all(t.task_type == workflow_enum.WORKFLOW_TASK_CUSTOM for t in seen[-1].status.tasks)


def test_fan_out_and_join_all(daemon: Daemon) -> None:
    seen = daemon.run(f"""
        name: diamond
        nodes:
          - {{id: a, {RECORD[1:-1]}}}
          - {{id: b, type: wait, with: {{for: 50ms}}}}
          - {{id: c, {RECORD[1:-1]}}}
          - {{id: d, type: aggregate, join: all}}
        edges: [{{from: a, to: b}}, {{from: a, to: c}}, {{from: b, to: d}}, {{from: c, to: d}}]
    """)
    assert seen[-1].status.phase == phases.COMPLETED
    check_forward(seen)
    check_after(seen, "b#0", "a#0")
    check_after(seen, "c#0", "a#0")
    check_after(seen, "d#0", "b#0", "c#0")
    d = final(seen)["d#0"]
    assert d.status == COMPLETED and set(d.output.keys()) == {"b", "c"}
    assert d.task_type == workflow_enum.WORKFLOW_TASK_PARALLEL


def test_triple_fan_in(daemon: Daemon) -> None:
    seen = daemon.run("""
        name: fan-in
        nodes:
          - {id: start, type: noop}
          - {id: x, type: transform, with: {set: {v: "1"}}}
          - {id: y, type: wait, with: {for: 30ms}}
          - {id: z, type: transform, with: {set: {v: "3"}}}
          - {id: merge, type: aggregate}
        edges:
          - {from: start, to: x}
          - {from: start, to: y}
          - {from: start, to: z}
          - {from: x, to: merge}
          - {from: y, to: merge}
          - {from: z, to: merge}
    """)
    assert seen[-1].status.phase == phases.COMPLETED
    check_forward(seen)
    check_after(seen, "merge#0", "x#0", "y#0", "z#0")
    merged = final(seen)["merge#0"].output
    assert set(merged.keys()) == {"x", "y", "z"} and merged["z"]["v"] == 3
    assert history(seen)["merge#0"].count(IN_PROGRESS) <= 1  # fired once, not per input


def test_branch_skips_the_untaken_side_and_the_join_still_fires(daemon: Daemon) -> None:
    seen = daemon.run("""
        name: triage
        input: {severity: low}
        nodes:
          - id: route
            type: noop
            branch:
              rules: [{when: "input.severity == 'high'", next: [page]}]
              default: [file]
          - {id: page, type: python, with: {call: 'tests.workflow_hooks:record'}}
          - {id: escalate, type: python, with: {call: 'tests.workflow_hooks:record'}}
          - {id: file, type: python, with: {call: 'tests.workflow_hooks:record'}}
          - {id: done, type: aggregate, join: all}
        edges:
          - {from: page, to: escalate}
          - {from: escalate, to: done}
          - {from: file, to: done}
    """, severity="low")
    assert seen[-1].status.phase == phases.COMPLETED
    hist = check_forward(seen)
    tasks = final(seen)
    assert tasks["page#0"].status == SKIPPED and tasks["escalate#0"].status == SKIPPED  # dead path, 2 deep
    assert IN_PROGRESS not in hist["page#0"] and IN_PROGRESS not in hist["escalate#0"]
    assert tasks["file#0"].status == COMPLETED and tasks["done#0"].status == COMPLETED
    assert set(tasks["done#0"].output.keys()) == {"file"}
    assert tasks["route#0"].task_type == workflow_enum.WORKFLOW_TASK_CONDITIONAL
    assert [n for n, _, _ in calls()] == ["file"]
    check_after(seen, "done#0", "file#0", "escalate#0")


def test_loop_exits_by_until(daemon: Daemon) -> None:
    seen = daemon.run("""
        name: until-loop
        nodes:
          - {id: setup, type: noop}
          - id: step
            type: python
            with: {call: 'tests.workflow_hooks:count'}
            loop: {until: "output.count >= 3", back_to: step, max_iterations: 10, on_exhausted: [gave-up]}
          - {id: gave-up, type: noop}
          - {id: after, type: transform, with: {set: {total: "nodes.step.output.count"}}}
        edges: [{from: setup, to: step}, {from: step, to: after}]
    """)
    assert seen[-1].status.phase == phases.COMPLETED
    check_forward(seen)
    tasks = final(seen)
    assert [t for t in tasks if t.startswith("step#")] == ["step#0", "step#1", "step#2"]
    assert all(tasks[f"step#{i}"].status == COMPLETED for i in range(3))
    assert tasks["gave-up#0"].status == SKIPPED
    assert tasks["after#0"].output["total"] == 3
    check_after(seen, "step#1", "step#0")
    check_after(seen, "after#0", "step#2")
    assert calls("step") == [("step", 0, 1), ("step", 1, 1), ("step", 2, 1)]


def test_loop_hits_max_iterations_into_on_exhausted(daemon: Daemon) -> None:
    seen = daemon.run("""
        name: exhausted
        nodes:
          - id: body
            type: python
            with: {call: 'tests.workflow_hooks:count'}
          - id: check
            type: noop
            loop: {until: "nodes.body.output.count > 100", back_to: body, max_iterations: 3, on_exhausted: [give-up]}
          - {id: give-up, type: python, with: {call: 'tests.workflow_hooks:record'}}
          - {id: next, type: python, with: {call: 'tests.workflow_hooks:record'}}
        edges: [{from: body, to: check}, {from: check, to: next}]
    """)
    assert seen[-1].status.phase == phases.COMPLETED
    check_forward(seen)
    tasks = final(seen)
    assert [t for t in tasks if t.startswith(("body#", "check#"))] == [
        "body#0", "check#0", "body#1", "check#1", "body#2", "check#2"]
    assert tasks["give-up#0"].status == COMPLETED and tasks["next#0"].status == SKIPPED
    assert calls() == [("body", 0, 1), ("body", 1, 1), ("body", 2, 1), ("give-up", 0, 1)]
    check_after(seen, "body#2", "check#1")


def test_loop_without_on_exhausted_fails_the_run(daemon: Daemon) -> None:
    seen = daemon.run("""
        name: no-way-out
        nodes:
          - id: spin
            type: noop
            loop: {until: "false", back_to: spin, max_iterations: 2}
          - {id: after, type: noop}
        edges: [{from: spin, to: after}]
    """)
    assert seen[-1].status.phase == phases.FAILED
    assert seen[-1].status.error == "node spin: loop reached max_iterations (2) and has no on_exhausted"
    assert final(seen)["after#0"].status == SKIPPED


def test_retry_succeeds_on_the_third_attempt(daemon: Daemon) -> None:
    seen = daemon.run("""
        name: retrying
        nodes:
          - id: flaky
            type: python
            with: {call: 'tests.workflow_hooks:flaky', succeed_on: 3}
            retry: {max_attempts: 3, backoff: 20ms}
    """)
    assert seen[-1].status.phase == phases.COMPLETED
    check_forward(seen)
    task = final(seen)["flaky#0"]
    assert task.status == COMPLETED and task.output["attempt"] == 3 and task.metadata["attempt"] == 3
    assert calls() == [("flaky", 0, 1), ("flaky", 0, 2), ("flaky", 0, 3)]
    errors = {t.error for s in seen for t in s.status.tasks if t.error}
    assert errors <= {"attempt 1 failed: flaky failure on attempt 1", "attempt 2 failed: flaky failure on attempt 2"}


def test_retries_exhausted_fail_the_run(daemon: Daemon) -> None:
    seen = daemon.run("""
        name: too-flaky
        nodes:
          - id: flaky
            type: python
            with: {call: 'tests.workflow_hooks:flaky', succeed_on: 5}
            retry: {max_attempts: 2}
    """)
    assert seen[-1].status.phase == phases.FAILED
    assert seen[-1].status.error == "node flaky: flaky failure on attempt 2"
    assert calls() == [("flaky", 0, 1), ("flaky", 0, 2)]


def test_each_run_gets_the_definition_it_names_even_when_compiled_ones_are_reused(daemon: Daemon) -> None:
    """The runner keeps compiled definitions: a new version, and a name deleted and applied
    anew, run their own nodes, not a kept IR of the name."""
    def run_names(*node_ids: str) -> list[str]:
        nodes = "\n".join(f"  - {{id: {n}, {RECORD[1:-1]}}}" for n in node_ids)
        seen = daemon.run(f"name: reused\nnodes:\n{nodes}\n")
        assert seen[-1].status.phase == phases.COMPLETED
        return sorted(t.task_id for t in seen[-1].status.tasks)

    assert run_names("a") == ["a#0"]
    assert run_names("a") == ["a#0"]  # the same version again
    assert run_names("b") == ["b#0"]  # a changed definition: a new version
    daemon.client.delete_workflow_definition("reused")
    assert run_names("c") == ["c#0"]
    assert [n for n, _, _ in calls()] == ["a", "a", "b", "c"]


def test_node_timeout_fails_the_node_and_the_run(daemon: Daemon) -> None:
    seen = daemon.run("""
        name: slow
        nodes:
          - {id: slow, type: python, with: {call: 'tests.workflow_hooks:block'}, timeout: 1s}
          - {id: after, type: noop}
        edges: [{from: slow, to: after}]
    """)
    assert seen[-1].status.phase == phases.FAILED
    assert seen[-1].status.error == "node slow: timed out after 1 s"
    hist = check_forward(seen)
    assert hist["slow#0"][-1] == FAILED and IN_PROGRESS in hist["slow#0"]
    assert final(seen)["after#0"].status == SKIPPED
    assert workflow_hooks.wait_for_call("slow:cancelled")
    assert calls("slow:") == [("slow:cancelled=True", 0, 1)]  # the attempt was told to stop


def test_failing_node_fails_the_run_cancels_the_rest_and_skips_what_remains(daemon: Daemon) -> None:
    seen = daemon.run("""
        name: breaks
        nodes:
          - {id: start, type: noop}
          - {id: broken, type: python, with: {call: 'tests.workflow_hooks:fail'}}
          - {id: busy, type: python, with: {call: 'tests.workflow_hooks:block'}}
          - {id: never, type: python, with: {call: 'tests.workflow_hooks:record'}}
          - {id: end, type: noop, join: all}
        edges:
          - {from: start, to: broken}
          - {from: start, to: busy}
          - {from: broken, to: never}
          - {from: never, to: end}
          - {from: busy, to: end}
    """)
    assert seen[-1].status.phase == phases.FAILED
    assert seen[-1].status.error == "node broken: the disk is full"
    check_forward(seen)
    tasks = final(seen)
    assert tasks["broken#0"].status == FAILED and tasks["broken#0"].error == "the disk is full"
    assert tasks["never#0"].status == SKIPPED and tasks["end#0"].status == SKIPPED
    assert tasks["busy#0"].status == SKIPPED and tasks["busy#0"].error.startswith("cancelled: node broken")
    assert daemon.runner.wait_idle(10) and workflow_hooks.wait_for_call("busy:cancelled")
    assert ("busy:cancelled=True", 0, 1) in calls("busy")  # it was told to stop, not abandoned
    assert not calls("never")


def test_cancelling_the_execution_stops_the_run(daemon: Daemon) -> None:
    name = daemon.client.apply_workflow(textwrap.dedent("""
        name: cancellable
        nodes:
          - {id: first, type: noop}
          - {id: busy, type: python, with: {call: 'tests.workflow_hooks:block'}}
          - {id: later, type: python, with: {call: 'tests.workflow_hooks:record'}}
        edges: [{from: first, to: busy}, {from: busy, to: later}]
    """)).definition.name
    execution = daemon.client.create_workflow(workflow_id=name)
    eid = execution.metadata.id
    seen = []
    for state in daemon.client.watch(eid, WORKFLOW):
        seen.append(state)
        tasks = {t.task_id: t.status for t in state.status.tasks}
        if tasks.get("busy#0") == IN_PROGRESS and state.status.phase == phases.IN_PROGRESS:
            daemon.client.update_status(eid, WORKFLOW.status_cls(phase=phases.CANCELLED))
    assert seen[-1].status.phase == phases.CANCELLED
    assert daemon.runner.wait_idle(10), "the run did not stop"
    assert workflow_hooks.wait_for_call("busy:cancelled")
    assert ("busy:cancelled=True", 0, 1) in calls("busy")
    assert not calls("later")
    assert daemon.client.get(eid).status.phase == phases.CANCELLED  # nothing overwrote it


def test_inactivity_timeout_fails_a_stuck_run(tmp_path: Path) -> None:
    d = Daemon(tmp_path / "data", inactivity_timeout=0.5)
    try:
        seen = d.run("""
            name: stuck
            nodes: [{id: hang, type: python, with: {call: 'tests.workflow_hooks:block'}}]
        """)
    finally:
        d.close()
    assert workflow_hooks.wait_for_call("hang:cancelled")  # its late record cannot leak into the next test
    assert seen[-1].status.phase == phases.FAILED
    assert "no progress for" in seen[-1].status.error and "inactivity timeout 0.5 s" in seen[-1].status.error


def test_a_status_the_server_refuses_fails_the_run_with_the_cause(tmp_path: Path) -> None:
    """A node's output makes the status outgrow the server's message limit: resending cannot
    help, so the run stops and the execution is failed with a small status naming the cause
    (not left IN_PROGRESS for the watchdog, nor its progress kept to be re-sent forever)."""
    d = Daemon(tmp_path / "data", max_message_bytes=64 * 1024)
    try:
        seen = d.run("""
            name: too-big
            nodes:
              - {id: small, type: noop}
              - {id: huge, type: python, with: {call: 'tests.workflow_hooks:big', size: 200000}}
            edges: [{from: small, to: huge}]
        """)
        assert d.runner.wait_idle(10)
        assert d.runner.progress.runs() == []  # nothing left to report again on the next start
    finally:
        d.close()
    last = seen[-1].status
    assert last.phase == phases.FAILED
    assert last.error.startswith("the runner's status report was refused (RESOURCE_EXHAUSTED: "), last.error
    assert last.error.endswith("the run was stopped")
    assert "larger than max" in last.error
    # The server keeps the tasks of the last report it accepted (none, if the first send
    # already carried the big output: reports coalesce), never the refused one's.
    huge = final(seen).get("huge#0")
    assert huge is None or huge.status != COMPLETED
    check_forward(seen)


def test_join_any_fires_on_the_first_arrival_once(daemon: Daemon) -> None:
    seen = daemon.run("""
        name: first-wins
        nodes:
          - {id: start, type: noop}
          - {id: fast, type: noop}
          - {id: slow, type: wait, with: {for: 1s}}
          - {id: first, type: python, with: {call: 'tests.workflow_hooks:record'}, join: any}
        edges:
          - {from: start, to: fast}
          - {from: start, to: slow}
          - {from: fast, to: first}
          - {from: slow, to: first}
    """)
    assert seen[-1].status.phase == phases.COMPLETED
    check_forward(seen)
    done = {t.task_id: t.completed_at for t in final(seen).values()}
    assert done["first#0"] < done["slow#0"]  # did not wait for the slow path (RFC 3339, ms)
    assert calls() == [("first", 0, 1)]  # the late token did not fire it again
    assert final(seen)["slow#0"].status == COMPLETED


def test_a_long_node_keeps_the_execution_alive_past_the_heartbeat_timeout(tmp_path: Path) -> None:
    """The server fails IN_PROGRESS executions silent for 1.5 s; a 3 s node must not look dead."""
    d = Daemon(tmp_path / "data", heartbeat_timeout=1.5, heartbeat_every=0.3)
    try:
        seen = d.run("""
            name: long-node
            nodes: [{id: think, type: wait, with: {for: 3s}}]
        """)
    finally:
        d.close()
    assert seen[-1].status.phase == phases.COMPLETED, seen[-1].status.error
    versions = [s.status.version for s in seen if final([s]).get("think#0") and final([s])["think#0"].status == IN_PROGRESS]
    assert len(versions) >= 4  # resent while the node ran (about every 0.3 s, ~9 times)


def test_filter_transform_and_templates(daemon: Daemon) -> None:
    seen = daemon.run("""
        name: shapes
        input: {limit: 2}
        nodes:
          - {id: numbers, type: transform, with: {set: {all: "[1, 5, 2, 8, 3]"}}}
          - {id: big, type: filter, with: {items: "nodes.numbers.output.all", keep: "item > input.limit"}}
          - {id: say, type: python, with: {call: 'tests.workflow_hooks:echo', text: "kept {{ size(nodes.big.output.items) }}"}}
        edges: [{from: numbers, to: big}, {from: big, to: say}]
    """, limit="4")
    assert seen[-1].status.phase == phases.COMPLETED
    tasks = final(seen)
    assert list(tasks["big#0"].output["items"]) == [5, 8]
    assert tasks["say#0"].output["text"] == "kept 2" and tasks["say#0"].output["limit"] == 4


def test_runs_only_executions_naming_a_registered_definition(daemon: Daemon) -> None:
    """Others stay PENDING for an external runner, which claims them as before."""
    foreign = daemon.client.create_workflow(workflow_id="not-registered-here")
    seen = daemon.run("""
        name: mine
        nodes: [{id: only, type: noop}]
    """)
    assert seen[-1].status.phase == phases.COMPLETED
    assert daemon.client.get(foreign.metadata.id).status.phase == phases.PENDING
    external = daemon.client.claim(WORKFLOW, "upstream-runner")
    try:
        assert next(external).metadata.id == foreign.metadata.id
    finally:
        external.cancel()
    # Registering the definition later makes it ours.
    late = daemon.client.create_workflow(workflow_id="late")
    daemon.client.apply_workflow("name: late\nnodes: [{id: n, type: noop}]\n")
    assert daemon.watch(late.metadata.id)[-1].status.phase == phases.COMPLETED


def test_defined_workflows_only_is_refused_for_agents(daemon: Daemon) -> None:
    from stigmer_actors.domain.kinds import AGENT

    stream = daemon.client.claim(AGENT, "x", defined_workflows_only=True)
    with pytest.raises(grpc.RpcError) as caught:
        next(stream)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details() == "defined_workflows_only applies to kind WORKFLOW only"


def test_many_concurrent_runs_each_node_once_and_a_stuck_one_blocks_nothing(daemon: Daemon) -> None:
    """40 runs at once next to one whose node never ends: all 40 complete, every node of
    every run ran exactly once, and the stuck run is still running afterwards."""
    daemon.client.apply_workflow(textwrap.dedent("""
        name: stuck
        nodes: [{id: hang, type: python, with: {call: 'tests.workflow_hooks:block'}}]
    """))
    daemon.client.apply_workflow(textwrap.dedent("""
        name: wide
        nodes:
          - {id: a, type: python, with: {call: 'tests.workflow_hooks:record'}}
          - {id: b1, type: python, with: {call: 'tests.workflow_hooks:record'}}
          - {id: b2, type: python, with: {call: 'tests.workflow_hooks:record'}}
          - {id: b3, type: python, with: {call: 'tests.workflow_hooks:record'}}
          - {id: c, type: aggregate}
        edges:
          - {from: a, to: b1}
          - {from: a, to: b2}
          - {from: a, to: b3}
          - {from: b1, to: c}
          - {from: b2, to: c}
          - {from: b3, to: c}
    """))
    stuck = daemon.client.create_workflow(workflow_id="stuck").metadata.id
    runs = [daemon.client.create_workflow(workflow_id="wide").metadata.id for _ in range(40)]
    finals = {}
    threads = [threading.Thread(target=lambda r=r: finals.__setitem__(r, daemon.watch(r)[-1])) for r in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(finals) == 40 and all(f.status.phase == phases.COMPLETED for f in finals.values())
    assert all(set(f.status.output["c"].keys()) == {"b1", "b2", "b3"} for f in finals.values())
    per_run: dict[str, list[str]] = {}
    for run_id, node, _, _ in workflow_hooks.CALLS:
        per_run.setdefault(run_id, []).append(node)
    for run_id in runs:
        assert sorted(per_run[run_id]) == ["a", "b1", "b2", "b3"], per_run[run_id]
    assert daemon.client.get(stuck).status.phase == phases.IN_PROGRESS
    assert stuck in daemon.runner.running()


@pytest.mark.parametrize(("node", "error"), [
    ("{id: bad, type: python, with: {call: 'tests.workflow_hooks:not_a_dict'}}",
     "node bad: tests.workflow_hooks:not_a_dict returned list, not a dict"),
    # Apply checks a python target by name only (it imports nothing): the import, and what it
    # finds, is the runner's, when the node runs.
    ("{id: bad, type: python, with: {call: 'tests.workflow_hooks:nope'}}",
     "node bad: AttributeError: module 'tests.workflow_hooks' has no attribute 'nope'"),
    ("{id: bad, type: python, with: {call: 'tests.workflow_hooks:NOT_CALLABLE'}}",
     "node bad: tests.workflow_hooks:NOT_CALLABLE is not callable"),
    ("{id: bad, type: python, with: {call: 'tests.workflow_hooks.missing:f'}}",
     "node bad: ModuleNotFoundError: No module named 'tests.workflow_hooks.missing'; "
     "'tests.workflow_hooks' is not a package"),
    ("{id: bad, type: transform, with: {set: {x: 'input.missing + 1'}}}",
     "node bad: CEL `input.missing + 1`: no such member in mapping: 'missing'"),
    ("{id: bad, type: filter, with: {items: 'input.n', keep: 'item > 1'}}",
     "node bad: items evaluated to int, not a list"),
    ("{id: bad, type: http, with: {url: 'http://127.0.0.1:9/{{ input.nope }}'}}",
     "node bad: CEL `input.nope`: no such member in mapping: 'nope'"),
])
def test_a_node_that_cannot_work_fails_the_run_with_a_precise_error(daemon: Daemon, node: str, error: str) -> None:
    seen = daemon.run(f"""
        name: bad-node
        input: {{n: 3}}
        nodes: [{node}]
    """)
    assert seen[-1].status.phase == phases.FAILED
    assert seen[-1].status.error == error
    assert final(seen)["bad#0"].status == FAILED


def test_two_templates_in_one_string_and_an_edge_doubling_a_branch_target(daemon: Daemon) -> None:
    seen = daemon.run("""
        name: odd-shapes
        input: {a: 1, b: two}
        nodes:
          - id: route
            type: noop
            branch: {rules: [{when: "input.a == 1", next: [say]}], default: [say]}
          - {id: say, type: python, with: {call: 'tests.workflow_hooks:echo', text: "{{ input.a }}-{{ input.b }}"}}
        edges: [{from: route, to: say}]
    """)
    assert seen[-1].status.phase == phases.COMPLETED, seen[-1].status.error
    assert final(seen)["say#0"].output["text"] == "1-two"
