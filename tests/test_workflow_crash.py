"""Must-show: SIGKILL the daemon in the middle of a 20-node run; after a restart the run
completes, and no node whose completion was recorded ran twice.

Real parts: the ``stigmer-actors serve`` program in a subprocess (its in-process runner
keeps run progress in the daemon's RocksDB), killed with SIGKILL, and the progress read
back from the store by the test between the kill and the restart.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from stigmer_actors.client import StigmerClient
from stigmer_actors.domain import phases
from stigmer_actors.domain.kinds import WORKFLOW
from stigmer_actors.runner.progress import Progress
from stigmer_actors.store.rocks import RocksStore
from tests.daemon import ALLOW_HOOKS, Daemon
from tests.test_workflow_runs import COMPLETED


def twenty_nodes() -> tuple[str, list[str]]:
    """n01..n08 -> (p1..p4 in parallel) -> join -> n10..n16: 20 python nodes appending."""
    chain1 = [f"n{i:02d}" for i in range(1, 9)]
    parallel = [f"p{i}" for i in range(1, 5)]
    chain2 = ["join"] + [f"n{i:02d}" for i in range(10, 17)]
    names = chain1 + parallel + chain2
    hook = "type: python, with: {call: 'tests.workflow_hooks:append_line'}"
    nodes = [f"  - {{id: {n}, {hook}{', join: all' if n == 'join' else ''}}}" for n in names]
    edges = [(a, b) for a, b in zip(chain1, chain1[1:])]
    edges += [(chain1[-1], p) for p in parallel] + [(p, "join") for p in parallel]
    edges += [(a, b) for a, b in zip(chain2, chain2[1:])]
    source = "name: crashy\nnodes:\n" + "\n".join(nodes) + "\nedges:\n" + "\n".join(
        f"  - {{from: {a}, to: {b}}}" for a, b in edges)
    return source, names


def test_sigkill_mid_run_resumes_without_rerunning_recorded_nodes(tmp_path: Path) -> None:
    data_dir, log = tmp_path / "data", tmp_path / "ran.txt"
    source, names = twenty_nodes()
    daemon = Daemon(data_dir, *ALLOW_HOOKS)
    try:
        with StigmerClient(daemon.address) as client:
            client.apply_workflow(source)
            eid = client.create_workflow(
                workflow_id="crashy", trigger_metadata={"log": str(log), "pause": "0.1"}
            ).metadata.id
            for state in client.watch(eid, WORKFLOW):
                done = sum(t.status == COMPLETED for t in state.status.tasks)
                if done >= 6:
                    break
            assert not phases.is_terminal(state.status.phase)
            daemon.proc.kill()  # SIGKILL, mid-run
            daemon.proc.wait(10)
    finally:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
    store = RocksStore(data_dir)
    try:
        recorded = {o.node for o in Progress(store).outcomes(eid) if o.status == "COMPLETED"}
    finally:
        store.close()
    ran_before = Counter(log.read_text().split())
    assert 6 <= len(recorded) < 20, recorded
    assert recorded <= set(ran_before)

    daemon = Daemon(data_dir, *ALLOW_HOOKS)
    try:
        with StigmerClient(daemon.address) as client:
            last = None
            for last in client.watch(eid, WORKFLOW):
                pass
    finally:
        daemon.terminate()
    assert last is not None and last.status.phase == phases.COMPLETED, last.status.error if last else None
    assert {t.task_id for t in last.status.tasks if t.status == COMPLETED} == {f"{n}#0" for n in names}
    ran = Counter(log.read_text().split())
    assert set(ran) == set(names)
    assert all(ran[n] == 1 for n in recorded), {n: ran[n] for n in recorded if ran[n] != 1}
    rerun = {n for n, count in ran.items() if count > 1}
    assert rerun <= set(ran_before) - recorded  # only nodes in flight at the kill ran again
    print(f"recorded before kill: {len(recorded)}, in flight and rerun: {sorted(rerun)}")
