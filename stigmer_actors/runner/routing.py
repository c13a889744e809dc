"""Where a node's token goes after its work: out-edges, the branch's choice, the loop's.

Evaluated once, when the node ends, and recorded in its ``Outcome`` (so a resumed run
replays the choice instead of re-evaluating CEL over a state that may have moved on).
The routes a node does not take are emitted dead, which is what lets joins downstream
of an untaken branch fire (dead-path elimination, ``state.py``).
"""

from __future__ import annotations

from typing import Any

from stigmer_actors.runner import ir
from stigmer_actors.runner.expressions import Budget, Scope, evaluate
from stigmer_actors.runner.state import Route


class LoopExhausted(RuntimeError):
    """A loop hit ``max_iterations`` and has no ``on_exhausted`` to go to."""


def routes(node: ir.Node, variables: dict[str, Any], budget: Budget) -> tuple[Route, ...]:
    """The routes of ``node`` that ended with ``variables['output']`` in ``variables['iteration']``
    (its conditions spend from ``budget``)."""
    taken = [Route(target, True) for target in node.edges_out]
    scope = Scope(variables)
    if node.branch:
        chosen = _branch_choice(node.branch, scope, budget)
        targets = [t for rule in node.branch.rules for t in rule.next] + list(node.branch.default)
        taken += [Route(t, t in chosen) for t in dict.fromkeys(targets)]
    if node.loop:
        return _unique(_loop_routes(node, node.loop, taken, scope, variables["iteration"], budget))
    return _unique(taken)


def _unique(routes: list[Route] | tuple[Route, ...]) -> tuple[Route, ...]:
    """One route per target: an edge and a branch (or on_exhausted) to the same node are one
    token, live if either is (two tokens with one id would count twice, apply once)."""
    merged: dict[tuple[str, bool], Route] = {}
    for route in routes:
        key = (route.to, route.back)
        if key not in merged or route.live:
            merged[key] = route
    return tuple(merged.values())


def _branch_choice(branch: ir.Branch, scope: Scope, budget: Budget) -> tuple[str, ...]:
    for rule in branch.rules:
        if evaluate(rule.when, scope, budget) is True:
            return rule.next
    return branch.default


def _loop_routes(
    node: ir.Node, loop: ir.Loop, normal: list[Route], scope: Scope, iteration: int, budget: Budget
) -> tuple[Route, ...]:
    exhausted = [Route(t, False) for t in loop.on_exhausted]
    if evaluate(loop.until, scope, budget) is True:
        return tuple(normal + exhausted)
    if iteration + 1 < loop.max_iterations:
        return (Route(loop.back_to, True, back=True),)  # the way on is not decided yet
    if not loop.on_exhausted:
        raise LoopExhausted(f"loop reached max_iterations ({loop.max_iterations}) and has no on_exhausted")
    return tuple([Route(r.to, False) for r in normal] + [Route(t, True) for t in loop.on_exhausted])
