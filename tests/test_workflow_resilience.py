"""The runner's long-lived threads outlive an exception in one item: the shared timer thread
(one bad delay used to end it, and with it every later node timeout), the claim loop (one
unreadable progress record used to end it: nothing was claimed again) and a run's watch
(its death left the run deaf to a cancel). Each drops the item, logs it and counts it."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from stigmer_actors.client import StigmerClient
from stigmer_actors.domain import phases
from stigmer_actors.domain.kinds import WORKFLOW
from stigmer_actors.runner.progress import _run_key
from stigmer_actors.runner.scheduler import Scheduler
from tests import workflow_hooks
from tests.daemon import Daemon as Subprocess
from tests.test_workflow_limits import stop
from tests.test_workflow_runs import Daemon


@pytest.fixture
def scheduler() -> Iterator[Scheduler]:
    s = Scheduler()
    yield s
    s.stop()


def test_a_delay_too_big_for_a_timer_does_not_end_the_timer_thread(scheduler: Scheduler) -> None:
    """99999999999 h (the issue's node timeout) and infinity: Condition.wait raised
    OverflowError on the shared thread, so the timer after them never fired."""
    for delay in (99999999999 * 3600.0, math.inf):
        scheduler.call_later(delay, lambda: None)
    fired = threading.Event()
    scheduler.call_later(0.05, fired.set)
    assert fired.wait(10) and scheduler.alive() and scheduler.failures == 0
    with pytest.raises(ValueError, match="NaN"):
        scheduler.call_later(math.nan, lambda: None)


def test_a_timer_that_raises_is_dropped_and_counted(scheduler: Scheduler) -> None:
    def broken() -> None:
        raise RuntimeError("a bug in one run's timer")

    scheduler.call_later(0.0, broken)
    scheduler.call_later(0.01, broken)
    fired = threading.Event()
    scheduler.call_later(0.05, fired.set)
    assert fired.wait(10) and scheduler.alive()
    assert scheduler.failures == 2


def test_node_timeouts_fire_after_a_huge_one_was_refused(tmp_path: Path) -> None:
    """End to end on a real daemon: the definition that killed the timers is refused at apply,
    and node timeouts keep working (a wait of 30 s with timeout 1s fails in about 1 s)."""
    daemon = Subprocess(tmp_path / "data", "--pending-timeout", "0", "--heartbeat-timeout", "0")
    try:
        with StigmerClient(daemon.address, timeout=30) as client:
            with pytest.raises(grpc.RpcError) as info:
                client.apply_workflow("name: huge\nnodes: [{id: w, type: wait, with: {for: 1s}, timeout: 99999999999h}]\n")
            assert (info.value.code(), info.value.details()) == (
                grpc.StatusCode.INVALID_ARGUMENT, "workflow definition: 1 problem(s):\n"
                "node w: timeout: 99999999999h is longer than 24h, the most it may be [duration]")
            client.apply_workflow("name: short\nnodes: [{id: w, type: wait, with: {for: 30s}, timeout: 1s}]\n")
            for _ in range(2):  # the second proves the first left the timers working
                run = client.create_workflow(workflow_id="short")
                last = None
                for last in client.watch(run.metadata.id):
                    pass
                assert last is not None and last.status.phase == phases.FAILED
                assert last.status.error == "node w: timed out after 1 s"
    finally:
        assert stop(daemon) == 0


def test_an_unreadable_progress_record_fails_that_run_and_the_runner_claims_on(data_dir: Path) -> None:
    """A run record the runner cannot read (here, one written by a version with another field)
    made the claim loop's thread die on resume: the runner never claimed anything again."""
    d = Daemon(data_dir)
    d.runner.stop()  # a runner that restarts over the bad record below
    stuck = d.client.create_workflow(workflow_id="ghost")
    d.client.update_status(stuck.metadata.id, WORKFLOW.status_cls(phase=phases.IN_PROGRESS))
    d.engine.store.write({_run_key(stuck.metadata.id): json.dumps(
        {"execution_id": stuck.metadata.id, "workflow": "ghost", "version": 1, "ir_hash": "x",
         "input": {}, "priority": "from a newer runner"}).encode()})
    from stigmer_actors.runner.service import WorkflowRunner

    d.runner = WorkflowRunner(d.server.address, d.engine.store, policy=d.policy).start()
    try:
        seen = d.run("name: after\nnodes: [{id: a, type: noop}]\n")
        assert seen[-1].status.phase == phases.COMPLETED
        failed = d.client.get(stuck.metadata.id)
        assert failed.status.phase == phases.FAILED
        assert failed.status.error == ("the runner could not resume this run (its progress records could not "
                                       "be read); see the runner's log")
        assert d.runner.failures == {"resume": 1, "timers": 0}
        assert stuck.metadata.id not in d.runner.progress.runs()  # dropped, not retried at every start
    finally:
        d.close()


def test_a_watch_that_fails_is_opened_again_and_still_hears_the_cancel(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fault we cannot cause from outside (the client raising something other than an
    RpcError, as a closed channel does): the first watch call raises, the run must still stop
    when the execution is cancelled."""
    d = Daemon(data_dir)
    workflow_hooks.CALLS.clear()
    real_watch = d.runner.client.watch
    calls = []

    def flaky_watch(*args: object, **kwargs: object) -> object:
        calls.append(args)
        if len(calls) == 1:
            raise ValueError("Cannot invoke RPC: the channel broke")
        return real_watch(*args, **kwargs)

    monkeypatch.setattr(d.runner.client, "watch", flaky_watch)
    try:
        d.client.apply_workflow("name: blocked\nnodes: [{id: b, type: python, with: {call: 'tests.workflow_hooks:block'}}]\n")
        run = d.client.create_workflow(workflow_id="blocked")
        assert workflow_hooks.wait_for_call("b", timeout=20)
        d.client.update_status(run.metadata.id, WORKFLOW.status_cls(phase=phases.CANCELLED))
        assert d.runner.wait_idle(timeout=20), "the run never heard of the cancel"
        assert workflow_hooks.wait_for_call("b:cancelled=True", timeout=20)
        assert d.runner.failures == {"watch": 1, "timers": 0} and len(calls) >= 2
    finally:
        d.close()
