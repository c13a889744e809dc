"""The compiled workflow: immutable, hashable, everything a run needs computed once.

Node parameters (``with``) and the input defaults are kept as canonical JSON text, so the
whole IR is hashable and ``ir_hash`` (sha256 of the normalized definition) identifies it:
a run records the hash it started with, and a changed definition is a new version.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

NODE_TYPES = ("noop", "transform", "filter", "aggregate", "python", "http", "wait", "agent")

TASK_TYPES = {  # WorkflowTask.task_type on the wire, per node type (WORKFLOWS.md)
    "agent": "AGENT_INVOCATION",
    "http": "API_CALL",
    "transform": "TRANSFORM",
    "filter": "TRANSFORM",
    "aggregate": "TRANSFORM",
    "python": "CUSTOM",
    "wait": "CUSTOM",
    "noop": "CUSTOM",
}


@dataclass(frozen=True, slots=True)
class Retry:
    max_attempts: int = 1
    backoff: float = 0.0
    """Seconds between attempts."""


@dataclass(frozen=True, slots=True)
class BranchRule:
    when: str
    next: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Branch:
    rules: tuple[BranchRule, ...]
    default: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Loop:
    until: str
    back_to: str
    max_iterations: int
    on_exhausted: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Node:
    id: str
    type: str
    config: str
    """The node's ``with`` parameters as canonical JSON; ``params()`` gives the dict."""
    timeout: float | None
    retry: Retry
    branch: Branch | None
    loop: Loop | None
    join: str | None
    """"all" or "any" for a node more than one path can reach; None otherwise."""
    edges_out: tuple[str, ...]
    """Targets of the node's plain out-edges (branches and loops are separate)."""
    incoming: tuple[str, ...]
    """Nodes with an edge, branch target or on_exhausted pointing here (not back_to)."""
    entry: bool
    terminal: bool
    task_type: str

    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = json.loads(self.config)
        return params


@dataclass(frozen=True, slots=True)
class Workflow:
    name: str
    description: str
    input_defaults: str
    """Canonical JSON of the definition's ``input`` defaults."""
    nodes: tuple[Node, ...]
    ir_hash: str

    def node(self, node_id: str) -> Node:
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(node_id)

    @property
    def entries(self) -> tuple[str, ...]:
        return tuple(n.id for n in self.nodes if n.entry)

    @property
    def terminals(self) -> tuple[str, ...]:
        return tuple(n.id for n in self.nodes if n.terminal)


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
