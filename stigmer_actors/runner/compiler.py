"""Workflow definition (a dict from ``source.load``) -> immutable ``ir.Workflow``.

Every rule of WORKFLOWS.md's "Compilation" is checked and every violation reported at
once, each naming the node and the rule, so a user fixes a file in one pass instead of
one error per try (the refusal lists the first ``limits.PROBLEMS_SHOWN`` and counts the
rest). A definition comes from a caller: whatever its shape, compiling it either returns
the IR or raises WorkflowInvalid, and costs at most what ``limits`` allows. Rules (the
names used in the messages):

definition  name, nodes, edges and input have the right shapes; the document is JSON data
            (string keys; null, booleans, 64-bit integers, numbers, strings, lists, maps)
size        at most 2,000 nodes, 4,000 edges, 50 loop nodes (``limits``; the source
            text's own bounds, 256 KiB, 50,000 values, 32 levels, are ``source``'s)
node-id     ids present, unique, ``[a-z0-9_-]+``, at most 64 characters
node-field  no unknown keys on a node, its retry, branch or loop (a misspelt ``retry``
            must not be ignored)
node-type   one of ir.NODE_TYPES
params      ``with`` has what the node type needs
edge        both endpoints of every edge exist
reference   every branch ``next``/``default``, loop ``back_to``/``on_exhausted`` is a node id
            (or, except ``back_to``, a list of them) that exists
entry       at least one node nothing points to
terminal    at least one node with no way out
cycle       no cycle except through a loop's ``back_to``
cel         every CEL expression (and ``{{ }}`` template) parses, is at most 1,000
            characters and nests at most 150 levels (``expressions.check``); at most 32 KiB
            of distinct CEL text in all
python      ``call`` names an absolute ``module:function`` (a public name) in a module the
            operator allows (``policy.PythonModules``); nothing is imported to check it
http        ``url`` is an http(s) URL with a host
duration    ``timeout`` (at most 24h), ``retry.backoff`` (1h), ``wait.for`` (24h) are durations
retry       ``max_attempts`` an integer from 1 to 100
loop        ``until`` and ``back_to`` given, ``max_iterations`` an integer from 1 to 1,000;
            no loop inside a loop's body; no node of a body reached from outside it
join        ``all`` or ``any``
branch      ``rules`` a list, each with ``when`` and ``next``
"""

from __future__ import annotations

import datetime
import hashlib
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from stigmer_actors.runner import expressions, ir, limits
from stigmer_actors.runner.durations import parse_duration
from stigmer_actors.runner.graph import Graph
from stigmer_actors.runner.policy import PythonModules

_ID = re.compile(r"^[a-z0-9_-]+$")
_PYTHON_TARGET = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z]\w*$")
_NODE_FIELDS = {"id", "type", "with", "timeout", "retry", "branch", "loop", "join", "description"}
_RETRY_FIELDS = {"max_attempts", "backoff"}
_BRANCH_FIELDS = {"rules", "default"}
_RULE_FIELDS = {"when", "next"}
_LOOP_FIELDS = {"until", "back_to", "max_iterations", "on_exhausted"}
_INT64 = (-(2**63), 2**63 - 1)
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
        where = f"node {_cut(self.node)}" if self.node else "workflow"
        line = f"{where}: {self.message}"
        if len(line) > limits.PROBLEM_CHARS:
            line = line[: limits.PROBLEM_CHARS - 3] + "..."
        return f"{line} [{self.rule}]"


class WorkflowInvalid(ValueError):
    """All the rules a definition breaks, one ``Problem`` each (the message lists the first
    ``limits.PROBLEMS_SHOWN``: it must fit in a gRPC status)."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        listed = problems[: limits.PROBLEMS_SHOWN]
        more = len(problems) - len(listed)
        super().__init__(f"{len(problems)} problem(s):\n" + "\n".join(map(str, listed))
                         + (f"\n... and {more} more" if more else ""))


def shown(value: Any) -> str:
    """A value as a problem quotes it: its repr, cut to ``limits.VALUE_CHARS``."""
    return _cut(repr(value))


def _what(value: Any) -> str:
    """What a YAML-only value is, as a user wrote it."""
    if isinstance(value, datetime.datetime):
        return "a timestamp"
    if isinstance(value, datetime.date):
        return "a date"
    if isinstance(value, bytes):
        return "binary data"
    return f"a {type(value).__name__}"


def _cut(text: str) -> str:
    return text if len(text) <= limits.VALUE_CHARS else text[: limits.VALUE_CHARS - 3] + "..."


def compile_workflow(data: Any, python: PythonModules = PythonModules()) -> ir.Workflow:
    """The IR of ``data``; raises WorkflowInvalid listing every problem found.

    ``python``: the modules ``python`` nodes may name (by default none)."""
    c = _Compiler(data, python)
    workflow = c.run()
    if workflow is not None and not c.problems:
        c.loop_bodies(workflow)
    if c.problems:
        raise WorkflowInvalid(c.problems)
    assert workflow is not None
    return workflow


class _Compiler:
    def __init__(self, data: Any, python: PythonModules) -> None:
        self.data = data
        self.python = python
        self.problems: list[Problem] = []
        self._checked: dict[str, str | None] = {}
        """CEL text -> what ``expressions.check`` said (a repeated template is parsed once)."""
        self._cel_chars = 0

    def report(self, node: str | None, rule: str, message: str) -> None:
        self.problems.append(Problem(node, rule, message))

    def run(self) -> ir.Workflow | None:
        if not isinstance(self.data, dict):
            self.report(None, "definition", "a workflow definition is a mapping with name, nodes and edges")
            return None
        if self._not_json(self.data):
            return None  # the other rules assume JSON data
        name = self.data.get("name")
        if not isinstance(name, str) or not name.strip():
            self.report(None, "definition", "name is missing (executions refer to it by name)")
        if not isinstance(self.data.get("description", ""), str):
            self.report(None, "definition", "description must be a string")
        raw_nodes = self._list("nodes", limits.NODES)
        raw_edges = self._list("edges", limits.EDGES)
        defaults = self.data.get("input", {}) or {}
        if not isinstance(defaults, dict):
            self.report(None, "definition", "input must be a mapping of default values")
            defaults = {}
        if any(p.rule == "size" for p in self.problems):
            return None  # a definition over the bounds costs nothing more to refuse
        nodes = self._nodes(raw_nodes)
        loops = sum(1 for raw in nodes.values() if "loop" in raw)
        if loops > limits.LOOPS:
            self.report(None, "size", f"{loops:,} loop nodes, more than the limit of {limits.LOOPS:,}")
            return None
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

    def _not_json(self, data: dict[str, Any]) -> bool:
        """Report what JSON could not say (a YAML date, a non-string key, an integer beyond
        64 bits, a string that is not Unicode text), by path. Walked without recursion."""
        found = 0
        todo: list[tuple[Any, str, int]] = [(data, "", 0)]
        while todo and found < limits.PROBLEMS_SHOWN:
            value, path, depth = todo.pop()
            where = f"at {_cut(path)}" if path else "at the top"
            problem = None
            if isinstance(value, (dict, list)) and depth >= limits.DEPTH:
                problem = f"{where}: nested more than {limits.DEPTH} levels deep"
            elif isinstance(value, dict):
                for key in reversed(list(value)):
                    if isinstance(key, str):
                        todo.append((value[key], f"{path}.{key}" if path else key, depth + 1))
                    else:
                        self.report(None, "definition", f"{where}: key {shown(key)} is not a string (quote it)")
                        found += 1
            elif isinstance(value, list):
                todo += [(item, f"{path}[{i}]", depth + 1) for i, item in reversed(list(enumerate(value)))]
            elif isinstance(value, str):
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    problem = f"{where}: the string is not Unicode text (a lone surrogate escape)"
            elif isinstance(value, bool) or value is None or isinstance(value, float):
                pass
            elif isinstance(value, int):
                if not _INT64[0] <= value <= _INT64[1]:
                    problem = f"{where}: integer {shown(value)} does not fit in 64 bits"
            else:
                problem = f"{where}: {_what(value)} is not JSON data (quote it to make it a string)"
            if problem is not None:
                self.report(None, "definition", problem)
                found += 1
        return found > 0

    def _list(self, key: str, most: int) -> list[Any]:
        value = self.data.get(key, [] if key == "edges" else None)
        if not isinstance(value, list) or (key == "nodes" and not value):
            self.report(None, "definition",
                        f"{key} must be a list" + (" of at least one node" if key == "nodes" else ""))
            return []
        if len(value) > most:
            self.report(None, "size", f"{len(value):,} {key}, more than the limit of {most:,}")
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
            elif len(node_id) > limits.ID_CHARS:
                self.report(node_id, "node-id", f"id is {len(node_id)} characters long (at most {limits.ID_CHARS})")
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
                self.report(None, "edge", f"edges[{index}] needs from and to (node ids)")
                continue
            ends = [raw["from"], raw["to"]]
            missing = [end for end in ends if end not in nodes]
            for end in missing:
                self.report(raw["from"] if end != raw["from"] else None, "edge",
                            f"edge {_cut(raw['from'])} -> {_cut(raw['to'])}: no node {_cut(end)}")
            if not missing:
                edges.append((raw["from"], raw["to"]))
        return edges

    def _node(self, node_id: str, raw: dict[str, Any], nodes: dict[str, Any]) -> None:
        self._fields(node_id, "node-field", "", raw, _NODE_FIELDS)
        node_type = raw.get("type")
        if node_type not in ir.NODE_TYPES:
            self.report(node_id, "node-type",
                        f"type {shown(node_type)} is not one of {', '.join(ir.NODE_TYPES)}")
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
            self._duration(node_id, params["for"], "with.for", limits.WAIT_FOR)
        if "timeout" in raw:
            self._duration(node_id, raw["timeout"], "timeout", limits.NODE_TIMEOUT)
        if "description" in raw and not isinstance(raw["description"], str):
            self.report(node_id, "node-field", "description must be a string")
        self._retry(node_id, raw.get("retry"))
        self._branch(node_id, raw.get("branch"), nodes)
        self._loop(node_id, raw.get("loop"), nodes)
        if raw.get("join") not in (None, "all", "any"):
            self.report(node_id, "join", f"join must be all or any, not {shown(raw['join'])}")

    def _fields(self, node_id: str, rule: str, where: str, raw: dict[str, Any], known: set[str]) -> None:
        for key in sorted(set(raw) - known):
            self.report(node_id, rule, f"unknown field {shown(where + key)}")

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
            self.report(node_id, "cel", f"{_cut(where)} must be a CEL expression (a string)")
            return
        if expression not in self._checked:
            if len(expression) <= limits.EXPRESSION_CHARS:  # a longer one is refused unparsed
                self._cel_chars += len(expression)
                if self._cel_chars > limits.EXPRESSIONS_CHARS:
                    if self._cel_chars - len(expression) <= limits.EXPRESSIONS_CHARS:
                        self.report(None, "cel", f"more than {limits.EXPRESSIONS_CHARS:,} characters of "
                                    f"distinct CEL expressions and templates")
                    return
            self._checked[expression] = expressions.check(expression)
        complaint = self._checked[expression]
        if complaint is not None:
            self.report(node_id, "cel", f"{_cut(where)}: {shown(expression)} {complaint}")

    def _python_call(self, node_id: str, target: Any) -> None:
        """The one place a ``python`` target is checked: by its name only. Importing would
        run the module's top-level code, chosen by whoever applies the definition; the
        runner imports it when the node runs (and checks the allow-list again)."""
        if not isinstance(target, str) or not _PYTHON_TARGET.match(target):
            self.report(node_id, "python", f"call {shown(target)} must be module:function "
                        f"(an absolute module path and a public name, such as mypkg.hooks:page)")
            return
        if not self.python.allows(target.partition(":")[0]):
            self.report(node_id, "python", self.python.refusal(target))

    def _http_url(self, node_id: str, url: Any) -> None:
        probe = expressions.TEMPLATE.sub("x", url) if isinstance(url, str) else ""
        try:
            parts = urlsplit(probe)
            ok = parts.scheme in ("http", "https") and bool(parts.hostname)
        except ValueError:  # e.g. an unclosed [ of an IPv6 host
            ok = False
        if not ok:
            self.report(node_id, "http", f"url {shown(url)} is not an http(s) URL with a host")

    def _duration(self, node_id: str, value: Any, where: str, at_most: float) -> float | None:
        try:
            return parse_duration(value, at_most)
        except ValueError as error:
            self.report(node_id, "duration", f"{where}: {error}")
            return None

    def _count(self, node_id: str, rule: str, name: str, value: Any, most: int) -> None:
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= most:
            self.report(node_id, rule, f"{name} must be an integer from 1 to {most:,}, not {shown(value)}")

    def _retry(self, node_id: str, raw: Any) -> None:
        if raw is None:
            return
        if not isinstance(raw, dict):
            self.report(node_id, "retry", "retry must be a mapping")
            return
        self._fields(node_id, "node-field", "retry.", raw, _RETRY_FIELDS)
        self._count(node_id, "retry", "max_attempts", raw.get("max_attempts", 1), limits.MAX_ATTEMPTS)
        if "backoff" in raw:
            self._duration(node_id, raw["backoff"], "retry.backoff", limits.RETRY_BACKOFF)

    def _targets(self, node_id: str, where: str, value: Any, nodes: dict[str, Any], one: bool = False) -> None:
        """``value`` names nodes: an id, or (unless ``one``) a list of ids."""
        targets = value if isinstance(value, list) and not one else [value]
        for target in targets:
            if not isinstance(target, str):
                what = "a node id" if one else "a node id or a list of node ids"
                self.report(node_id, "reference", f"{where} must be {what}, not {shown(target)}")
            elif target not in nodes:
                self.report(node_id, "reference", f"{where} names {shown(target)}: no such node")

    def _branch(self, node_id: str, raw: Any, nodes: dict[str, Any]) -> None:
        if raw is None:
            return
        if not isinstance(raw, dict) or not (raw.get("rules") or raw.get("default")):
            self.report(node_id, "branch", "branch needs rules and/or a default")
            return
        self._fields(node_id, "node-field", "branch.", raw, _BRANCH_FIELDS)
        rules = raw.get("rules") or []
        if not isinstance(rules, list):
            self.report(node_id, "branch", "branch rules must be a list of {when, next}")
            rules = []
        for index, rule in enumerate(rules):
            if not isinstance(rule, dict) or "when" not in rule or "next" not in rule:
                self.report(node_id, "branch", f"branch rule {index + 1} needs when and next")
                continue
            self._fields(node_id, "node-field", f"branch.rules[{index}].", rule, _RULE_FIELDS)
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
        self._fields(node_id, "node-field", "loop.", raw, _LOOP_FIELDS)
        self._cel(node_id, "loop until", raw["until"])
        self._targets(node_id, "loop back_to", raw["back_to"], nodes, one=True)
        self._count(node_id, "loop", "max_iterations", raw.get("max_iterations"), limits.MAX_ITERATIONS)
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
            self.report(cycle[0], "cycle", "cycle " + _path([*cycle, cycle[0]])
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
    """The node ids ``value`` names (anything else was reported by ``_targets``)."""
    return [t for t in (value if isinstance(value, list) else [value]) if isinstance(t, str)]


def _branch_targets(raw: dict[str, Any]) -> list[str]:
    branch = raw.get("branch")
    if not isinstance(branch, dict):
        return []
    rules = branch.get("rules")
    if not isinstance(rules, list):
        rules = []
    targets = [t for rule in rules if isinstance(rule, dict) for t in _as_list(rule.get("next", []))]
    return targets + _as_list(branch.get("default") or [])


def _exhausted_targets(raw: dict[str, Any]) -> list[str]:
    loop = raw.get("loop")
    return _as_list(loop.get("on_exhausted") or []) if isinstance(loop, dict) else []


def _path(nodes: list[str]) -> str:
    """``a -> b -> c``, the middle left out of a long one."""
    if len(nodes) > 8:
        nodes = [*nodes[:4], f"... ({len(nodes) - 6} more)", *nodes[-2:]]
    return " -> ".join(nodes)


def _cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """One node list per cycle found by depth-first search (each reported once, at most
    ``limits.PROBLEMS_SHOWN``). Iterative: a 2,000-node chain is deeper than Python's stack."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    found: list[list[str]] = []
    for root in graph:
        if root in state:
            continue
        state[root] = 1
        path, stack = [root], [iter(graph[root])]
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                if len(found) < limits.PROBLEMS_SHOWN:
                    found.append(path[path.index(nxt):])
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(graph[nxt]))
    return found
