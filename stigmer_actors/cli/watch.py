"""``stigmer-actors watch ID``: the execution live, until it ends.

On a terminal it redraws a rich view in place (``cli/live_view.py``); piped, or without
rich (the base install), it prints one line per state and under it what changed (tasks;
new messages, tool calls, todos), or JSON with ``--json``.
Exit code: 0 COMPLETED, 1 FAILED, 3 CANCELLED, 4 deleted while watched.

A stream that ends before a terminal state means the execution was deleted, or the daemon
went away (stopped, restarted, the connection cut). The two are told apart by asking for
the execution: NOT_FOUND is a deletion; no answer is the daemon, and ``watch`` reconnects
for up to ``--reconnect-for`` seconds, then goes on from the version it had.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Iterable, Iterator

import grpc
from google.protobuf.message import Message

from stigmer_actors import wire
from stigmer_actors.cli import exits
from stigmer_actors.cli.boundary import MAYBE_AWAY, Unreachable, cause_of
from stigmer_actors.cli.output import as_json, summary
from stigmer_actors.cli.parsing import Commands, Parser, bounded
from stigmer_actors.client import StigmerClient
from stigmer_actors.domain import phases

EXIT_CODES = {phases.COMPLETED: exits.OK, phases.FAILED: exits.FAILED, phases.CANCELLED: exits.CANCELLED}
EXIT_DELETED = exits.DELETED
DEFAULT_RECONNECT_FOR = 30.0
MAX_RECONNECT_FOR = 3600.0
RETRY_PAUSE = (0.1, 1.0)
"""Seconds between reconnect attempts: the first, doubling up to the last."""


def add_parser(commands: Commands, common: Parser) -> None:
    p = commands.add_parser("watch", parents=[common], help="follow an execution live")
    p.add_argument("id", help="the execution's id")
    add_reconnect_option(p)
    p.set_defaults(run=run)


def add_reconnect_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--reconnect-for", type=bounded(float, 0, MAX_RECONNECT_FOR, " seconds"),
                   default=DEFAULT_RECONNECT_FOR, metavar="SECONDS",
                   help="when the daemon goes away, try to reconnect for this long (0 to 3,600)")


def run(args: argparse.Namespace, client: StigmerClient) -> int:
    return follow(client, args.id, args.json, args.reconnect_for)


def follow(client: StigmerClient, execution_id: str, as_json_lines: bool,
           reconnect_for: float = DEFAULT_RECONNECT_FOR) -> int:
    """Show the execution live until it ends; the exit code for how it ended."""
    states = Follow(client, execution_id, reconnect_for)
    if as_json_lines or not sys.stdout.isatty() or not _live(states):
        _print_lines(states, as_json_lines)
    if states.deleted or states.last is None:
        print(f"{execution_id} was deleted while watched", file=sys.stderr)
        return EXIT_DELETED
    if states.last.status.error:
        print(f"error: {states.last.status.error}", file=sys.stderr)
    return EXIT_CODES[states.last.status.phase]


def _live(states: Iterable[wire.Execution]) -> bool:
    """Show ``states`` in the rich view; False, having shown nothing, without rich."""
    try:
        from stigmer_actors.cli import live_view
    except ModuleNotFoundError as error:
        if error.name != "rich" and not (error.name or "").startswith("rich."):
            raise
        return False
    live_view.show(states)
    return True


def _print_lines(states: Iterable[wire.Execution], as_json_lines: bool) -> None:
    shown: dict[str, object] = {}
    for state in states:
        print(as_json(state) if as_json_lines else summary(state) + _changes(state, shown), flush=True)


class Follow:
    """An execution's states, from its current one to its terminal one, across daemon
    restarts. After the iteration: ``last`` is the last state seen, ``deleted`` whether the
    execution was deleted instead of ending. Raises ``Unreachable`` when the daemon stays
    away longer than ``reconnect_for``, and any other error the first subscribe meets."""

    def __init__(self, client: StigmerClient, execution_id: str, reconnect_for: float) -> None:
        self.client = client
        self.execution_id = execution_id
        self.reconnect_for = reconnect_for
        self.last: wire.Execution | None = None
        self.deleted = False

    def __iter__(self) -> Iterator[wire.Execution]:
        stream: Iterator[wire.Execution] | None = self.client.watch(self.execution_id)
        resumed_at: int | None = None
        while stream is not None:
            lost: grpc.RpcError | None = None
            try:
                for state in stream:
                    if state.status.version == resumed_at:  # the state we had before the loss
                        continue
                    resumed_at = None
                    self.last = state
                    yield state
            except grpc.RpcError as error:
                if self.last is None or error.code() not in MAYBE_AWAY:
                    raise  # the first subscribe failed: the error boundary reports it
                lost = error
            if self.last is not None and phases.is_terminal(self.last.status.phase):
                return
            stream = self._resubscribe(lost)
            resumed_at = None if self.last is None else self.last.status.version

    def _resubscribe(self, lost: grpc.RpcError | None) -> Iterator[wire.Execution] | None:
        """A new stream, or None once the execution is found deleted."""
        deadline = time.monotonic() + self.reconnect_for
        pause = RETRY_PAUSE[0]
        announced = False
        cause = "" if lost is None else cause_of(lost, self.client.timeout)
        while True:
            try:
                self.client.get(self.execution_id)
                stream = self.client.watch(self.execution_id)
                first = next(stream)
            except grpc.RpcError as error:
                if error.code() == grpc.StatusCode.NOT_FOUND:
                    self.deleted = True
                    return None
                if error.code() not in MAYBE_AWAY:
                    raise
                cause = cause_of(error, self.client.timeout)
            except StopIteration:  # ended at once: deleted since the get, or the daemon stopping
                cause = cause or "the stream ended"
            else:
                if announced:
                    print(f"reconnected to the daemon at {self.client.address}", file=sys.stderr, flush=True)
                return itertools.chain([first], stream)
            if not announced:
                print(f"lost the daemon at {self.client.address} ({cause}); reconnecting for up to "
                      f"{self.reconnect_for:g} s", file=sys.stderr, flush=True)
                announced = True
            left = deadline - time.monotonic()
            if left <= 0:
                raise Unreachable(self.client.address, f"gone for {self.reconnect_for:g} s: {cause}")
            time.sleep(min(pause, left))  # a pause between attempts, not a synchronization
            pause = min(pause * 2, RETRY_PAUSE[1])


def _changes(execution: wire.Execution, shown: dict[str, object]) -> str:
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
    assert descriptor is not None, f"{field} is not an enum field"
    return descriptor.values_by_number[getattr(message, field)].name.removeprefix(prefix)
