"""Facts about a compiled workflow's graph that a run needs, computed once per run.

``forward`` are the targets a node's token can go to besides its loop's ``back_to``: plain
out-edges, branch targets and ``on_exhausted``; a node that is skipped sends a dead token
along every one of them. ``loop_of`` maps each node to the innermost loop whose body holds
it (the body of loop node L with ``back_to`` B: every node on a forward path from B to L):
a node's iteration is its loop's counter, 0 outside loops, so a join after a loop meets
tokens of iteration 0 from both sides.
"""

from __future__ import annotations

from dataclasses import dataclass

from stigmer_actors.runner import ir


@dataclass(frozen=True)
class Graph:
    workflow: ir.Workflow
    nodes: dict[str, ir.Node]
    forward: dict[str, tuple[str, ...]]
    predecessors: dict[str, frozenset[str]]
    loop_of: dict[str, str]
    bodies: dict[str, frozenset[str]]
    """Loop node -> the nodes of its body (itself and its back_to included)."""

    @classmethod
    def of(cls, workflow: ir.Workflow) -> Graph:
        nodes = {n.id: n for n in workflow.nodes}
        forward = {n.id: _unique(_forward_targets(n)) for n in workflow.nodes}
        predecessors = {n.id: frozenset(n.incoming) for n in workflow.nodes}
        bodies = {n.id: _body(n, forward) for n in workflow.nodes if n.loop}
        loop_of: dict[str, str] = {}
        for node_id in nodes:
            holding = [loop for loop, body in bodies.items() if node_id in body]
            if holding:
                loop_of[node_id] = min(holding, key=lambda loop: len(bodies[loop]))
        return cls(workflow, nodes, forward, predecessors, loop_of, bodies)


def _forward_targets(node: ir.Node) -> list[str]:
    targets = list(node.edges_out)
    if node.branch:
        targets += [t for rule in node.branch.rules for t in rule.next] + list(node.branch.default)
    if node.loop:
        targets += list(node.loop.on_exhausted)
    return targets


def _body(loop_node: ir.Node, forward: dict[str, tuple[str, ...]]) -> frozenset[str]:
    assert loop_node.loop is not None
    start = loop_node.loop.back_to
    reachable = _reach(start, forward)
    backward: dict[str, list[str]] = {}
    for source, targets in forward.items():
        for target in targets:
            backward.setdefault(target, []).append(source)
    reaching = _reach(loop_node.id, backward)
    return frozenset(reachable & reaching)


def _reach(start: str, adjacency: dict[str, tuple[str, ...]] | dict[str, list[str]]) -> set[str]:
    seen = {start}
    todo = [start]
    while todo:
        for nxt in adjacency.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _unique(items: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))
