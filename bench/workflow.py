"""The workflow runner's own cost: 1,000-node runs whose nodes do nothing.

    python -m bench.workflow

A real daemon in this process (engine, gRPC server on loopback, the runner claiming
through dispatch) runs three 1,000-node workflows: a chain of ``noop`` nodes, a fan-out /
fan-in of ``noop`` nodes (one start, 998 in parallel, one ``join: all``), and a chain of
``python`` nodes (each attempt a hop to the worker pool and back). The nodes do no work,
so the time from create to the terminal state a watcher sees, divided by the nodes, is
the engine's overhead per node: compile excluded (the definition is applied first, and
the runner compiles a version once: the first of the three runs pays ~0.6 s for it, the
best of three does not), token handling, persisting each outcome, reporting, and the status RPCs. Also reported:
task transitions made vs updateStatus calls sent (the reports coalesce), and that the
final state holds all 1,000 tasks COMPLETED.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from stigmer_actors import Engine
from stigmer_actors.client import StigmerClient
from stigmer_actors.domain import phases
from stigmer_actors.domain.kinds import WORKFLOW
from stigmer_actors.grpc_edge.server import EdgeServer
from stigmer_actors.runner.policy import NodePolicy, PythonModules
from stigmer_actors.runner.service import WorkflowRunner

HOOKS = "bench.workflow"
"""The module the python chain calls: allowed as an operator would (--python-modules)."""

COMPLETED_TASK = 3


def nothing(input: dict, ctx: object) -> dict:  # the python node interface
    return {}


def chain(name: str, n: int, node: str) -> str:
    nodes = "\n".join(f"  - {{id: n{i}, {node}}}" for i in range(n))
    edges = "\n".join(f"  - {{from: n{i}, to: n{i + 1}}}" for i in range(n - 1))
    return f"name: {name}\nnodes:\n{nodes}\nedges:\n{edges}\n"


def fan(name: str, n: int) -> str:
    middle = [f"m{i}" for i in range(n - 2)]
    nodes = ["  - {id: start, type: noop}", "  - {id: join, type: noop, join: all}"]
    nodes += [f"  - {{id: {m}, type: noop}}" for m in middle]
    edges = [f"  - {{from: start, to: {m}}}" for m in middle] + [f"  - {{from: {m}, to: join}}" for m in middle]
    return f"name: {name}\nnodes:\n" + "\n".join(nodes) + "\nedges:\n" + "\n".join(edges) + "\n"


def shapes(n: int) -> dict[str, str]:
    return {
        "chain-noop": chain("chain-noop", n, "type: noop"),
        "fan-out-fan-in-noop": fan("fan-out-fan-in-noop", n),
        "chain-python": chain("chain-python", n, "type: python, with: {call: 'bench.workflow:nothing'}"),
    }


def one_run(client: StigmerClient, runner: WorkflowRunner, name: str, n: int) -> dict:
    t0 = time.perf_counter()
    eid = client.create_workflow(workflow_id=name).metadata.id
    states, last = 0, None
    for last in client.watch(eid, WORKFLOW):
        states += 1
    wall = time.perf_counter() - t0
    assert last is not None and last.status.phase == phases.COMPLETED, last.status.error if last else None
    completed = sum(t.status == COMPLETED_TASK for t in last.status.tasks)
    assert runner.wait_idle(30)
    report = runner.reports[eid]
    return {
        "workflow": name, "nodes": n, "seconds": round(wall, 3),
        "ms_per_node": round(wall / n * 1000, 3),
        "task_transitions": report.transitions, "update_status_calls": report.rpcs,
        "transitions_per_call": round(report.transitions / max(report.rpcs, 1), 1),
        "states_watched": states, "final_tasks_completed": completed,
    }


def run(quick: bool, n: int = 1000, repeats: int = 3) -> dict:
    if quick:
        n, repeats = 100, 1
    table = []
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine(Path(tmp), pending_timeout=0, heartbeat_timeout=0, python_modules=HOOKS)
        server = EdgeServer(engine, "127.0.0.1:0").start()
        runner = WorkflowRunner(server.address, engine.store,
                                policy=NodePolicy(PythonModules.parse(HOOKS))).start()
        client = StigmerClient(server.address, timeout=60)
        try:
            for name, source in shapes(n).items():
                client.apply_workflow(source)
                runs = [one_run(client, runner, name, n) for _ in range(repeats)]
                best = min(runs, key=lambda r: r["seconds"])
                best["runs_seconds"] = [r["seconds"] for r in runs]
                assert best["final_tasks_completed"] == n
                table.append(best)
                print(best, flush=True)
        finally:
            client.close()
            runner.stop()
            server.stop(grace=1)
            engine.close()
    return {"config": {"nodes": n, "repeats": repeats}, "table": table}


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["table"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    names = [r["workflow"] for r in rows]
    left.bar(names, [r["ms_per_node"] for r in rows])
    left.set_ylabel("ms per node (best of runs)")
    left.set_title(f"runner overhead, {result['config']['nodes']}-node runs")
    right.bar(names, [r["task_transitions"] for r in rows], label="task transitions")
    right.bar(names, [r["update_status_calls"] for r in rows], label="updateStatus calls")
    right.set_yscale("log")
    right.legend()
    right.set_title("reports coalesce")
    for ax in (left, right):
        ax.tick_params(axis="x", labelrotation=15)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    import json

    print(json.dumps(run(False), indent=1))
