"""WorkflowRunner: claims workflow executions from a daemon, runs each with a RunActor.

It is a client of the daemon like any other runner: it claims through the dispatch
service (only executions whose ``spec.workflow_id`` names a registered definition; the
others stay PENDING for external runners), reads definitions from the registry service,
reports through StatusBuilder, and watches each run's execution to learn of a cancel.
``serve`` starts one in-process against its own address (its progress in the daemon's
RocksDB); ``stigmer-actors runner`` is the same object in its own process and data dir.

On start it resumes every run whose progress it holds and whose execution has not ended.
Its long-lived threads (the claim loop, one watch per run, the shared timer thread) outlive
an exception in one item: it is logged, counted in ``failures`` (``timers`` for the
scheduler's), and that item dropped, so one bad execution cannot stop the runner.
A run's input: the definition's ``input`` defaults overlaid with the execution's
``spec.trigger_metadata`` (each value JSON-decoded when it parses, else the string).
``policy``: what its ``python`` and ``http`` nodes may reach (``policy.py``); a definition
naming a module outside it fails its runs, whatever the daemon accepted at apply.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import pykka
from loguru import logger

from stigmer_actors import wire
from stigmer_actors.client.client import StigmerClient
from stigmer_actors.client.credentials import Credentials
from stigmer_actors.domain import phases
from stigmer_actors.domain.kinds import WORKFLOW
from stigmer_actors.runner.compiler import WorkflowInvalid, compile_workflow
from stigmer_actors.runner.ownership import DEFAULT_LEASE, RunLeases, Tender
from stigmer_actors.runner.policy import NodePolicy
from stigmer_actors.runner.progress import Progress, RunRecord
from stigmer_actors.runner.run_actor import Ended, RunActor, RunReport, RunServices
from stigmer_actors.runner.scheduler import Scheduler
from stigmer_actors.runner.source import DefinitionError, load
from stigmer_actors.runtime import Pool
from stigmer_actors.store.base import Store

DEFAULT_WORKERS = 16
DEFAULT_INACTIVITY_TIMEOUT = 600.0
DEFAULT_HEARTBEAT = 30.0
"""Seconds of silence after which a run resends its status (serve's heartbeat timeout: 120)."""
RECONNECT_DELAY = 1.0
STOP_GRACE = 10.0
"""Seconds ``stop()`` waits, in all, for the runs to stop."""
KEPT_REPORTS = 1000
KEPT_WORKFLOWS = 64
"""Compiled definitions kept (oldest compiled dropped first)."""


class WorkflowRunner:
    def __init__(
        self,
        address: str,
        store: Store,
        *,
        runner_id: str = "workflow-runner",
        workers: int = DEFAULT_WORKERS,
        capacity: int = 4,
        inactivity_timeout: float = DEFAULT_INACTIVITY_TIMEOUT,
        heartbeat_every: float = DEFAULT_HEARTBEAT,
        credentials: Credentials | None = None,
        policy: NodePolicy = NodePolicy(),
        lease: float = DEFAULT_LEASE,
    ) -> None:
        self.address = address
        self.runner_id = runner_id
        self.leases = RunLeases(store, runner_id, lease)
        """Which runs are this runner's, when runners share the store (``ownership.py``)."""
        self.capacity = capacity
        self.policy = policy
        self.client = StigmerClient(address, credentials=credentials)
        self.progress = Progress(store)
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="workflow-node")
        self._scheduler = Scheduler()
        self._actors = Pool(name="runs")
        self._services = RunServices(self.client, self.progress, self._pool, self._scheduler,
                                     inactivity_timeout, heartbeat_every, self._run_stopped,
                                     self._actors, policy)
        self._lock = threading.Condition()
        self._runs: dict[str, pykka.ActorRef[RunActor]] = {}
        self._halts: dict[str, threading.Event] = {}
        """execution id -> its run's halt event (see RunActor): set by its watch or by stop()."""
        self._failures: Counter[str] = Counter()
        self._watches: dict[str, Any] = {}
        self._workflows: dict[tuple[str, int, str], Any] = {}
        self.reports: dict[str, RunReport] = {}
        """execution id -> how its reporting went, for the last KEPT_REPORTS runs stopped."""
        self._stopping = threading.Event()
        self._claims: Any = None
        self._thread = threading.Thread(target=self._claim_loop, name="workflow-claims", daemon=True)
        self._tender = Tender(self.leases, self._adopt, self._stopping)

    @property
    def failures(self) -> dict[str, int]:
        """Items the runner's long-lived threads dropped after an exception, by thread:
        ``claims`` (an execution handed out), ``resume`` (a run to resume), ``watch`` (a
        run's watch stream, reopened), ``timers`` (the shared timer thread)."""
        return {**self._failures, "timers": self._scheduler.failures}

    def start(self) -> WorkflowRunner:
        """Resume the runs this runner holds progress for, then claim new ones (in a thread:
        a daemon that is not up yet is waited for)."""
        self._thread.start()
        self._tender.start()
        return self

    def stop(self) -> None:
        """Stop claiming and stop every run where it is; progress stays for the next start.

        Bounded: the runs are told to stop all at once and waited for ``STOP_GRACE`` seconds in
        all; a run still busy then is left to its daemon thread (its progress is on disk).
        """
        began = time.monotonic()
        self._stopping.set()
        with self._lock:  # a claim stream is opened under this lock only while not stopping
            claims, runs = self._claims, list(self._runs.values())
            for halt in self._halts.values():
                halt.set()  # expressions in progress stop now, not after STOP_GRACE
        if claims is not None:
            claims.cancel()
        self._thread.join(5)
        self._tender.join(5)
        stopping = []
        for ref in runs:
            try:
                stopping.append(ref.stop(block=False))
            except pykka.ActorDeadError:
                pass
        deadline = time.monotonic() + STOP_GRACE
        for future in stopping:
            try:
                future.get(timeout=max(deadline - time.monotonic(), 0.0))
            except (pykka.ActorDeadError, pykka.Timeout):
                pass  # already gone, or busy ending
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._actors.close(timeout=0)
        self._scheduler.stop()
        for execution_id in self.leases.held():  # stopped runs: for whoever resumes them first
            self.leases.give_up(execution_id)
        self.client.close()
        logger.info("runner {runner}: stopped in {took:.2f} s ({runs} runs stopped, {busy} still busy)",
                    runner=self.runner_id, took=time.monotonic() - began, runs=len(runs),
                    busy=sum(ref.is_alive() for ref in runs))

    def running(self) -> list[str]:
        with self._lock:
            return sorted(self._runs)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no run is active here (all ended or stopped); False on timeout."""
        with self._lock:
            return self._lock.wait_for(lambda: not self._runs, timeout)

    def _claim_loop(self) -> None:
        resumed = False
        while not self._stopping.is_set():
            try:
                if not resumed:
                    self._adopt()
                    resumed = True
                with self._lock:
                    if self._stopping.is_set():  # stop() may have cancelled the previous one
                        return
                    claims = self._claims = self.client.claim(
                        WORKFLOW, self.runner_id, self.capacity, defined_workflows_only=True)
                for execution in claims:
                    try:
                        self._begin(execution)
                    except Exception:
                        self._failures["claims"] += 1
                        logger.opt(exception=True).error("run {eid}: could not start", eid=execution.metadata.id)
                        self._refuse(execution.metadata.id, "the runner could not start this run; see its log")
            except grpc.RpcError as error:
                if self._stopping.is_set():
                    return
                logger.warning("runner {runner}: claim stream ended ({code}); reconnecting",
                               runner=self.runner_id, code=error.code().name)
            except Exception:  # the claim loop is the runner's life: never end it
                if self._stopping.is_set():
                    return  # the runner closed its channel
                self._failures["claims"] += 1
                logger.opt(exception=True).error("runner {runner}: claim loop error; reconnecting",
                                                 runner=self.runner_id)
            self._stopping.wait(RECONNECT_DELAY)

    def _adopt(self) -> None:
        """Resume every recorded run no runner holds (after a restart: this runner's own;
        in a cluster also those of a runner that died)."""
        with self._lock:
            running = set(self._runs)
        for execution_id in self.progress.runs():
            if execution_id not in running and not self._stopping.is_set() \
                    and self.leases.take(execution_id):
                self._resume_or_refuse(execution_id)
                with self._lock:
                    started = execution_id in self._runs
                if not started:  # ended meanwhile, or refused: nothing to hold
                    self.leases.give_up(execution_id)

    def _resume_or_refuse(self, execution_id: str) -> None:
        """Resume one run; one whose records cannot be read is failed and dropped, not the
        resumption of the others (a daemon that is unreachable is retried: RpcError)."""
        try:
            self._resume(execution_id)
        except grpc.RpcError:
            raise
        except Exception:  # e.g. a progress record that does not decode
            self._failures["resume"] += 1
            logger.opt(exception=True).error("run {eid}: could not be resumed; failing it", eid=execution_id)
            self._refuse(execution_id, "the runner could not resume this run (its progress records "
                                       "could not be read); see the runner's log")
            try:
                self.progress.finish(execution_id)
            except Exception:  # the store itself failed: it was logged above
                logger.opt(exception=True).error("run {eid}: its progress could not be removed", eid=execution_id)

    def _begin(self, execution: wire.Execution) -> None:
        eid = execution.metadata.id
        try:
            definition = self.client.workflow_definition(execution.spec.workflow_id)
            workflow = self._compiled(definition)
        except grpc.RpcError as error:  # deleted between hand-out and now
            self._refuse(eid, f"workflow {execution.spec.workflow_id}: {error.details()}")
            return
        except (DefinitionError, WorkflowInvalid) as error:  # e.g. a python target this process lacks
            self._refuse(eid, f"workflow {execution.spec.workflow_id} does not compile in runner "
                              f"{self.runner_id}: {error}")
            return
        run = RunRecord(eid, workflow.name, definition.version, workflow.ir_hash,
                        _run_input(workflow.input_defaults, execution.spec.trigger_metadata))
        if not self.leases.take(eid):
            return  # another runner holds this run (it resumed it first)
        self.progress.begin(run)
        self._spawn(run, workflow, resumed=False)

    def _resume(self, execution_id: str) -> None:
        run = self.progress.run(execution_id)
        try:
            execution = self.client.get(execution_id, WORKFLOW)
            definition = self.client.workflow_definition(run.workflow, run.version) if run else None
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.NOT_FOUND:
                raise
            execution = definition = None
        if run is None or definition is None or execution is None or phases.is_terminal(execution.status.phase):
            logger.info("run {eid}: not resumed (ended or gone while the runner was down)", eid=execution_id)
            self.progress.finish(execution_id)
            return
        try:
            workflow = self._compiled(definition)
        except (DefinitionError, WorkflowInvalid) as error:
            self._refuse(execution_id, f"workflow {run.workflow} v{run.version} no longer compiles: {error}")
            self.progress.finish(execution_id)
            return
        if workflow.ir_hash != run.ir_hash:
            logger.warning("run {eid}: {name} v{version} compiles to a different IR than when the run "
                           "started; resuming with it", eid=execution_id, name=run.workflow, version=run.version)
        self._spawn(run, workflow, resumed=execution.status.phase != phases.PENDING)

    def _compiled(self, definition: wire.workflows.WorkflowDefinition) -> Any:
        """The IR of a stored definition, compiled once per name, version and hash (a version
        never changes; the hash guards a runner process that outlives its daemon's data dir). Parsing and compiling
        a 1,000-node definition takes ~0.6 s (YAML mostly), once per run without this."""
        key = (definition.name, definition.version, definition.ir_hash)
        workflow = self._workflows.get(key)
        if workflow is None:
            workflow = compile_workflow(load(definition.source), self.policy.python)
            self._workflows[key] = workflow
            if len(self._workflows) > KEPT_WORKFLOWS:
                del self._workflows[next(iter(self._workflows))]
        return workflow

    def _spawn(self, run: RunRecord, workflow: Any, resumed: bool) -> None:
        with self._lock:
            if run.execution_id in self._runs or self._stopping.is_set():
                return
            halt = self._halts[run.execution_id] = threading.Event()
            ref = RunActor.start(run, workflow, self._services, resumed, halt)
            self._runs[run.execution_id] = ref
        watch = threading.Thread(target=self._watch, args=(run.execution_id, ref, halt),
                                 name=f"watch-{run.execution_id}", daemon=True)
        watch.start()

    def _watch(self, execution_id: str, ref: pykka.ActorRef[RunActor], halt: threading.Event) -> None:
        """Tell the run when its execution ends by someone else's hand (cancel, watchdog,
        delete): set its halt event (an expression in progress stops), then tell it why.
        A stream that ends without a terminal state means a deletion or a daemon shutting
        down (its streams end with OK too): asking tells them apart, and the watch is opened
        again while the run lives, after any error."""
        how = ""
        while not how and ref.is_alive() and not self._stopping.is_set():
            try:
                stream = self.client.watch(execution_id, WORKFLOW)
                with self._lock:
                    if execution_id not in self._runs:
                        stream.cancel()
                        return  # the run ended before its watch was up
                    self._watches[execution_id] = stream
                for execution in stream:
                    if phases.is_terminal(execution.status.phase):
                        how = phases.name(execution.status.phase)
                        break
                else:
                    self.client.get(execution_id, WORKFLOW)  # still there: the daemon went away
            except grpc.RpcError as error:
                if error.code() == grpc.StatusCode.CANCELLED:
                    return  # the run stopped and cancelled its watch
                if error.code() == grpc.StatusCode.NOT_FOUND:
                    how = "deleted"
                    break
            except Exception:  # a watch that dies would leave the run deaf to a cancel
                if self._stopping.is_set():
                    return  # the runner closed its channel
                self._failures["watch"] += 1
                logger.opt(exception=True).error("run {eid}: watch error; watching again", eid=execution_id)
            if not how:
                self._stopping.wait(RECONNECT_DELAY)
        if how:
            halt.set()
            try:
                ref.tell(Ended(how))
            except pykka.ActorDeadError:
                pass

    def _run_stopped(self, execution_id: str, report: RunReport) -> None:
        with self._lock:
            self.reports[execution_id] = report
            if len(self.reports) > KEPT_REPORTS:
                del self.reports[next(iter(self.reports))]
            self._runs.pop(execution_id, None)
            self._halts.pop(execution_id, None)
            stream = self._watches.pop(execution_id, None)
            self._lock.notify_all()
        if stream is not None:
            stream.cancel()
        self.leases.give_up(execution_id)

    def _refuse(self, execution_id: str, error: str) -> None:
        """Fail an execution this runner was handed but cannot run."""
        status = WORKFLOW.status_cls(phase=phases.FAILED, error=error)
        try:
            self.client.update_status(execution_id, status)
        except grpc.RpcError as failure:
            logger.warning("run {eid}: could not fail it: {error}", eid=execution_id, error=failure.details())


def _run_input(defaults: str, metadata: Any) -> dict[str, Any]:
    values: dict[str, Any] = json.loads(defaults)
    for key, text in metadata.items():
        try:
            values[key] = json.loads(text)
        except ValueError:
            values[key] = text
    return values
