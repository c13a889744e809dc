"""StatusBuilder: how a runner reports, as often as it likes, without flooding the server.

The runner changes a local status (tasks, messages, tool calls, todos, phase) as fast as it
works. One sender thread sends the whole newest status, with at most one updateStatus in
flight for the execution: changes made while a send is in flight are coalesced into the
next send. Every list field is sent whole (updateStatus replaces non-empty lists), so a
coalesced send loses nothing, and the last state is always sent: ``flush()`` or
``close()`` return only once the server has it. While the server is unreachable (a
restart) sends are retried with the newest status for ``retry_for`` seconds.
"""

from __future__ import annotations

import threading
import time
from typing import Any, TypeGuard

import grpc

from stigmer_actors import wire
from stigmer_actors.client.client import StigmerClient
from stigmer_actors.domain import phases
from stigmer_actors.domain.clock import now_iso
from stigmer_actors.domain.kinds import AGENT, WORKFLOW, Kind


class StatusBuilder:
    def __init__(
        self, client: StigmerClient, execution_id: str, kind: Kind | None = None, retry_for: float = 60.0
    ) -> None:
        self.client = client
        self.retry_for = retry_for
        """Seconds to keep retrying while the server is UNAVAILABLE (or a call times out)."""
        self.execution_id = execution_id
        self.kind = kind or client.kind_of(execution_id)
        self._status: wire.ExecutionStatus = self.kind.status_cls()
        self._cond = threading.Condition()
        self._changed = 0
        self._sent = 0
        self._closing = False
        self._error: Exception | None = None
        self._task_index: dict[str, int] = {}
        """task_id -> position in ``tasks`` (a linear search is O(n) per change at 1,000 tasks)."""
        self.rpcs = 0
        """updateStatus calls made so far (compare with ``changes``)."""
        self.last_reply: wire.Execution | None = None
        self._thread = threading.Thread(target=self._send_loop, name="status-sender", daemon=True)
        self._thread.start()

    @property
    def changes(self) -> int:
        return self._changed

    @property
    def error(self) -> Exception | None:
        """The send failure that stopped this builder (None while it works): nothing more is
        sent after it; ``flush`` raises it."""
        return self._error

    def status(self) -> wire.ExecutionStatus:
        """A copy of the local status as it is now."""
        with self._cond:
            copy = self.kind.status_cls()
            copy.CopyFrom(self._status)
            return copy

    # Both kinds

    def touch(self) -> None:
        """Send the current status again: a heartbeat, so the server's watchdog knows the
        runner is alive while nothing changes (a long node)."""
        with self._change():
            pass

    def set_phase(self, phase: int) -> None:
        with self._change() as s:
            s.phase = phase

    def start(self, started_at: str = "") -> None:
        with self._change() as s:
            s.phase = phases.IN_PROGRESS
            s.started_at = started_at or now_iso()

    def complete(self) -> None:
        with self._change() as s:
            s.phase = phases.COMPLETED
            s.completed_at = now_iso()

    def fail(self, error: str) -> None:
        with self._change() as s:
            s.phase = phases.FAILED
            s.error = error
            s.completed_at = now_iso()

    # Agent executions

    def add_message(self, content: str, message_type: int = 2) -> None:
        """Append a message (default type MESSAGE_AI)."""
        with self._change(AGENT) as s:
            s.messages.add(type=message_type, content=content, timestamp=now_iso())

    def set_tool_call(self, call_id: str, **fields: Any) -> None:
        """Add a tool call, or update the one with this id (``name``, ``status``, ``result``...)."""
        with self._change(AGENT) as s:
            call = next((c for c in s.tool_calls if c.id == call_id), None) or s.tool_calls.add(id=call_id)
            for name, value in fields.items():
                setattr(call, name, value)

    def set_todo(self, todo_id: str, content: str, status: int) -> None:
        with self._change(AGENT) as s:
            s.todos[todo_id].id = todo_id
            s.todos[todo_id].content = content
            s.todos[todo_id].status = status
            s.todos[todo_id].updated_at = now_iso()

    # Workflow executions

    def set_task(self, task_id: str, **fields: Any) -> None:
        """Add a task, or update the one with this id (``task_name``, ``status``, ``error``...).

        Struct fields (``input``, ``output``, ``metadata``) take a dict and are replaced.
        """
        with self._change(WORKFLOW) as s:
            index = self._task_index.get(task_id)
            if index is None:
                index = self._task_index[task_id] = len(s.tasks)
                s.tasks.add(task_id=task_id)
            task = s.tasks[index]
            for name, value in fields.items():
                if isinstance(value, dict):
                    struct = getattr(task, name)
                    struct.Clear()
                    struct.update(value)
                else:
                    setattr(task, name, value)

    def set_output(self, output: dict[str, Any]) -> None:
        with self._change(WORKFLOW) as s:
            s.output.Clear()
            s.output.update(output)

    # Delivery

    def flush(self, timeout: float | None = 30.0) -> None:
        """Wait until the server has the newest state; re-raise a send failure."""
        with self._cond:
            done = self._cond.wait_for(lambda: self._sent >= self._changed or self._error, timeout)
            if self._error is not None:
                raise self._error
            if not done:
                raise TimeoutError(f"status of {self.execution_id} not delivered in {timeout} s")

    def close(self, timeout: float | None = 30.0) -> None:
        try:
            self.flush(timeout)
        finally:
            with self._cond:
                self._closing = True
                self._cond.notify_all()
            self._thread.join(timeout)

    def __enter__(self) -> StatusBuilder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _change(self, kind: Kind | None = None) -> _Change:
        if kind is not None and kind is not self.kind:
            raise TypeError(f"{self.kind.name} executions have no such field")
        return _Change(self)

    def _send_loop(self) -> None:
        unreachable_since: float | None = None
        delay = _FIRST_RETRY
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._changed > self._sent or self._closing)
                if self._changed <= self._sent:
                    return
                target = self._changed
                status = self.kind.status_cls()
                status.CopyFrom(self._status)
            try:
                reply = self.client.update_status(self.execution_id, status)
            except Exception as error:
                # Unreachable (the server restarting) or too slow to answer (the call may or may
                # not have landed): try again with the newest status, for up to ``retry_for``
                # seconds. Resending is safe: the status goes whole.
                now = time.monotonic()
                if transient(error):
                    unreachable_since = unreachable_since or now
                    if now - unreachable_since < self.retry_for:
                        with self._cond:
                            self._cond.wait(delay)
                        delay = min(delay * 2, _LAST_RETRY)
                        continue
                with self._cond:  # delivered to the runner by flush()
                    self._error = error
                    self._cond.notify_all()
                return
            unreachable_since, delay = None, _FIRST_RETRY
            with self._cond:
                self.rpcs += 1
                self.last_reply = reply
                self._sent = target
                self._cond.notify_all()


_FIRST_RETRY, _LAST_RETRY = 0.05, 1.0
def transient(error: Exception) -> bool:
    """A send failure worth retrying (for ``retry_for``): the server away, slow, or at its
    concurrent-call bound; not a refusal of this status."""
    if not isinstance(error, grpc.RpcError):
        return False
    code = error.code()
    return code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED) or (
        code == grpc.StatusCode.RESOURCE_EXHAUSTED and "Concurrent RPC limit" in (error.details() or ""))


REFUSALS = (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION,
            grpc.StatusCode.NOT_FOUND, grpc.StatusCode.RESOURCE_EXHAUSTED)
"""Answers that refuse this status for good (too big, invalid, the execution ended or gone):
sending it again cannot work. Anything else (INTERNAL, CANCELLED...) is not a verdict on it."""


def refused(error: Exception) -> TypeGuard[grpc.RpcError]:
    return isinstance(error, grpc.RpcError) and error.code() in REFUSALS and not transient(error)


class _Change:
    """``with builder._change() as status:`` mutates under the lock, then wakes the sender."""

    def __init__(self, builder: StatusBuilder) -> None:
        self._b = builder

    def __enter__(self) -> wire.ExecutionStatus:
        self._b._cond.acquire()
        return self._b._status

    def __exit__(self, exc_type: object, *rest: object) -> None:
        try:
            if exc_type is None:
                self._b._changed += 1
                self._b._cond.notify_all()
        finally:
            self._b._cond.release()
