"""Engine: the embeddable, thread-safe face of the service.

Open a data directory, call one method per operation, get protobuf messages back (fresh
objects, yours to mutate). Errors are the typed ``stigmer_actors.errors`` classes. The
same engine sits behind the gRPC server; embedding it skips the network, not the rules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from stigmer_actors import wire
from stigmer_actors.actors.dispatch import Redispatch
from stigmer_actors.core import Core
from stigmer_actors.domain import kinds, phases
from stigmer_actors.domain.kinds import Kind
from stigmer_actors.domain.page import Page
from stigmer_actors.domain.timeouts import Timeouts
from stigmer_actors.feed import ExecutionFilter, ListWatch
from stigmer_actors.feed.wire_events import to_wire
from stigmer_actors.observability import Metrics
from stigmer_actors.runner.definitions import DefinitionRegistry
from stigmer_actors.runner.policy import PythonModules
from stigmer_actors.store.base import Store
from stigmer_actors.store.listing import ListQuery
from stigmer_actors.store.opening import open_store
from stigmer_actors.store.rocks import Durability
from stigmer_actors.subscription import Subscription

DEFAULT_IDLE_TIMEOUT = 120.0


class Engine:
    """The execution-status engine over one RocksDB data directory, or a PostgreSQL database.

    ``data_dir``: where RocksDB keeps its files (the embedded default). ``store``: instead, a
    ``postgres://`` (or ``postgresql://``) URL: the database is shared by every node (engine
    or daemon) given the same URL, a cluster; or any ``store.base.Store``.
    ``durability`` (RocksDB): ``"wal"`` (default) survives a process crash; ``"sync"``
    fsyncs every accepted change and survives power loss (PostgreSQL: its own settings).
    ``idle_timeout``: seconds after which an unused execution's actor (its cached state, no
    thread) is retired; it reloads from disk on demand.
    ``pending_timeout`` / ``heartbeat_timeout``: seconds after which an execution still
    PENDING, or IN_PROGRESS without updates, is failed with a message saying why (0: never;
    see ``domain/timeouts.py`` for the per-execution annotations). ``metrics``: record
    Prometheus metrics into this ``Metrics`` (off by default; ``serve`` turns them on).
    ``no_runner_reason``: called with a kind's name ("agent", "workflow") when a pending
    timeout fails an execution of that kind; a string it returns replaces the generic
    "is a runner ... running?" in the error (``serve`` passes its runner supervisor's).
    ``python_modules``: the modules (each with its submodules) that the ``python`` nodes of
    applied workflow definitions may name; none by default, so such definitions are
    refused (``runner/policy.py``).
    ``cluster_lease`` (a shared store): seconds after which another node takes over the
    PENDING executions a dead node held for its runners, and its due timers.
    """

    def __init__(
        self,
        data_dir: str | Path | None = None,
        *,
        store: str | Store | None = None,
        durability: Durability = "wal",
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        pending_timeout: float = Timeouts.pending,
        heartbeat_timeout: float = Timeouts.heartbeat,
        metrics: Metrics | None = None,
        no_runner_reason: Callable[[str], str | None] | None = None,
        python_modules: str | Iterable[str] = (),
        cluster_lease: float = 15.0,
    ) -> None:
        timeouts = Timeouts(pending_timeout, heartbeat_timeout)  # refused before opening anything
        python = PythonModules.parse(
            python_modules if isinstance(python_modules, str) else ",".join(python_modules))
        self.store = open_store(data_dir, store, durability)
        self.metrics = metrics
        self.core = Core(self.store, idle_timeout, timeouts, metrics,
                         no_runner_reason=no_runner_reason, cluster_lease=cluster_lease)
        self.definitions = DefinitionRegistry(
            self.store, on_apply=lambda: self.core.dispatcher.tell(Redispatch(kinds.WORKFLOW)),
            python=python,
        )
        """Workflow definitions (``runner/definitions.py``), in the same store."""

    def create(self, execution: wire.Execution) -> wire.Execution:
        """Create an AgentExecution or WorkflowExecution; returns it as stored (PENDING)."""
        return self.core.create(execution).message()

    def get(self, execution_id: str, kind: Kind | None = None) -> wire.Execution:
        return self.core.get(execution_id, kind).message()

    def list(
        self,
        kind: Kind | str,
        *,
        phase: int = phases.UNSPECIFIED,
        tags: Sequence[str] = (),
        owner: str = "",
        page_size: int = 0,
        page_token: str = "",
    ) -> Page:
        """List one kind, filtered by phase, tags (all must match) and owner.

        ``owner`` is the session id for agents, the workflow (or workflow instance) id for
        workflows.
        """
        kind = kinds.BY_NAME[kind] if isinstance(kind, str) else kind
        page = self.core.list(ListQuery(kind, phase, tuple(tags), owner, page_size, page_token))
        return Page([s.message() for s in page.entries], page.next_page_token, page.total_pages)

    def update(self, execution: wire.Execution) -> wire.Execution:
        """Replace spec and metadata of ``execution.metadata.id``; the status is kept."""
        return self.core.update(execution).message()

    def update_status(self, execution_id: str, status: wire.ExecutionStatus) -> wire.Execution:
        """Merge a status update (the hot path) and return the merged execution."""
        return self.core.update_status(execution_id, status).message()

    def delete(self, execution_id: str, kind: Kind | None = None) -> wire.Execution:
        """Delete; returns the execution as it was. Its subscriptions end."""
        return self.core.delete(execution_id, kind).message()

    def subscribe(self, execution_id: str, kind: Kind | None = None) -> Subscription:
        """Watch an execution: its current state, then every newer one, until terminal."""
        return self.core.subscribe(execution_id, kind)

    def watch_executions(
        self,
        kind: Kind | str | None = None,
        *,
        phases: Sequence[int] = (),
        session_id: str = "",
        workflow_id: str = "",
        tags: Sequence[str] = (),
        since: str = "",
        full_state: bool = False,
    ) -> ExecutionEvents:
        """List-watch: every matching execution (ADDED), then every change, as
        ``ai.stigmer.actors.v1.ExecutionEvent`` messages; the same stream as the gRPC
        ``watchExecutions`` (see ``feed/list_watch.py`` for the rules). ``since``: a resume
        token from an earlier event (OutOfRange when the engine no longer has it: list again).
        ``close()`` ends it from any thread.
        """
        query = ExecutionFilter.of(kind, phases, session_id, workflow_id, tags)
        return ExecutionEvents(self.core.watch_executions(query, since), full_state)

    def close(self) -> None:
        """Stop every actor, then flush and close the store. Idempotent."""
        self.core.close()
        self.store.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class ExecutionEvents(Iterator[wire.watch.ExecutionEvent]):
    """A list-watch's events as wire messages; ``close()`` ends it (also on leaving ``with``)."""

    def __init__(self, watch: ListWatch, full_state: bool) -> None:
        self._watch = watch
        self._full_state = full_state

    def __next__(self) -> wire.watch.ExecutionEvent:
        return to_wire(next(self._watch), self._full_state)

    def close(self) -> None:
        self._watch.close()

    def __enter__(self) -> ExecutionEvents:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
