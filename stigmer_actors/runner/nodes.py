"""What each node type does: a function from a ``NodeContext`` to the node's output (a dict).

``noop``, ``transform``, ``filter`` and ``aggregate`` only evaluate expressions over what the
run already has; the run actor does them in line (``INLINE``), saving two thread hand-offs
per node. Their expressions spend from the attempt's ``budget`` (``expressions.Budget``:
bounded steps, the node's ``timeout``, the run's halt), so one cannot hold the actor
longer. ``python``, ``http``, ``wait`` and ``agent`` can take any time and run on the
runner's bounded worker pool; they watch ``ctx.cancelled`` (a timeout, a failed or
cancelled run) where they can stop early. A node fails by raising; the message becomes
the task's ``error``.
"""

from __future__ import annotations

import importlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc

from stigmer_actors.domain import phases
from stigmer_actors.domain.kinds import AGENT
from stigmer_actors.runner.durations import parse_duration
from stigmer_actors.runner.expressions import Budget, Scope, evaluate, render
from stigmer_actors.runner.http_fetch import FetchError, fetch
from stigmer_actors.runner.policy import HTTP_SECONDS, NodePolicy

INLINE = frozenset({"noop", "transform", "filter", "aggregate"})


class NodeCancelled(RuntimeError):
    """The node's attempt was cancelled (timeout, or the run ended) while it ran."""


@dataclass
class NodeContext:
    """Everything a node's work may look at; ``python`` nodes get it as ``ctx``."""

    run_id: str
    node: str
    iteration: int
    attempt: int
    params: dict[str, Any]
    """The node's ``with``, ``{{ }}`` templates rendered (raw CEL for transform/filter)."""
    input: dict[str, Any]
    """The run's input."""
    nodes: dict[str, Any]
    """node id -> {output, status, iteration}: what CEL sees as ``nodes``."""
    sources: list[str] = field(default_factory=list)
    """The predecessors whose tokens reached this node (what ``aggregate`` merges)."""
    client: Any = None
    """The StigmerClient of the runner (``agent`` nodes create executions with it)."""
    timeout: float | None = None
    """The node's per-attempt timeout, if it has one (``http`` uses it for the request)."""
    policy: NodePolicy = field(default_factory=NodePolicy)
    """What the operator lets ``python`` and ``http`` nodes reach."""
    cancelled: threading.Event = field(default_factory=threading.Event)
    budget: Budget = field(default_factory=Budget)
    """What the attempt's expressions may spend (``transform``, ``filter``)."""
    _on_cancel: list[Callable[[], object]] = field(default_factory=list)

    def variables(self, **extra: Any) -> dict[str, Any]:
        return {"input": self.input, "nodes": self.nodes, "iteration": self.iteration, **extra}

    def on_cancel(self, callback: Callable[[], object]) -> None:
        """Call ``callback`` when the attempt is cancelled (at once if it already is)."""
        self._on_cancel.append(callback)
        if self.cancelled.is_set():
            callback()

    def cancel(self) -> None:
        self.cancelled.set()
        for callback in self._on_cancel:
            callback()


def task_input(node_type: str, params: dict[str, Any], run_input: dict[str, Any]) -> dict[str, Any]:
    """What a node is given (reported as the task's ``input``): python nodes get the run's
    input overlaid with their own parameters, the others their parameters."""
    if node_type == "python":
        return {**run_input, **{k: v for k, v in params.items() if k != "call"}}
    return params


def prepare(node_type: str, raw: dict[str, Any], variables: dict[str, Any], budget: Budget) -> dict[str, Any]:
    """The node's parameters with templates rendered (transform/filter keep their CEL)."""
    return raw if node_type in ("transform", "filter") else render(raw, variables, budget)


def run(node_type: str, ctx: NodeContext) -> dict[str, Any]:
    return _KINDS[node_type](ctx)


def _noop(ctx: NodeContext) -> dict[str, Any]:
    return {}


def _transform(ctx: NodeContext) -> dict[str, Any]:
    scope = Scope(ctx.variables())
    return {key: evaluate(expression, scope, ctx.budget) for key, expression in ctx.params["set"].items()}


def _filter(ctx: NodeContext) -> dict[str, Any]:
    scope = Scope(ctx.variables())
    items = evaluate(ctx.params["items"], scope, ctx.budget)
    if not isinstance(items, list):
        raise ValueError(f"items evaluated to {type(items).__name__}, not a list")
    keep = ctx.params["keep"]
    return {"items": [item for item in items if evaluate(keep, scope.bind(item=item), ctx.budget) is True]}


def _aggregate(ctx: NodeContext) -> dict[str, Any]:
    return {source: ctx.nodes[source]["output"] for source in ctx.sources}


def _python(ctx: NodeContext) -> dict[str, Any]:
    """Import the target's module (here, on the worker: never at apply) and call it.

    The allow-list is checked again first: a definition stored before the operator
    narrowed it still cannot import anything outside it."""
    target = str(ctx.params["call"])
    module_name, _, function_name = target.partition(":")
    if not ctx.policy.python.allows(module_name):
        raise RuntimeError(ctx.policy.python.refusal(target))
    function = getattr(importlib.import_module(module_name), function_name)
    if not callable(function):
        raise TypeError(f"{target} is not callable")
    result = function(task_input("python", ctx.params, ctx.input), ctx)
    if result is None:
        return {}
    if not isinstance(result, dict):
        raise TypeError(f"{ctx.params['call']} returned {type(result).__name__}, not a dict")
    safe: dict[str, Any] = json.loads(json.dumps(result, default=str))  # JSON-safe, as the wire needs it
    return safe


def _http(ctx: NodeContext) -> dict[str, Any]:
    """One request within the operator's bounds (``http_fetch``: checked hosts, total time,
    response size)."""
    p = ctx.params
    body = None
    headers = {str(k): str(v) for k, v in (p.get("headers") or {}).items()}
    if "json" in p:
        body = json.dumps(p["json"]).encode()
        headers.setdefault("Content-Type", "application/json")
    try:
        reply = fetch(str(p["url"]), str(p.get("method", "GET")), headers, body, ctx.policy.http,
                      seconds=min(ctx.timeout or HTTP_SECONDS, HTTP_SECONDS), on_cancel=ctx.on_cancel)
    except FetchError:
        if ctx.cancelled.is_set():
            raise NodeCancelled("cancelled during the request") from None
        raise
    status, reply_headers = reply.status, reply.headers
    text = reply.body.decode("utf-8", "replace")
    try:
        parsed: Any = json.loads(text) if text else None
    except ValueError:
        parsed = text
    if not 200 <= status < 300 and status not in (p.get("accept") or []):
        raise RuntimeError(f"HTTP {status} from {p['url']}: {text[:200]}")
    return {"status": status, "headers": reply_headers, "body": parsed}


def _wait(ctx: NodeContext) -> dict[str, Any]:
    if ctx.cancelled.wait(parse_duration(ctx.params["for"])):
        raise NodeCancelled("cancelled while waiting")
    return {}


def _agent(ctx: NodeContext) -> dict[str, Any]:
    client = ctx.client
    try:  # the agent execution belongs to the run's session unless the node names another
        created = client.create_agent(str(ctx.params["message"]), agent_id=str(ctx.params.get("agent_id", "")),
                                      session_id=str(ctx.params.get("session_id", ctx.run_id)))
    except grpc.RpcError as error:
        raise RuntimeError(f"creating the agent execution: {error.code().name}: {error.details()}") from None
    stream = client.watch(created.metadata.id)
    ctx.on_cancel(lambda: _cancel_agent(client, created.metadata.id, stream))
    last = None
    try:
        for last in stream:
            if phases.is_terminal(last.status.phase):
                break
    except Exception:
        if ctx.cancelled.is_set():
            raise NodeCancelled(f"cancelled while agent execution {created.metadata.id} ran") from None
        raise
    if last is None or not phases.is_terminal(last.status.phase):
        raise RuntimeError(f"agent execution {created.metadata.id} was deleted before it ended")
    replies = [m.content for m in last.status.messages if m.type == 2]  # MESSAGE_AI
    output = {
        "execution_id": created.metadata.id,
        "phase": phases.name(last.status.phase).removeprefix("EXECUTION_"),
        "message": replies[-1] if replies else "",
        "error": last.status.error,
    }
    if last.status.phase != phases.COMPLETED:
        raise AgentFailed(output)
    return output


def _cancel_agent(client: Any, execution_id: str, stream: Any) -> None:
    """The node was cancelled: cancel the agent execution too (a retry creates a new one)."""
    stream.cancel()
    try:
        client.update_status(execution_id, AGENT.status_cls(phase=phases.CANCELLED))
    except grpc.RpcError:
        pass  # it ended meanwhile, or the daemon is gone: nothing left to stop


class AgentFailed(RuntimeError):
    def __init__(self, output: dict[str, Any]) -> None:
        self.output = output
        detail = f": {output['error']}" if output["error"] else ""
        super().__init__(f"agent execution {output['execution_id']} ended {output['phase']}{detail}")


_KINDS: dict[str, Callable[[NodeContext], dict[str, Any]]] = {
    "noop": _noop,
    "transform": _transform,
    "filter": _filter,
    "aggregate": _aggregate,
    "python": _python,
    "http": _http,
    "wait": _wait,
    "agent": _agent,
}
