"""``stigmer-actors watch ID``: the execution live, until it ends.

On a terminal it redraws a rich view in place (phase, tasks with status and timings, or
messages, tool calls and todos); piped, it prints one line per state and under it what
changed (tasks; new messages, tool calls, todos), or JSON with ``--json``. Exit code: 0 COMPLETED, 1 FAILED, 3 CANCELLED, 4 deleted while watched.
"""

from __future__ import annotations

import argparse
import sys

from google.protobuf.message import Message
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from stigmer_actors.cli.output import as_json, summary
from stigmer_actors.client import StigmerClient
from stigmer_actors.domain import phases

EXIT_CODES = {phases.COMPLETED: 0, phases.FAILED: 1, phases.CANCELLED: 3}
EXIT_DELETED = 4


def add_parser(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = commands.add_parser("watch", parents=[common], help="follow an execution live")
    p.add_argument("id")
    p.set_defaults(run=run)


def run(args: argparse.Namespace, client: StigmerClient) -> int:
    return follow(client, args.id, args.json)


def follow(client: StigmerClient, execution_id: str, as_json_lines: bool) -> int:
    """Show the execution live until it ends; the exit code for how it ended."""
    console = Console()
    last: Message | None = None
    stream = client.watch(execution_id)
    if console.is_terminal and not as_json_lines:
        with Live(console=console, auto_refresh=False) as live:
            for last in stream:
                live.update(render(last), refresh=True)
    else:
        shown: dict[str, object] = {}
        for last in stream:
            print(as_json(last) if as_json_lines else summary(last) + _changes(last, shown), flush=True)
    if last is None or not phases.is_terminal(last.status.phase):
        print(f"{execution_id} was deleted while watched", file=sys.stderr)
        return EXIT_DELETED
    if last.status.error:
        print(f"error: {last.status.error}", file=sys.stderr)
    return EXIT_CODES[last.status.phase]


def _changes(execution: Message, shown: dict[str, object]) -> str:
    """Lines for what changed since the last state printed: workflow tasks whose status
    changed; an agent's new messages, and tool calls and todos whose status changed."""
    s = execution.status
    lines = []
    for t in getattr(s, "tasks", ()):
        if _changed(shown, f"task {t.task_id}", t.status):
            error = f"  {t.error}" if t.error else ""
            lines.append(f"  {t.task_id}  {_enum(t, 'status', 'WORKFLOW_TASK_')}{error}")
    if execution.kind == "AgentExecution":
        for i, m in enumerate(s.messages):
            if _changed(shown, f"message {i}", m.content):
                lines.append(f"  > {m.content[:200]}")
        for c in s.tool_calls:
            if _changed(shown, f"tool {c.id}", c.status):
                lines.append(f"  tool call {c.name or c.id}  {_enum(c, 'status', 'TOOL_CALL_')}")
        for todo in s.todos.values():
            if _changed(shown, f"todo {todo.id}", todo.status):
                lines.append(f"  todo {todo.content}  {_enum(todo, 'status', 'TODO_')}")
    return "".join("\n" + line for line in lines)


def _changed(shown: dict[str, object], key: str, value: object) -> bool:
    if shown.get(key) == value:
        return False
    shown[key] = value
    return True


def _enum(message: Message, field: str, prefix: str) -> str:
    descriptor = message.DESCRIPTOR.fields_by_name[field].enum_type
    return descriptor.values_by_number[getattr(message, field)].name.removeprefix(prefix)


def render(execution: Message) -> Group:
    s = execution.status
    header = Text(f"{execution.metadata.id}  {phases.name(s.phase)}  v{s.version}", style="bold")
    parts: list = [header]
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
