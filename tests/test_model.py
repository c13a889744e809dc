"""Random operation sequences against the engine and a plain reference model.

The model is a dict and a few lines per rule of ../shared/API.md, written independently of
the engine's merge code. After every step each execution must look the same in both, and
every open subscription must have seen strictly increasing versions ending where the model
says (terminal or deleted).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, precondition, rule

from stigmer_actors import Engine, wire
from stigmer_actors.errors import AlreadyExists, FailedPrecondition, NotFound

TERMINAL = {3, 4, 5}
texts = st.sampled_from(["", "", "a", "b", "c"])
phases_ = st.sampled_from([0, 0, 1, 2, 3, 4, 5])
items = st.lists(st.sampled_from(["x", "y", "z"]), max_size=2)


@dataclass
class Model:
    kind: str
    version: int = 1
    phase: int = 1
    error: str = ""
    started_at: str = ""
    items: list[str] = field(default_factory=list)
    message: str = "m"


class EngineVsModel(RuleBasedStateMachine):
    ids = Bundle("ids")

    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.mkdtemp()
        self.engine = Engine(self.tmp, pending_timeout=0, heartbeat_timeout=0)
        self.model: dict[str, Model] = {}
        self.subs: list[tuple[str, object, list[int]]] = []
        self.counter = 0

    @rule(target=ids, kind=st.sampled_from(["agent", "workflow"]), reuse=st.booleans())
    def create(self, kind: str, reuse: bool) -> str:
        if reuse and self.model:
            eid = sorted(self.model)[0]
        else:
            self.counter += 1
            eid = f"e{self.counter}"
        request = (wire.AgentExecution(metadata={"id": eid}, spec={"message": "m", "agent_id": "a"})
                   if kind == "agent" else
                   wire.WorkflowExecution(metadata={"id": eid}, spec={"workflow_id": "w"}))
        if eid in self.model:
            try:
                self.engine.create(request)
                raise AssertionError("create of an existing id succeeded")
            except AlreadyExists:
                return eid
        self.engine.create(request)
        self.model[eid] = Model(kind)
        return eid

    @rule(eid=ids, phase=phases_, error=texts, started=texts, new_items=items)
    def update_status(self, eid: str, phase: int, error: str, started: str, new_items: list[str]) -> None:
        m = self.model.get(eid)
        kind = m.kind if m else "agent"
        status = wire.AgentExecutionStatus() if kind == "agent" else wire.WorkflowExecutionStatus()
        status.phase, status.error, status.started_at = phase, error, started
        for item in new_items:
            if kind == "agent":
                status.messages.add(content=item)
            else:
                status.tasks.add(task_id=item)
        try:
            self.engine.update_status(eid, status)
            outcome = "ok"
        except NotFound:
            outcome = "not found"
        except FailedPrecondition:
            outcome = "refused"
        if m is None:
            assert outcome == "not found"
            return
        if m.phase in TERMINAL and phase not in (0, m.phase):
            assert outcome == "refused"
            return
        assert outcome == "ok"
        m.version += 1
        m.phase = phase or m.phase
        m.error = error or m.error
        m.started_at = started or m.started_at
        m.items = list(new_items) or m.items

    @rule(eid=ids, message=st.sampled_from(["m", "n"]))
    def update(self, eid: str, message: str) -> None:
        m = self.model.get(eid)
        if m is None or m.kind != "agent":
            return
        self.engine.update(wire.AgentExecution(metadata={"id": eid}, spec={"message": message, "agent_id": "a"}))
        m.version += 1
        m.message = message

    @rule(eid=ids)
    def delete(self, eid: str) -> None:
        try:
            self.engine.delete(eid)
            assert eid in self.model
            del self.model[eid]
        except NotFound:
            assert eid not in self.model

    @precondition(lambda self: len(self.subs) < 5)
    @rule(eid=ids)
    def subscribe(self, eid: str) -> None:
        try:
            sub = self.engine.subscribe(eid)
        except NotFound:
            assert eid not in self.model
            return
        first = sub.get(timeout=5)
        assert first.status.version == self.model[eid].version
        self.subs.append((eid, sub, [first.status.version]))

    @invariant()
    def same_state(self) -> None:
        for eid, m in self.model.items():
            e = self.engine.get(eid)
            items = [x.content for x in e.status.messages] if m.kind == "agent" else [t.task_id for t in e.status.tasks]
            assert (e.status.version, e.status.phase, e.status.error, e.status.started_at, items) == (
                m.version, m.phase, m.error, m.started_at, m.items), eid
            if m.kind == "agent":
                assert e.spec.message == m.message

    @invariant()
    def subscriptions_follow(self) -> None:
        """Each open subscription reaches the model's version (delivery is asynchronous:
        wait for it, bounded), or ends if the execution is terminal or gone."""
        still_open = []
        for eid, sub, versions in self.subs:
            m = self.model.get(eid)
            must_end = m is None or m.phase in TERMINAL
            ended = False
            while must_end or versions[-1] < m.version:
                try:
                    versions.append(sub.get(timeout=5).status.version)
                except StopIteration:
                    ended = True
                    break
            assert versions == sorted(set(versions)), versions
            if must_end:
                assert ended, f"subscription to {eid} did not end"
            else:
                assert versions[-1] == m.version and not ended
                still_open.append((eid, sub, versions))
        self.subs = still_open

    def teardown(self) -> None:
        for _, sub, _ in self.subs:
            sub.close()
        self.engine.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


EngineVsModel.TestCase.settings = settings(max_examples=60, stateful_step_count=25, deadline=None)
test_engine_matches_model = EngineVsModel.TestCase
