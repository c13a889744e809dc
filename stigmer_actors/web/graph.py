"""A workflow definition's graph laid out for the dashboard: boxes in columns, edges between.

Columns are the longest forward path from an entry node (edges, branch targets and
``on_exhausted``; a loop's ``back_to`` goes backwards and is drawn apart), so every forward
edge goes left to right. Within a column, nodes are ordered by the mean row of their
predecessors (one pass, definition order breaking ties): enough for the graphs people
write by hand, and linear in the size of the graph. The page renders the result as SVG.
"""

from __future__ import annotations

from dataclasses import dataclass

from stigmer_actors.runner import ir

BOX_W, BOX_H = 190, 44
GAP_X, GAP_Y = 60, 22
MARGIN = 16


@dataclass(frozen=True)
class Box:
    id: str
    type: str
    x: int
    y: int
    join: str | None
    loop: bool


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    path: str
    """SVG path data."""
    style: str
    """"plain", "branch" (a branch rule or default), "exhausted" or "back" (a loop's back_to)."""


@dataclass(frozen=True)
class Layout:
    boxes: list[Box]
    edges: list[Edge]
    width: int
    height: int
    box_w: int = BOX_W
    box_h: int = BOX_H


def layout(workflow: ir.Workflow) -> Layout:
    nodes = {n.id: n for n in workflow.nodes}
    forward: dict[str, list[tuple[str, str]]] = {n.id: [] for n in workflow.nodes}
    for n in workflow.nodes:
        forward[n.id] += [(t, "plain") for t in n.edges_out]
        if n.branch:
            for rule in n.branch.rules:
                forward[n.id] += [(t, "branch") for t in rule.next]
            forward[n.id] += [(t, "branch") for t in n.branch.default]
        if n.loop:
            forward[n.id] += [(t, "exhausted") for t in n.loop.on_exhausted]
    column = _columns(workflow, forward)
    by_column: dict[int, list[str]] = {}
    for n in workflow.nodes:
        by_column.setdefault(column[n.id], []).append(n.id)
    preds: dict[str, list[str]] = {n.id: [] for n in workflow.nodes}
    for source, targets in forward.items():
        for target, _ in targets:
            if target in preds:
                preds[target].append(source)
    row: dict[str, float] = {}
    for c in sorted(by_column):
        ids = by_column[c]
        order = {node_id: i for i, node_id in enumerate(ids)}

        def weight(node_id: str) -> tuple[float, int]:  # used by this iteration's sort only
            placed = [row[p] for p in preds[node_id] if p in row]
            return (sum(placed) / len(placed) if placed else order[node_id], order[node_id])  # noqa: B023

        ids.sort(key=weight)
        for i, node_id in enumerate(ids):
            row[node_id] = i
    tallest = max((len(ids) for ids in by_column.values()), default=1)
    height = MARGIN * 2 + tallest * BOX_H + (tallest - 1) * GAP_Y
    boxes: dict[str, Box] = {}
    for c, ids in by_column.items():
        offset = (height - (len(ids) * BOX_H + (len(ids) - 1) * GAP_Y)) // 2
        for i, node_id in enumerate(ids):
            n = nodes[node_id]
            boxes[node_id] = Box(node_id, n.type, MARGIN + c * (BOX_W + GAP_X),
                                 offset + i * (BOX_H + GAP_Y), n.join, n.loop is not None)
    edges = [
        Edge(source, target, _forward_path(boxes[source], boxes[target]), style)
        for source, targets in forward.items() for target, style in targets if target in boxes
    ]
    loops = [n for n in workflow.nodes if n.loop and n.loop.back_to in boxes]
    extra = 0
    for n in loops:
        assert n.loop is not None
        extra += 1
        edges.append(Edge(n.id, n.loop.back_to,
                          _back_path(boxes[n.id], boxes[n.loop.back_to], height + extra * 14), "back"))
    width = MARGIN * 2 + (max(by_column, default=0) + 1) * BOX_W + max(by_column, default=0) * GAP_X
    return Layout([boxes[n.id] for n in workflow.nodes], edges, width, height + extra * 14 + (8 if extra else 0))


def _columns(workflow: ir.Workflow, forward: dict[str, list[tuple[str, str]]]) -> dict[str, int]:
    """Longest path from an entry over forward edges (a DAG: the compiler refused cycles
    other than through a loop's back_to), by a topological order."""
    indegree = {n.id: 0 for n in workflow.nodes}
    for targets in forward.values():
        for target, _ in targets:
            if target in indegree:
                indegree[target] += 1
    column = {node_id: 0 for node_id in indegree}
    ready = [n.id for n in workflow.nodes if indegree[n.id] == 0]
    while ready:
        node_id = ready.pop(0)
        for target, _ in forward[node_id]:
            if target not in indegree:
                continue
            column[target] = max(column[target], column[node_id] + 1)
            indegree[target] -= 1
            if indegree[target] == 0:
                ready.append(target)
    return column


def _forward_path(a: Box, b: Box) -> str:
    x1, y1 = a.x + BOX_W, a.y + BOX_H // 2
    x2, y2 = b.x, b.y + BOX_H // 2
    bend = max(20, (x2 - x1) // 2)
    return f"M{x1},{y1} C{x1 + bend},{y1} {x2 - bend},{y2} {x2},{y2}"


def _back_path(a: Box, b: Box, below: int) -> str:
    """From the bottom of loop node ``a`` down, left under the graph, up into ``b``."""
    x1, y1 = a.x + BOX_W // 2, a.y + BOX_H
    x2, y2 = b.x + BOX_W // 2, b.y + BOX_H
    return f"M{x1},{y1} C{x1},{below} {x2},{below} {x2},{y2}"
