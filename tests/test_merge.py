"""updateStatus merge rules of ../shared/API.md, field by field, for both kinds.

Every status field gets two cases through a real engine: set in the update (it replaces the
stored value) and left empty (the stored value is kept). A coverage test makes sure the
table names every field of both status messages, so a new proto field can't slip by.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from google.protobuf.message import Message

from stigmer_actors import AGENT, WORKFLOW, Engine, Kind, wire
from stigmer_actors.domain import phases
from stigmer_actors.domain.merge import Rule
from tests.conftest import agent, workflow

Setter = Callable[[Message, str], None]


def _todo(status: Message, tag: str) -> None:
    status.todos[tag].content = tag


def _output(status: Message, tag: str) -> None:
    status.output.update({"result": tag})


FIELDS: dict[Kind, dict[str, Setter]] = {
    AGENT: {
        "messages": lambda s, t: s.messages.add(content=t),
        "tool_calls": lambda s, t: s.tool_calls.add(id=t, name=t),
        "sub_agent_executions": lambda s, t: s.sub_agent_executions.add(id=t),
        "todos": _todo,
        "error": lambda s, t: setattr(s, "error", t),
        "started_at": lambda s, t: setattr(s, "started_at", t),
        "completed_at": lambda s, t: setattr(s, "completed_at", t),
        "callback_token": lambda s, t: setattr(s, "callback_token", t.encode()),
    },
    WORKFLOW: {
        "tasks": lambda s, t: s.tasks.add(task_id=t),
        "output": _output,
        "error": lambda s, t: setattr(s, "error", t),
        "started_at": lambda s, t: setattr(s, "started_at", t),
        "completed_at": lambda s, t: setattr(s, "completed_at", t),
        "temporal_workflow_id": lambda s, t: setattr(s, "temporal_workflow_id", t),
    },
}
SERVER_OWNED = {"audit", "version"}
CASES = [(k, f) for k in (AGENT, WORKFLOW) for f in [*FIELDS[k], "phase"]]


def _status(kind: Kind, tag: str, phase: int) -> Message:
    status = kind.status_cls(phase=phase)
    for setter in FIELDS[kind].values():
        setter(status, tag)
    return status


def _new(engine: Engine, kind: Kind) -> Message:
    request = agent(tags=["t1"]) if kind is AGENT else workflow(tags=["t1"])
    created = engine.create(request)
    # Stored state: every field set to "A", phase IN_PROGRESS.
    return engine.update_status(created.metadata.id, _status(kind, "A", phases.IN_PROGRESS))


def _without_server_fields(status: Message) -> Message:
    copy = type(status)()
    copy.CopyFrom(status)
    for name in SERVER_OWNED:
        copy.ClearField(name)
    return copy


def test_rule_table_covers_every_status_field() -> None:
    for kind in (AGENT, WORKFLOW):
        fields = {f.name for f in kind.status_cls.DESCRIPTOR.fields}
        assert set(kind.status_rules) == fields
        assert set(FIELDS[kind]) | {"phase"} | SERVER_OWNED == fields
        assert {n for n, r in kind.status_rules.items() if r is Rule.SERVER_OWNED} == SERVER_OWNED


@pytest.mark.parametrize(("kind", "field"), CASES, ids=[f"{k.name}-{f}" for k, f in CASES])
def test_field_replaces_when_set(engine: Engine, kind: Kind, field: str) -> None:
    before = _new(engine, kind)
    incoming = kind.status_cls()
    if field == "phase":
        incoming.phase = phases.COMPLETED
    else:
        FIELDS[kind][field](incoming, "B")
    after = engine.update_status(before.metadata.id, incoming)

    expected = _without_server_fields(before.status)
    if field == "phase":
        expected.phase = phases.COMPLETED
    else:
        expected.ClearField(field)
        FIELDS[kind][field](expected, "B")
    assert _without_server_fields(after.status) == expected
    _assert_untouched_and_stamped(before, after)


@pytest.mark.parametrize(("kind", "field"), CASES, ids=[f"{k.name}-{f}" for k, f in CASES])
def test_field_kept_when_empty(engine: Engine, kind: Kind, field: str) -> None:
    before = _new(engine, kind)
    # Every field but this one set to "C": only this one must keep its "A" value.
    incoming = _status(kind, "C", phases.UNSPECIFIED if field == "phase" else phases.IN_PROGRESS)
    if field != "phase":
        incoming.ClearField(field)
    after = engine.update_status(before.metadata.id, incoming)
    assert getattr(after.status, field) == getattr(before.status, field)
    _assert_untouched_and_stamped(before, after)


def test_present_but_empty_output_replaces(engine: Engine) -> None:
    before = _new(engine, WORKFLOW)
    incoming = wire.WorkflowExecutionStatus()
    incoming.output.SetInParent()  # present, with no keys: "replaces when present"
    after = engine.update_status(before.metadata.id, incoming)
    assert after.status.HasField("output") and len(after.status.output.fields) == 0


@pytest.mark.parametrize("kind", [AGENT, WORKFLOW], ids=lambda k: k.name)
def test_server_owned_fields_ignore_the_client(engine: Engine, kind: Kind) -> None:
    before = _new(engine, kind)
    incoming = kind.status_cls(version=999)
    incoming.audit.status_audit.updated_at.FromSeconds(1)
    incoming.audit.spec_audit.created_at.FromSeconds(1)
    after = engine.update_status(before.metadata.id, incoming)
    assert after.status.version == before.status.version + 1
    assert after.status.audit.spec_audit == before.status.audit.spec_audit
    _assert_untouched_and_stamped(before, after)


def _assert_untouched_and_stamped(before: Message, after: Message) -> None:
    assert after.spec == before.spec
    assert after.metadata == before.metadata
    assert (after.api_version, after.kind) == (before.api_version, before.kind)
    assert after.status.version == before.status.version + 1
    new_stamp = after.status.audit.status_audit.updated_at.ToNanoseconds()
    assert new_stamp >= before.status.audit.status_audit.updated_at.ToNanoseconds()
    assert after.status.audit.spec_audit == before.status.audit.spec_audit
