"""What the pages show, computed from the wire messages: plain values for the templates.

Nothing here renders HTML (the templates do) or reads the store (``app.py`` does): each
function takes messages and returns dicts and lists, so the same view feeds the first
page load and every live update.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

from stigmer_actors import wire
from stigmer_actors.domain import phases
from stigmer_actors.runner import ir
from stigmer_actors.web import graph

MAX_SHOWN_CHARS = 20_000
"""Longer texts (message contents, tool results, task input/output) are cut on the page."""

PHASES = [(p, phases.name(p).removeprefix("EXECUTION_")) for p in
          (phases.PENDING, phases.IN_PROGRESS, phases.COMPLETED, phases.FAILED, phases.CANCELLED)]


def phase_name(phase: int) -> str:
    return phases.name(phase).removeprefix("EXECUTION_")


def enum_name(message: Message, field: str, prefix: str) -> str:
    descriptor = message.DESCRIPTOR.fields_by_name[field].enum_type
    assert descriptor is not None, f"{field} is not an enum field"
    value = descriptor.values_by_number.get(getattr(message, field))
    return value.name.removeprefix(prefix) if value else str(getattr(message, field))


def cut(text: str) -> str:
    if len(text) <= MAX_SHOWN_CHARS:
        return text
    return f"{text[:MAX_SHOWN_CHARS]}\n… ({len(text) - MAX_SHOWN_CHARS:,} more characters)"


def pretty(struct: Message) -> str:
    """A Struct as indented JSON (cut when long); empty string for an empty Struct."""
    if not struct.ByteSize():
        return ""
    return cut(json.dumps(json_format.MessageToDict(struct), indent=2, sort_keys=True))


def millis(start: str, end: str) -> str:
    """'412 ms' / '3.2 s' between two RFC 3339 stamps; '' if either is missing."""
    if not start or not end:
        return ""
    try:
        seconds = (_parse(end) - _parse(start)).total_seconds()
    except ValueError:
        return ""
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


def ago(ms: int) -> str:
    """'12 s ago' for a time in epoch milliseconds ('' for 0); the page's script keeps it fresh."""
    if not ms:
        return ""
    seconds = max(0, int(time.time() - ms / 1000))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


def _parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def summary(execution: wire.Execution) -> dict[str, Any]:
    """One row of the list (also the header of an execution's page)."""
    s, meta, audit = execution.status, execution.metadata, execution.status.audit
    agent = execution.kind == "AgentExecution"
    created = audit.spec_audit.created_at
    updated = max(audit.spec_audit.updated_at.ToNanoseconds(), audit.status_audit.updated_at.ToNanoseconds())
    return {
        "id": meta.id,
        "kind": "agent" if agent else "workflow",
        "phase": s.phase,
        "phase_name": phase_name(s.phase),
        "version": s.version,
        "owner": (execution.spec.session_id if agent
                  else execution.spec.workflow_id or execution.spec.workflow_instance_id),
        "tags": list(meta.tags),
        "created_at": created.ToJsonString() if created.ByteSize() else "",
        "created_ms": created.ToMilliseconds() if created.ByteSize() else 0,
        "updated_ms": updated // 1_000_000,
        "started_at": s.started_at,
        "completed_at": s.completed_at,
        "error": s.error,
        "title": cut(execution.spec.message)[:200] if agent else execution.spec.trigger_message[:200],
    }


def agent_view(execution: wire.Execution) -> dict[str, Any]:
    s = execution.status
    return {
        "messages": [
            {"type": enum_name(m, "type", "MESSAGE_"), "content": cut(m.content), "timestamp": m.timestamp,
             "tool_calls": [tool_call(c) for c in m.tool_calls]}
            for m in s.messages
        ],
        "tool_calls": [tool_call(c) for c in s.tool_calls],
        "todos": [
            {"id": key, "content": t.content, "status": enum_name(t, "status", "TODO_")}
            for key, t in sorted(s.todos.items(), key=lambda item: (item[1].created_at, item[0]))
        ],
        "sub_agents": [
            {"id": a.id, "name": a.name, "status": enum_name(a, "status", "SUB_AGENT_"), "input": cut(a.input),
             "output": cut(a.output), "error": a.error, "took": millis(a.started_at, a.completed_at)}
            for a in s.sub_agent_executions
        ],
    }


def tool_call(c: wire.agent_api.ToolCall) -> dict[str, Any]:
    return {"id": c.id, "name": c.name, "status": enum_name(c, "status", "TOOL_CALL_"), "args": pretty(c.args),
            "result": cut(c.result), "error": c.error, "took": millis(c.started_at, c.completed_at)}


def workflow_view(execution: wire.Execution, workflow: ir.Workflow | None) -> dict[str, Any]:
    """Tasks, and the definition's graph with each node's status (its latest iteration)."""
    tasks = []
    latest: dict[str, dict[str, Any]] = {}
    for t in execution.status.tasks:
        node, _, iteration = t.task_id.partition("#")
        attempt = t.metadata.fields["attempt"].number_value if "attempt" in t.metadata.fields else 0
        task = {
            "id": t.task_id, "anchor": "task-" + _anchor(t.task_id), "node": node or t.task_id,
            "iteration": int(iteration) if iteration.isdigit() else 0,
            "status": enum_name(t, "status", "WORKFLOW_TASK_"), "type": enum_name(t, "task_type", "WORKFLOW_TASK_"),
            "started_at": t.started_at, "completed_at": t.completed_at, "took": millis(t.started_at, t.completed_at),
            "attempt": int(attempt), "error": t.error, "input": pretty(t.input), "output": pretty(t.output),
        }
        tasks.append(task)
        shown = latest.get(task["node"])
        if shown is None or task["iteration"] >= shown["iteration"]:
            latest[task["node"]] = task
    drawing = None
    if workflow is not None:
        drawing = graph.layout(workflow)
    return {"tasks": tasks, "nodes": latest, "graph": drawing,
            "output": pretty(execution.status.output)}


def definition_graph(workflow: ir.Workflow) -> graph.Layout:
    return graph.layout(workflow)


def _anchor(task_id: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in task_id)
