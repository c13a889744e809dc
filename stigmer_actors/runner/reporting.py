"""A run's side of updateStatus: node-instance transitions -> ``status.tasks`` via StatusBuilder.

One ``WorkflowTask`` per node instance, ``task_id`` = ``<node>#<iteration>``: PENDING ->
IN_PROGRESS -> COMPLETED / FAILED / SKIPPED. Every iteration-0 node is listed PENDING when
the run starts, so a watcher sees the whole graph at once; later iterations of a loop body
appear when reached. The StatusBuilder keeps one updateStatus in flight and coalesces the
rest, so a burst of transitions costs one call, and the final state is always sent.
"""

from __future__ import annotations

from typing import Any

from stigmer_actors.client.status_builder import StatusBuilder
from stigmer_actors.domain.clock import now_iso as now
from stigmer_actors.runner import ir
from stigmer_actors.runner.state import PENDING, Key, Outcome, RunState, task_id
from stigmer_actors.wire import workflow_enum


def _status(name: str) -> int:
    return workflow_enum.WorkflowTaskStatus.Value(f"WORKFLOW_TASK_{name}")


def _task_type(node: ir.Node) -> int:
    return workflow_enum.WorkflowTaskType.Value(f"WORKFLOW_TASK_{node.task_type}")


class Reporter:
    def __init__(self, builder: StatusBuilder, workflow: ir.Workflow) -> None:
        self.builder = builder
        self._nodes = {n.id: n for n in workflow.nodes}
        self._known: set[Key] = set()

    def begin(self, state: RunState, resumed: bool) -> None:
        """List every instance the state knows, as it knows it (all PENDING on a new run)."""
        if not resumed:
            self.builder.start()
        for key, status in state.status.items():
            outcome = state.outcomes.get(key)
            if outcome is not None:
                self.ended(outcome)
            else:
                self._set(key, status=_status(PENDING if status != "SKIPPED" else status))

    def started(self, key: Key, given: dict[str, Any], started_at: str, attempt: int) -> None:
        self._set(key, status=_status("IN_PROGRESS"), input=given, started_at=started_at,
                  metadata={"attempt": attempt, "iteration": key[1]})

    def retrying(self, key: Key, attempt: int, error: str) -> None:
        self._set(key, error=f"attempt {attempt} failed: {error}",
                  metadata={"attempt": attempt + 1, "iteration": key[1]})

    def ended(self, outcome: Outcome) -> None:
        self._set(
            outcome.key,
            status=_status(outcome.status),
            input=outcome.input,
            output=outcome.output,
            error=outcome.error,
            started_at=outcome.started_at,
            completed_at=outcome.completed_at,
            metadata={"attempt": outcome.attempts, "iteration": outcome.iteration},
        )

    def skipped(self, key: Key, reason: str = "") -> None:
        self._set(key, status=_status("SKIPPED"), error=reason, completed_at=now())

    def completed(self, state: RunState) -> None:
        self.builder.set_output(state.terminal_outputs())
        self.builder.complete()

    def failed(self, error: str) -> None:
        self.builder.fail(error)

    def _set(self, key: Key, **fields: Any) -> None:
        if key not in self._known:
            self._known.add(key)
            node = self._nodes[key[0]]
            fields.update(task_name=node.id, task_type=_task_type(node))
        self.builder.set_task(task_id(key), **fields)

