"""Workflow definition (a dict from ``source.load``) -> immutable ``ir.Workflow``.

Every rule of WORKFLOWS.md's "Compilation" is checked and every violation reported at
once, each naming the node and the rule, so a user fixes a file in one pass instead of
one error per try. Rules (the names used in the messages):

definition  name, nodes, edges and input have the right shapes
node-id     ids present, unique, ``[a-z0-9_-]+``
node-field  no unknown keys on a node (a misspelt ``retry`` must not be ignored)
node-type   one of ir.NODE_TYPES
params      ``with`` has what the node type needs
edge        both endpoints of every edge exist
reference   every branch ``next``/``default``, loop ``back_to``/``on_exhausted`` exists
entry       at least one node nothing points to
terminal    at least one node with no way out
cycle       no cycle except through a loop's ``back_to``
cel         every CEL expression (and ``{{ }}`` template) parses
python      ``call`` names an importable ``module:function`` that is callable
http        ``url`` is an http(s) URL with a host
duration    ``timeout``, ``retry.backoff``, ``wait.for`` are durations
retry       ``max_attempts`` an integer >= 1
loop        ``until`` and ``back_to`` given, ``max_iterations`` an integer >= 1; no loop
            inside a loop's body; no node of a body reached from outside it
join        ``all`` or ``any``
branch      rules each with ``when`` and ``next``
"""

from __future__ import annotations

import hashlib
import importlib
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from stigmer_actors.runner import expressions, ir
from stigmer_actors.runner.graph import Graph
from stigmer_actors.runner.durations import parse_duration

_ID = re.compile(r"^[a-z0-9_-]+$")
_NODE_FIELDS = {"id", "type", "with", "timeout", "retry", "branch", "loop", "join", "description"}
_REQUIRED = {  # node type -> params it cannot do without
    "transform": ("set",), "filter": ("items", "keep"), "python": ("call",),
    "http": ("url",), "wait": ("for",), "agent": ("message",),
}


@dataclass(frozen=True, slots=True)
class Problem:
    node: str | None
    rule: str
    message: str

    def __str__(self) -> str:
        where = f"node {self.node}" if self.node else "workflow"
        return f"{where}: {self.message} [{self.rule}]"


class WorkflowInvalid(ValueError):
    """All the rules a definition breaks, one ``Problem`` each."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s):\n" + "\n".join(map(str, problems)))


def compile_workflow(data: dict[str, Any]) -> ir.Workflow:
    """The IR of ``data``; raises WorkflowInvalid listing every problem found."""
    c = _Compiler(data)
    workflow = c.run()
    if workflow is not None and not c.problems:
        c.loop_bodies(workflow)
    if c.problems:
        raise WorkflowInvalid(c.problems)
    assert workflow is not None
    return workflow


class _Compiler:
    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.problems: list[Problem] = []

    def report(self, node: str | None, rule: str, message: str) -> None:
        self.problems.append(Problem(node, rule, message))

    def run(self) -> ir.Workflow | None:
        name = self.data.get("name")
        if not isinstance(name, str) or not name.strip():
            self.report(None, "definition", "name is missing (executions refer to it by name)")
        raw_nodes = self._list("nodes")
        raw_edges = self._list("edges")
        defaults = self.data.get("input", {}) or {}
        if not isinstance(defaults, dict):
            self.report(None, "definition", "input must be a mapping of default values")
            defaults = {}
        nodes = self._nodes(raw_nodes)
        edges = self._edges(raw_edges, nodes)
        for node_id, raw in nodes.items():
            self._node(node_id, raw, nodes)
        if not nodes:
            return None
        return self._assemble(str(name), nodes, edges, defaults)

    def loop_bodies(self, workflow: ir.Workflow) -> None:
        """What the runner's iteration numbering cannot do: a loop inside a loop's body, and
        a node inside a body that is also reached from outside it (back_to excepted)."""
        graph = Graph.of(workflow)
        for loop, body in graph.bodies.items():
            for inner in sorted(body & graph.bodies.keys() - {loop}):
                self.report(loop, "loop", f"its body holds loop {inner}: nested loops are not supported")
            back_to = graph.nodes[loop].loop.back_to  # type: ignore[union-attr]
            for member in sorted(body - {back_to}):
                for outside in sorted(graph.predecessors[member] - body):
                    self.report(member, "loop", f"is in the body of loop {loop} and also reached from "
                                f"{outside} outside it: from the second iteration on it would wait "
                                f"for {outside} forever")

    def _list(self, key: str) -> list[Any]:
        value = self.data.get(key, [] if key == "edges" else None)
        if not isinstance(value, list) or (key == "nodes" and not value):
            self.report(None, "definition", f"{key} must be a list" + (" of at least one node" if key == "nodes" else ""))
            return []
        return value

    def _nodes(self, raw_nodes: list[Any]) -> dict[str, dict[str, Any]]:
        nodes: dict[str, dict[str, Any]] = {}
        for index, raw in enumerate(raw_nodes):
            if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
                self.report(None, "node-id", f"nodes[{index}] has no id")
                continue
            node_id = raw["id"]
            if not _ID.match(node_id):
                self.report(node_id, "node-id", "id must match [a-z0-9_-]+")
            if node_id in nodes:
                self.report(node_id, "node-id", "id is used by more than one node")
                continue
            nodes[node_id] = raw
        return nodes

    def _edges(self, raw_edges: list[Any], nodes: dict[str, Any]) -> list[tuple[str, str]]:
        edges = []
        for index, raw in enumerate(raw_edges):
            if not isinstance(raw, dict) or not isinstance(raw.get("from"), str) \
                    or not isinstance(raw.get("to"), str):
                self.report(None, "edge", f"edges[{index}] needs from and to")
                continue
            ends = [raw["from"], raw["to"]]
            missing = [end for end in ends if end not in nodes]
            for end in missing:
                self.report(raw["from"] if end != raw["from"] else None, "edge",
                            f"edge {raw['from']} -> {raw['to']}: no node {end}")
            if not missing:
                edges.append((raw["from"], raw["to"]))
        return edges

    def _node(self, node_id: str, raw: dict[str, Any], nodes: dict[str, Any]) -> None:
        for key in sorted(set(raw) - _NODE_FIELDS):
            self.report(node_id, "node-field", f"unknown field {key!r}")
        node_type = raw.get("type")
        if node_type not in ir.NODE_TYPES:
            self.report(node_id, "node-type",
                        f"type {node_type!r} is not one of {', '.join(ir.NODE_TYPES)}")
        params = raw.get("with", {}) or {}
        if not isinstance(params, dict):
            self.report(node_id, "params", "with must be a mapping")
            params = {}
        for key in _REQUIRED.get(str(node_type), ()):
            if key not in params:
                self.report(node_id, "params", f"a {node_type} node needs with.{key}")
        self._expressions(node_id, str(node_type), params)
        if node_type == "python" and "call" in params:
            self._python_call(node_id, params["call"])
        if node_type == "http" and "url" in params:
            self._http_url(node_id, params["url"])
        if node_type == "wait" and "for" in params:
            self._duration(node_id, params["for"], "with.for")
        if "timeout" in raw:
            self._duration(node_id, raw["timeout"], "timeout")
        self._retry(node_id, raw.get("retry"))
        self._branch(node_id, raw.get("branch"), nodes)
        self._loop(node_id, raw.get("loop"), nodes)
        if raw.get("join") not in (None, "all", "any"):
            self.report(node_id, "join", f"join must be all or any, not {raw['join']!r}")

    def _expressions(self, node_id: str, node_type: str, params: dict[str, Any]) -> None:
        """CEL fields by node type, and ``{{ }}`` templates in every other string."""
        cel: list[tuple[str, Any]] = []
        if node_type == "transform" and isinstance(params.get("set"), dict):
            cel += [(f"with.set.{k}", v) for k, v in params["set"].items()]
        elif node_type == "transform" and "set" in params:
            self.report(node_id, "params", "with.set must be a mapping of key: CEL")
        if node_type == "filter":
            cel += [(f"with.{k}", params[k]) for k in ("items", "keep") if k in params]
        plain = {k: v for k, v in params.items()
                 if not (node_type == "transform" and k == "set")
                 and not (node_type == "filter" and k in ("items", "keep"))}
        for text in expressions.strings_in(plain):
            cel += [("a {{ }} template", e) for e in expressions.template_expressions(text)]
        for where, expression in cel:
            self._cel(node_id, where, expression)

    def _cel(self, node_id: str, where: str, expression: Any) -> None:
        if not isinstance(expression, str) or not expression.strip():
            self.report(node_id, "cel", f"{where} must be a CEL expression (a string)")
            return
        complaint = expressions.check(expression)
        if complaint is not None:
            self.report(node_id, "cel", f"{where}: {expression!r} does not parse: {complaint}")

    def _python_call(self, node_id: str, target: Any) -> None:
        module_name, _, attr = str(target).partition(":")
        if not module_name or not attr:
            self.report(node_id, "python", f"call {target!r} must be module:function")
            return
        try:
            function = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as error:
            self.report(node_id, "python", f"call {target!r} does not resolve: {error}")
            return
        if not callable(function):
            self.report(node_id, "python", f"call {target!r} is not callable")

    def _http_url(self, node_id: str, url: Any) -> None:
        probe = expressions.TEMPLATE.sub("x", url) if isinstance(url, str) else ""
        parts = urlsplit(probe)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            self.report(node_id, "http", f"url {url!r} is not an http(s) URL with a host")

    def _duration(self, node_id: str, value: Any, where: str) -> float | None:
        try:
            return parse_duration(value)
        except ValueError as error:
            self.report(node_id, "duration", f"{where}: {error}")
            return None

    def _retry(self, node_id: str, raw: Any) -> None:
        if raw is None:
            return
        if not isinstance(raw, dict):
            self.report(node_id, "retry", "retry must be a mapping")
            return
        attempts = raw.get("max_attempts", 1)
        if not isinstance(attempts, int) or isinstance(attempts, bool) or attempts < 1:
            self.report(node_id, "retry", f"max_attempts must be an integer >= 1, not {attempts!r}")
        if "backoff" in raw:
            self._duration(node_id, raw["backoff"], "retry.backoff")

    def _targets(self, node_id: str, where: str, value: Any, nodes: dict[str, Any]) -> None:
        targets = value if isinstance(value, list) else [value]
        for target in targets:
            if target not in nodes:
                self.report(node_id, "reference", f"{where} names {target!r}: no such node")

    def _branch(self, node_id: str, raw: Any, nodes: dict[str, Any]) -> None:
        if raw is None:
            return
        if not isinstance(raw, dict) or not (raw.get("rules") or raw.get("default")):
            self.report(node_id, "branch", "branch needs rules and/or a default")
            return
        for index, rule in enumerate(raw.get("rules") or []):
            if not isinstance(rule, dict) or "when" not in rule or "next" not in rule:
                self.report(node_id, "branch", f"branch rule {index + 1} needs when and next")
                continue
            self._cel(node_id, f"branch rule {index + 1} when", rule["when"])
            self._targets(node_id, f"branch rule {index + 1} next", rule["next"], nodes)
        if raw.get("default"):
            self._targets(node_id, "branch default", raw["default"], nodes)

    def _loop(self, node_id: str, raw: Any, nodes: dict[str, Any]) -> None:
        if raw is None:
            return
        if not isinstance(raw, dict) or "until" not in raw or "back_to" not in raw:
            self.report(node_id, "loop", "loop needs until and back_to")
            return
        self._cel(node_id, "loop until", raw["until"])
        self._targets(node_id, "loop back_to", raw["back_to"], nodes)
        limit = raw.get("max_iterations")
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            self.report(node_id, "loop", f"max_iterations must be an integer >= 1, not {limit!r}")
        if raw.get("on_exhausted"):
            self._targets(node_id, "loop on_exhausted", raw["on_exhausted"], nodes)

    # --- the graph ----------------------------------------------------------------------

    def _assemble(self, name: str, nodes: dict[str, dict[str, Any]],
                  edges: list[tuple[str, str]], defaults: dict[str, Any]) -> ir.Workflow | None:
        forward: dict[str, list[str]] = {n: [] for n in nodes}  # every path but back_to
        plain: dict[str, list[str]] = {n: [] for n in nodes}
        for src, dst in edges:
            forward[src].append(dst)
            plain[src].append(dst)
        for node_id, raw in nodes.items():
            forward[node_id] += [t for t in _branch_targets(raw) if t in nodes]
            forward[node_id] += [t for t in _exhausted_targets(raw) if t in nodes]
        incoming: dict[str, list[str]] = {n: [] for n in nodes}
        for src, targets in forward.items():
            for dst in targets:
                incoming[dst].append(src)
        if not any(not incoming[n] for n in nodes):
            self.report(None, "entry", "no entry node: every node has an incoming path")
        terminal = {n for n in nodes if not plain[n] and not _branch_targets(nodes[n])}
        if not terminal:
            self.report(None, "terminal", "no terminal node: every node has a way out")
        for cycle in _cycles(forward):
            self.report(cycle[0], "cycle", "cycle " + " -> ".join([*cycle, cycle[0]])
                        + " (only a loop's back_to may go back)")
        if self.problems:
            return None
        built = tuple(self._build(n, nodes[n], plain[n], incoming[n], n in terminal) for n in nodes)
        digest = hashlib.sha256(ir.canonical(
            {"name": name, "input": defaults, "nodes": [nodes[n] for n in nodes], "edges": edges}
        ).encode()).hexdigest()
        return ir.Workflow(name, str(self.data.get("description", "")), ir.canonical(defaults),
                           built, digest)

    @staticmethod
    def _build(node_id: str, raw: dict[str, Any], edges_out: list[str], incoming: list[str],
               terminal: bool) -> ir.Node:
        retry = raw.get("retry") or {}
        branch = raw.get("branch")
        loop = raw.get("loop")
        join = raw.get("join") or ("all" if len(incoming) > 1 else None)
        node_type = raw["type"]
        return ir.Node(
            id=node_id, type=node_type, config=ir.canonical(raw.get("with") or {}),
            timeout=parse_duration(raw["timeout"]) if "timeout" in raw else None,
            retry=ir.Retry(retry.get("max_attempts", 1),
                           parse_duration(retry["backoff"]) if "backoff" in retry else 0.0),
            branch=ir.Branch(
                tuple(ir.BranchRule(r["when"], tuple(_as_list(r["next"]))) for r in branch.get("rules") or []),
                tuple(_as_list(branch.get("default") or [])),
            ) if branch else None,
            loop=ir.Loop(loop["until"], loop["back_to"], loop["max_iterations"],
                         tuple(_as_list(loop.get("on_exhausted") or []))) if loop else None,
            join=join, edges_out=tuple(edges_out), incoming=tuple(incoming),
            entry=not incoming, terminal=terminal,
            task_type="CONDITIONAL" if branch else "PARALLEL" if join else ir.TASK_TYPES[node_type],
        )


def _as_list(value: Any) -> list[str]:
    return list(value) if isinstance(value, list) else [value]


def _branch_targets(raw: dict[str, Any]) -> list[str]:
    branch = raw.get("branch")
    if not isinstance(branch, dict):
        return []
    targets = [t for rule in branch.get("rules") or [] if isinstance(rule, dict)
               for t in _as_list(rule.get("next", []))]
    return targets + _as_list(branch.get("default") or [])


def _exhausted_targets(raw: dict[str, Any]) -> list[str]:
    loop = raw.get("loop")
    return _as_list(loop.get("on_exhausted") or []) if isinstance(loop, dict) else []


def _cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """One node list per cycle found by depth-first search (each reported once)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                found.append(path[path.index(nxt):])
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node)
    return found
