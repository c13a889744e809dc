"""RunState: where a run's tokens are, which nodes are ready, which are dead. No I/O.

The run's only inputs are node outcomes (``Outcome``: a node instance ended, with the
routes its branch or loop chose), applied in order. Everything else follows from them
deterministically: tokens, join arrivals, dead-path elimination, loop counters, readiness.
That is what makes a run durable cheaply: the runner persists the outcomes (one small
record each) and a restarted runner replays them through a fresh RunState to land in the
same place, then runs whatever is ready and not finished.

Tokens: a node that ends emits one token per route, live or dead; the outstanding counter
is +N on emission and -1 when a token is applied. A token id is ``from#i>to#j``; an applied
id is never applied twice. A node with one way in fires on a live token and is skipped on a
dead one; ``join: all`` waits for every predecessor's token (fires if any is live, else is
skipped), ``join: any`` fires on the first live one and ignores the rest. A token along a
loop's ``back_to`` starts the next iteration of the loop body and bypasses the join.
A skipped node sends dead tokens along every forward route, so a join after an untaken
branch always hears from all its predecessors.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from stigmer_actors.runner.graph import Graph

Key = tuple[str, int]
"""A node instance: (node id, iteration)."""

PENDING, IN_PROGRESS, COMPLETED, FAILED, SKIPPED = (
    "PENDING", "IN_PROGRESS", "COMPLETED", "FAILED", "SKIPPED"
)


def task_id(key: Key) -> str:
    return f"{key[0]}#{key[1]}"


@dataclass(frozen=True, slots=True)
class Route:
    to: str
    live: bool
    back: bool = False
    """Along the loop's ``back_to``: the target runs again in the next iteration."""


@dataclass(frozen=True)
class Outcome:
    """A node instance ended: what a run persists, one record per node instance."""

    node: str
    iteration: int
    status: str
    """COMPLETED or FAILED."""
    output: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    routes: tuple[Route, ...] = ()
    input: dict[str, Any] = field(default_factory=dict)
    started_at: str = ""
    completed_at: str = ""
    attempts: int = 1

    @property
    def key(self) -> Key:
        return (self.node, self.iteration)

    def to_json(self) -> dict[str, Any]:
        data = {k: getattr(self, k) for k in self.__dataclass_fields__}
        data["routes"] = [[r.to, r.live, r.back] for r in self.routes]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Outcome:
        routes = tuple(Route(to, live, back) for to, live, back in data.pop("routes"))
        return cls(routes=routes, **data)


@dataclass
class Effects:
    """What applying something made happen, in order: nodes now ready and nodes now skipped."""

    ready: list[Key] = field(default_factory=list)
    skipped: list[Key] = field(default_factory=list)


class RunState:
    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.status: dict[Key, str] = {(n, 0): PENDING for n in graph.nodes}
        self.outcomes: dict[Key, Outcome] = {}
        self.sources: dict[Key, list[str]] = {}
        """The predecessors whose live tokens reached a fired instance (aggregate's inputs)."""
        self.arrivals: dict[Key, dict[str, bool]] = {}
        self.fired: dict[Key, None] = {}
        """Instances fired or skipped, in that order (a dict: ordered, O(1) lookup)."""
        self.loop_iteration: dict[str, int] = {}
        self.applied: set[str] = set()
        self.outstanding = 0
        self.latest: dict[str, Key] = {}
        self.failed: Outcome | None = None
        self._view = {n: {"output": {}, "status": PENDING, "iteration": 0} for n in graph.nodes}

    def begin(self) -> Effects:
        """Fire the entry nodes (iteration 0); applying it again does nothing."""
        effects = Effects()
        for node in self.graph.workflow.entries:
            self._fire((node, 0), [], effects)
        return effects

    def finish(self, outcome: Outcome) -> Effects:
        """Record a node instance's end and apply the tokens its routes emit."""
        effects = Effects()
        if outcome.key in self.outcomes:
            return effects  # already applied (a replayed or duplicated outcome)
        self.outcomes[outcome.key] = outcome
        self.status[outcome.key] = outcome.status
        self.latest[outcome.node] = outcome.key
        self._show(outcome.key, outcome.status, outcome.output)
        if outcome.status == FAILED:
            self.failed = self.failed or outcome
            return effects
        self._emit(outcome.key, outcome.routes, effects)
        return effects

    def mark_started(self, key: Key) -> None:
        self.status[key] = IN_PROGRESS
        self._show(key, IN_PROGRESS, {})

    def holding_joins(self) -> list[Key]:
        """Join instances that have some tokens but have neither fired nor been skipped."""
        return [key for key in self.arrivals if key not in self.fired]

    def unfinished(self) -> list[Key]:
        """Fired instances without an outcome: ready to run, or running."""
        return [key for key in self.fired if self.status[key] in (PENDING, IN_PROGRESS)]

    def terminal_outputs(self) -> dict[str, Any]:
        return {
            node: self.outcomes[self.latest[node]].output
            for node in self.graph.workflow.terminals
            if node in self.latest and self.status[self.latest[node]] == COMPLETED
        }

    def variables(self) -> dict[str, Any]:
        """CEL's ``nodes``: node id -> {output, status, iteration} of its latest instance.

        Kept up to date as the run moves (rebuilding it per node is O(nodes) each time, which
        a 1,000-node run would pay a million times); callers that hand it to another thread
        copy it.
        """
        return self._view

    def _show(self, key: Key, status: str, output: dict[str, Any]) -> None:
        self._view[key[0]] = {"output": output, "status": status, "iteration": key[1]}

    def _emit(self, source: Key, routes: tuple[Route, ...], effects: Effects) -> None:
        """Emit one token per route and apply them, and whatever skips they cause, in order.

        A worklist, not recursion: skipping a 1,000-node chain must not hit the stack limit.
        """
        work = deque([(source, routes)])
        while work:
            (node, iteration), routes = work.popleft()
            self.outstanding += len(routes)
            for route in routes:
                if route.back:
                    self.loop_iteration[node] = iteration + 1
                    target = (route.to, iteration + 1)
                else:
                    target = (route.to, self._iteration_of(route.to))
                token_id = f"{node}#{iteration}>{target[0]}#{target[1]}"
                if self._apply(token_id, node, target, route, effects):
                    dead = tuple(Route(t, False) for t in self.graph.forward[target[0]])
                    work.append((target, dead))

    def _apply(self, token_id: str, sender: str, target: Key, route: Route, effects: Effects) -> bool:
        """Apply one token; True when it got ``target`` skipped (its dead tokens are due)."""
        if token_id in self.applied:
            return False
        self.applied.add(token_id)
        self.outstanding -= 1
        if target in self.fired:
            return False  # join: any already fired; late tokens are ignored
        self.status.setdefault(target, PENDING)
        node = self.graph.nodes[target[0]]
        if route.back or node.join is None:
            if route.live:
                self._fire(target, [sender], effects)
                return False
            return self._skip(target, effects)
        arrived = self.arrivals.setdefault(target, {})
        arrived[sender] = route.live
        live = [pred for pred, is_live in arrived.items() if is_live]
        everyone = self.graph.predecessors[target[0]] <= arrived.keys()
        if (node.join == "any" and live) or (everyone and live):
            self._fire(target, live, effects)
        elif everyone:
            return self._skip(target, effects)
        return False

    def _fire(self, key: Key, sources: list[str], effects: Effects) -> None:
        if key in self.fired:
            return
        self.fired[key] = None
        self.status.setdefault(key, PENDING)
        self.sources[key] = sources
        effects.ready.append(key)

    def _skip(self, key: Key, effects: Effects) -> bool:
        self.fired[key] = None
        self.status[key] = SKIPPED
        self.latest[key[0]] = key
        self._show(key, SKIPPED, {})
        effects.skipped.append(key)
        return True

    def _iteration_of(self, node: str) -> int:
        loop = self.graph.loop_of.get(node)
        return self.loop_iteration.get(loop, 0) if loop else 0
