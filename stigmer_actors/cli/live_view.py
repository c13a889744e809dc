"""``watch`` on a terminal: a rich view redrawn in place (phase, tasks with status and
timings, or messages, tool calls and todos). rich comes with the ``server`` extra; without
it ``watch`` prints one line per state (``cli/watch.py``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from stigmer_actors import wire
from stigmer_actors.domain import phases


def show(states: Iterable[wire.Execution]) -> None:
    """Redraw each state in place until ``states`` ends. Lines printed to stderr meanwhile
    (``watch``'s reconnect notes) appear above the view."""
    with Live(console=Console(), auto_refresh=False) as live:
        for state in states:
            live.update(render(state), refresh=True)


def render(execution: Any) -> Group:
    s = execution.status
    header = Text(f"{execution.metadata.id}  {phases.name(s.phase)}  v{s.version}", style="bold")
    parts: list[Any] = [header]
    if s.error:
        parts.append(Text(f"error: {s.error}", style="red"))
    if execution.kind == "WorkflowExecution":
        table = Table("task", "name", "status", "started", "completed", "error")
        for t in s.tasks:
            status = t.DESCRIPTOR.fields_by_name["status"].enum_type.values_by_number[t.status].name
            table.add_row(t.task_id, t.task_name, status.removeprefix("WORKFLOW_TASK_"),
                          t.started_at, t.completed_at, t.error)
        parts.append(table)
    else:
        for m in s.messages[-5:]:
            parts.append(Text(f"> {m.content[:200]}"))
        if s.tool_calls:
            tools = Table("tool call", "name", "status", "error")
            for c in s.tool_calls:
                status = c.DESCRIPTOR.fields_by_name["status"].enum_type.values_by_number[c.status].name
                tools.add_row(c.id, c.name, status.removeprefix("TOOL_CALL_"), c.error)
            parts.append(tools)
        if s.todos:
            todos = Table("todo", "status")
            for todo in s.todos.values():
                status = todo.DESCRIPTOR.fields_by_name["status"].enum_type.values_by_number[todo.status].name
                todos.add_row(todo.content, status.removeprefix("TODO_"))
            parts.append(todos)
    return Group(*parts)
