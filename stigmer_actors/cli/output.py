"""How the CLI prints executions: short human text by default, JSON with ``--json``."""

from __future__ import annotations

import json

from google.protobuf import json_format
from google.protobuf.message import Message

from stigmer_actors import wire
from stigmer_actors.domain import phases


def as_json(execution: Message) -> str:
    return json.dumps(json_format.MessageToDict(execution), separators=(",", ":"))


def summary(execution: wire.Execution) -> str:
    """One line: id, kind, phase, version, and the error if any."""
    s = execution.status
    line = f"{execution.metadata.id}  {execution.kind}  {phases.name(s.phase)}  v{s.version}"
    return f"{line}  error: {s.error}" if s.error else line


def details(execution: wire.Execution) -> str:
    """A few lines: the summary, then tasks (workflow) or message/tool/todo counts (agent)."""
    lines = [summary(execution)]
    s = execution.status
    if execution.kind == "WorkflowExecution":
        for t in s.tasks:
            lines.append(f"  task {t.task_id}  {t.task_name}  {_enum(t, 'status')}  {t.error}".rstrip())
    else:
        lines.append(f"  {len(s.messages)} messages, {len(s.tool_calls)} tool calls, {len(s.todos)} todos")
    return "\n".join(lines)


def _enum(message: Message, field: str) -> str:
    descriptor = message.DESCRIPTOR.fields_by_name[field].enum_type
    assert descriptor is not None, f"{field} is not an enum field"
    return descriptor.values_by_number[getattr(message, field)].name
