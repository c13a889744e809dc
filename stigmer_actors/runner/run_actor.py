"""RunActor: one workflow run. Owns its RunState; decides, records, reports, starts nodes.

Everything that changes the run arrives here as a message and is handled one at a time:
a node attempt's result (``Done``, from a worker), its timeout (``TimedOut``), a retry
due after backoff (``Retry``), the execution ended by someone else (``Ended``, from the
run's watch stream: cancelled, failed by the watchdog, deleted), and the inactivity
check (``Tick``). The actor never waits on a node: ``python``/``http``/``wait``/``agent``
run on the runner's bounded worker pool, the expression-only types in line (``nodes.py``).
Expressions evaluated here (templates, in-line nodes, branch and loop conditions) spend
from a ``Budget``: bounded steps, the node's ``timeout``, and the run's ``halt`` event,
which the runner sets from outside the actor (the run's watch, a runner shutdown) so that
an evaluation in progress stops at once instead of after the message that would say so.

Order of effects for a node that ends: routes chosen (CEL) -> outcome persisted ->
RunState applies it (tokens, joins, skips) -> tasks reported -> ready nodes started. A
crash anywhere after the persist replays the same outcome; before it, the node runs again.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
import pykka
from loguru import logger

from stigmer_actors.client.status_builder import StatusBuilder, refused
from stigmer_actors.domain import phases
from stigmer_actors.domain.clock import now_iso as now
from stigmer_actors.domain.kinds import WORKFLOW
from stigmer_actors.runner import ir, nodes, routing
from stigmer_actors.runner.expressions import Budget, ExpressionError, RunHalted
from stigmer_actors.runner.graph import Graph
from stigmer_actors.runner.policy import NodePolicy
from stigmer_actors.runner.progress import Progress, RunRecord
from stigmer_actors.runner.reporting import Reporter
from stigmer_actors.runner.scheduler import Scheduler, Timer
from stigmer_actors.runner.state import COMPLETED, FAILED, PENDING, Key, Outcome, RunState
from stigmer_actors.runtime import Pool, PooledActor


@dataclass(frozen=True)
class Done:
    key: Key
    attempt: int
    output: dict[str, Any] | None
    error: str


@dataclass(frozen=True)
class TimedOut:
    key: Key
    attempt: int


@dataclass(frozen=True)
class Retry:
    key: Key
    attempt: int


@dataclass(frozen=True)
class Ended:
    """The execution reached a terminal phase the run did not set (cancelled, failed, deleted)."""

    how: str


@dataclass(frozen=True)
class Tick:
    pass


@dataclass(frozen=True)
class RunReport:
    """How a run's reporting went: what the closing note of a run is made of."""

    transitions: int
    """Changes made to the local status (task transitions, phase changes)."""
    rpcs: int
    """updateStatus calls they took (coalesced: at most one in flight)."""
    finished: bool
    """The run ended here (False: stopped for a runner shutdown, to be resumed)."""


@dataclass
class RunServices:
    """What every run of one runner shares."""

    client: Any
    progress: Progress
    pool: Any
    """A concurrent.futures executor: the bounded worker pool."""
    scheduler: Scheduler
    inactivity_timeout: float
    heartbeat_every: float
    """Resend the status after this many seconds without a report (the server's watchdog
    fails IN_PROGRESS executions that go quiet; a long node must not look like a dead runner)."""
    on_stopped: Callable[[str, RunReport], None]
    actors: Pool
    """Where the run actors take their turns."""
    policy: NodePolicy = field(default_factory=NodePolicy)
    """What ``python`` and ``http`` nodes may reach."""


class RunActor(PooledActor):
    """One workflow run, on the runner's pool of daemon threads (a run stuck in a handler must
    not keep a stopping process alive: its progress is on disk)."""

    def __init__(self, run: RunRecord, workflow: ir.Workflow, services: RunServices, resumed: bool,
                 halt: threading.Event | None = None) -> None:
        super().__init__()
        self.pool = services.actors
        self._halt = halt or threading.Event()
        """Set, from any thread, when the run is ending by someone else's hand (an ``Ended``
        follows) or the runner is stopping: expressions in progress stop, nothing new starts."""
        self.run = run
        self.eid = run.execution_id
        self.workflow = workflow
        self.s = services
        self.resumed = resumed
        self.state = RunState(Graph.of(workflow))
        self.builder = StatusBuilder(services.client, self.eid, WORKFLOW)
        self.reporter = Reporter(self.builder, workflow)
        self._todo: deque[tuple[Key, int]] = deque()
        self._running: dict[Key, nodes.NodeContext] = {}
        self._attempt: dict[Key, int] = {}
        self._started_at: dict[Key, str] = {}
        self._inputs: dict[Key, dict[str, Any]] = {}
        self._timers: dict[Key, Timer] = {}
        self._retrying: set[Key] = set()
        self._ended = False
        self._last_progress = time.monotonic()
        self._tick: Timer | None = None
        self._tick_period = min(services.inactivity_timeout / 4, services.heartbeat_every / 2, 5.0)
        self._changes_at_tick = 0
        self._quiet_ticks = 0

    # Lifecycle

    def on_start(self) -> None:
        self._guarded(self._start)

    def on_receive(self, message: object) -> None:
        self._guarded(self._receive, message)

    def _guarded(self, handler: Callable[..., None], *args: object) -> None:
        """Any exception ends the run as FAILED with the cause (and the actor), instead of
        leaving the execution IN_PROGRESS with a dead actor (pykka stops it silently)."""
        try:
            handler(*args)
        except Exception as error:
            logger.opt(exception=True).error("run {eid}: runner error", eid=self.eid)
            if not self._ended:
                self._fail(f"runner error: {type(error).__name__}: {error}")

    def _start(self) -> None:
        effects = self.state.begin()
        outcomes = self.s.progress.outcomes(self.eid)
        for outcome in outcomes:
            self.state.finish(outcome)
        self.reporter.begin(self.state, self.resumed)
        logger.info("run {eid}: {phase} {workflow} v{version} ({done} node outcomes recorded)",
                    eid=self.eid, phase="resumed" if self.resumed else "started",
                    workflow=self.run.workflow, version=self.run.version, done=len(outcomes))
        if self.state.failed is not None:
            self._fail(f"node {self.state.failed.node}: {self.state.failed.error}")
            return
        self._todo.extend((key, 1) for key in (self.state.unfinished() if outcomes else effects.ready))
        self._arm_tick()
        self._advance()

    def _receive(self, message: object) -> None:
        if self._ended or (self._halt.is_set() and not isinstance(message, Ended)):
            return  # halted: only how the run ended still matters
        if isinstance(message, Done):
            if self._current(message.key, message.attempt):
                self._running.pop(message.key)
                self._cancel_timer(message.key)
                if message.error:
                    self._attempt_failed(message.key, message.attempt, message.error)
                else:
                    self._succeeded(message.key, message.output or {})
        elif isinstance(message, TimedOut):
            if self._current(message.key, message.attempt):
                self._running.pop(message.key).cancel()
                timeout = self.state.graph.nodes[message.key[0]].timeout
                self._attempt_failed(message.key, message.attempt, f"timed out after {timeout:g} s")
        elif isinstance(message, Retry):
            self._retrying.discard(message.key)
            self._todo.append((message.key, message.attempt))
        elif isinstance(message, Tick):
            if self.builder.error is not None and refused(self.builder.error):
                self._refused(self.builder.error)  # now, not after the run's remaining work
                return
            idle = time.monotonic() - self._last_progress
            if idle >= self.s.inactivity_timeout:
                self._fail(f"no progress for {idle:.1f} s (inactivity timeout {self.s.inactivity_timeout:g} s)")
                return
            if self.builder.changes == self._changes_at_tick:
                self._quiet_ticks += 1
                if self._quiet_ticks * self._tick_period >= self.s.heartbeat_every:
                    self.builder.touch()
                    self._quiet_ticks = 0
            else:
                self._quiet_ticks = 0
            self._changes_at_tick = self.builder.changes
            self._arm_tick()
        elif isinstance(message, Ended):
            logger.info("run {eid}: stopped, the execution was {how}", eid=self.eid, how=message.how)
            self._end(report=False)
            return
        self._advance()

    def on_stop(self) -> None:
        """Runner shutdown (progress kept for resume) or the run's own end."""
        for ctx in self._running.values():
            ctx.cancel()
        for timer in self._timers.values():
            timer.cancel()
        if self._tick:
            self._tick.cancel()
        try:
            self.builder.close(timeout=5.0)
        except Exception as error:  # the server may be gone or the execution ended
            logger.debug("run {eid}: last status not delivered: {error}", eid=self.eid, error=error)
        report = RunReport(self.builder.changes, self.builder.rpcs, self._ended)
        logger.debug("run {eid}: {transitions} status changes sent in {rpcs} updateStatus calls",
                     eid=self.eid, transitions=report.transitions, rpcs=report.rpcs)
        self.s.on_stopped(self.eid, report)

    # Node attempts

    def _advance(self) -> None:
        """Start what is ready (in line nodes complete here, making more ready), then see if done."""
        while self._todo and not self._ended and not self._halt.is_set():
            key, attempt = self._todo.popleft()
            self._begin_attempt(key, attempt)
        if self._halt.is_set():
            return  # the run is ending; the Ended message (or the runner's stop) will say how
        if not self._ended and not self._running and not self._retrying:
            assert self.state.outstanding == 0, "tokens left unapplied with nothing running"
            holding = self.state.holding_joins()
            if holding:
                self._fail("joins never heard from all their inputs: " + ", ".join(f"{n}#{i}" for n, i in holding))
            else:
                self._complete()

    def _begin_attempt(self, key: Key, attempt: int) -> None:
        node = self.state.graph.nodes[key[0]]
        self._attempt[key] = attempt
        self._last_progress = time.monotonic()
        variables: dict[str, Any] = {"input": self.run.input, "nodes": self.state.variables(), "iteration": key[1]}
        budget = Budget(node.timeout, self._halt)
        try:
            params = nodes.prepare(node.type, node.params(), variables, budget)
        except RunHalted:
            return
        except ExpressionError as error:
            self._node_failed(key, attempt, str(error), {})
            return
        given = self._inputs[key] = nodes.task_input(node.type, params, self.run.input)
        if key not in self._started_at:
            self._started_at[key] = now()
        self.state.mark_started(key)
        self.reporter.started(key, given, self._started_at[key], attempt)
        ctx = nodes.NodeContext(
            run_id=self.eid, node=key[0], iteration=key[1], attempt=attempt, params=params,
            input=self.run.input, nodes=variables["nodes"], sources=self.state.sources.get(key, []),
            client=self.s.client, timeout=node.timeout, budget=budget, policy=self.s.policy,
        )
        if node.type in nodes.INLINE:
            try:
                output = nodes.run(node.type, ctx)
            except RunHalted:
                return
            except Exception as error:
                self._attempt_failed(key, attempt, _describe(error))
            else:
                self._succeeded(key, output)
            return
        ctx.nodes = dict(ctx.nodes)  # the worker reads it while this actor moves on
        self._running[key] = ctx
        ref = self.actor_ref
        self.s.pool.submit(_work, ref, node.type, key, attempt, ctx)
        if node.timeout:
            self._timers[key] = self.s.scheduler.call_later(
                node.timeout, lambda: _tell(ref, TimedOut(key, attempt)))

    def _attempt_failed(self, key: Key, attempt: int, error: str) -> None:
        retry = self.state.graph.nodes[key[0]].retry
        if attempt >= retry.max_attempts:
            self._node_failed(key, attempt, error, {})
            return
        logger.debug("run {eid}: {node} attempt {attempt} failed: {error}",
                     eid=self.eid, node=key[0], attempt=attempt, error=error)
        self.reporter.retrying(key, attempt, error)
        self._retrying.add(key)
        ref = self.actor_ref
        self._timers[key] = self.s.scheduler.call_later(retry.backoff, lambda: _tell(ref, Retry(key, attempt + 1)))

    def _succeeded(self, key: Key, output: dict[str, Any]) -> None:
        node = self.state.graph.nodes[key[0]]
        variables = {"input": self.run.input, "nodes": self.state.variables(), "iteration": key[1],
                     "output": output}
        try:
            routes = routing.routes(node, variables, Budget(halt=self._halt))
        except RunHalted:
            return
        except (ExpressionError, routing.LoopExhausted) as error:
            self._node_failed(key, self._attempt[key], str(error), output)
            return
        self._record(Outcome(key[0], key[1], COMPLETED, output, "", routes, self._given(key),
                             self._started_at[key], now(), self._attempt[key]))

    def _node_failed(self, key: Key, attempt: int, error: str, output: dict[str, Any]) -> None:
        self._record(Outcome(key[0], key[1], FAILED, output, error, (), self._given(key),
                             self._started_at.get(key, now()), now(), attempt))
        self._fail(f"node {key[0]}: {error}")

    def _record(self, outcome: Outcome) -> None:
        self.s.progress.record(self.eid, outcome)
        self._last_progress = time.monotonic()
        effects = self.state.finish(outcome)
        self.reporter.ended(outcome)
        for skipped in effects.skipped:
            self.reporter.skipped(skipped)
        self._todo.extend((key, 1) for key in effects.ready)

    def _given(self, key: Key) -> dict[str, Any]:
        return self._inputs.get(key, {})

    # The run's end

    def _complete(self) -> None:
        self.reporter.completed(self.state)
        logger.info("run {eid}: COMPLETED", eid=self.eid)
        self._end(report=True)

    def _fail(self, error: str) -> None:
        """Fail the run: cancel what runs, skip what has not run, report FAILED with the cause."""
        for key, ctx in list(self._running.items()):
            ctx.cancel()
            self.reporter.skipped(key, f"cancelled: {error}")
        self._running.clear()
        for key, status in self.state.status.items():
            if status == PENDING or key in self._retrying:
                self.reporter.skipped(key)
        self.reporter.failed(error)
        logger.info("run {eid}: FAILED: {error}", eid=self.eid, error=error)
        self._end(report=True)

    def _end(self, report: bool) -> None:
        self._ended = True
        self._todo.clear()
        delivered = True
        if report:
            try:
                self.builder.flush(timeout=30.0)
            except Exception as error:
                if refused(error):
                    self._refused(error)
                    return
                delivered = False
                logger.warning("run {eid}: final status not delivered ({error}); its progress is "
                               "kept, so the runner's next start reports it again", eid=self.eid, error=error)
        if delivered:
            self.s.progress.finish(self.eid)
        self.stop()

    def _refused(self, error: grpc.RpcError) -> None:
        """The server refused the run's status (too big for its message limit, or the
        execution ended meanwhile): resending it can never work. Stop the run, and fail the
        execution with a status small enough to pass, naming the cause (the server keeps the
        tasks it last accepted)."""
        for ctx in self._running.values():
            ctx.cancel()
        self._running.clear()
        self._ended = True
        self._todo.clear()
        code, details = error.code(), error.details()  # refused() holds only for RpcErrors
        logger.error("run {eid}: status refused by the server ({code}: {details}); run stopped",
                     eid=self.eid, code=code.name, details=details)
        if code != grpc.StatusCode.FAILED_PRECONDITION:  # that one: the execution already ended
            status = WORKFLOW.status_cls(
                phase=phases.FAILED, completed_at=now(),
                error=f"the runner's status report was refused ({code.name}: "
                      f"{details}); the run was stopped")
            try:
                self.s.client.update_status(self.eid, status)
            except (grpc.RpcError, ValueError) as failure:  # ValueError: the runner's channel closed
                logger.warning("run {eid}: could not fail it: {failure}", eid=self.eid, failure=failure)
        self.s.progress.finish(self.eid)
        self.stop()

    # Helpers

    def _current(self, key: Key, attempt: int) -> bool:
        """Is this about the attempt still running? (a timed-out attempt may report late)"""
        return key in self._running and self._attempt.get(key) == attempt

    def _cancel_timer(self, key: Key) -> None:
        timer = self._timers.pop(key, None)
        if timer:
            timer.cancel()

    def _arm_tick(self) -> None:
        ref = self.actor_ref
        self._tick = self.s.scheduler.call_later(max(self._tick_period, 0.05), lambda: _tell(ref, Tick()))


def _work(ref: pykka.ActorRef[RunActor], node_type: str, key: Key, attempt: int, ctx: nodes.NodeContext) -> None:
    """A worker thread: run one attempt, tell the run how it went."""
    try:
        output, error = nodes.run(node_type, ctx), ""
    except Exception as caught:
        output, error = None, _describe(caught)
    _tell(ref, Done(key, attempt, output, error))


def _tell(ref: pykka.ActorRef[RunActor], message: object) -> None:
    try:
        ref.tell(message)
    except pykka.ActorDeadError:
        pass  # the run ended meanwhile


def _describe(error: BaseException) -> str:
    text = str(error)
    if isinstance(error, (RuntimeError, ValueError, TypeError)) and text:
        return text
    return f"{type(error).__name__}: {text}"
