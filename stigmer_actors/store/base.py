"""What the engine asks of a store, whichever it is.

Two stores implement it: RocksDB (``store/rocks.py``: embedded, one process, the default)
and PostgreSQL (``store/postgres``: shared by the nodes of a cluster). The engine writes
executions only through ``commit``, one ``Write`` per group of changes; it reads them by id
and by listing; workflow definitions and the runner's progress live in a small key-value
space beside them (``get`` / ``write`` / ``scan``).

A shared store is written by other processes too: a node's cached state can be stale, so
every write says which version it was made on (``Write.expected``) and the store refuses
it with ``Conflict`` if the stored version moved meanwhile. The writer reloads, applies its
changes again and retries. A store of one process never conflicts.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from stigmer_actors.domain.errors import Unavailable
from stigmer_actors.domain.kinds import Kind
from stigmer_actors.domain.timeouts import Deadline

if TYPE_CHECKING:
    from stigmer_actors.store.group_commit import GroupCommit
    from stigmer_actors.store.health import StoreHealth
    from stigmer_actors.store.listing import ListQuery, Page
    from stigmer_actors.wire import Execution


@dataclass(frozen=True, slots=True)
class Terms:
    """What an execution is found by in listings, derived from the execution alone: so a
    store can keep its indexes in the same write as the record, and never disagree."""

    phase: int
    tags: frozenset[str]
    owners: frozenset[str]
    """The session id (agents), the workflow and workflow instance ids (workflows)."""
    workflow_id: str = ""
    """``spec.workflow_id`` of a workflow execution (the runners that take only some)."""


def terms_of(kind: Kind, execution: Execution) -> Terms:
    return Terms(execution.status.phase, frozenset(execution.metadata.tags),
                 kind.owner_terms(execution), getattr(execution.spec, "workflow_id", ""))


@dataclass(frozen=True, slots=True)
class Write:
    """One atomic change of one execution: its new state, or its deletion."""

    execution_id: str
    kind: Kind
    data: bytes | None
    """The serialized execution; None deletes it."""
    version: int
    """The version ``data`` carries (for a delete: the version deleted)."""
    phase: int
    """The phase ``data`` carries."""
    expected: int
    """The stored version this write was made on; 0 for a create (the id must be free)."""
    terms: Terms | None
    """The new listing terms, when they changed (always for a create); None: unchanged."""
    old_terms: Terms | None
    """The terms stored before, when they changed (None for a create)."""
    deadline: Deadline | None = None
    """The execution's timer after this write, for stores that keep timers with the record."""


class Conflict(Unavailable):
    """Another writer changed the execution since ``Write.expected``: reload and retry."""


class Store(Protocol):
    durability: str
    shared: bool
    """Written by other processes too (a cluster): cached states may be stale."""
    health: StoreHealth
    group: GroupCommit[Any] | None
    """Set when concurrent writes share one flush (RocksDB under ``sync``)."""

    def load(self, execution_id: str) -> tuple[str, bytes] | None:
        """The stored (kind tag, serialized execution), or None."""

    def commit(self, write: Write) -> None:
        """Store ``write`` atomically with its index changes; ``Conflict`` or
        ``Unavailable`` when it cannot (then nothing of it is stored)."""

    def list(self, query: ListQuery, max_bytes: int = ...) -> Page:
        """One page of the executions matching ``query``, its entries ``max_bytes`` at most
        (at least one entry; default: what one state may be, ``domain/sizes.py``)."""

    def ids(self, query: ListQuery) -> Iterator[str]:
        """The ids of every execution matching ``query``'s filters, in id order (its page
        fields are ignored): counts and the dashboard's newest-first pages."""

    def unfinished(self, kind: Kind, phase: int) -> Iterator[str]:
        """Ids of the executions of ``kind`` in ``phase`` (PENDING, IN_PROGRESS), to resume."""

    def get(self, key: bytes) -> bytes | None:
        """A value of the key-value space (definitions, runner progress)."""

    def write(self, puts: dict[bytes, bytes], deletes: Iterable[bytes] = ()) -> None:
        """Put and delete keys of the key-value space in one atomic write."""

    def scan(self, prefix: bytes) -> Iterator[bytes]:
        """The keys of the key-value space under ``prefix``, in order."""

    def exclusive(self, name: str) -> AbstractContextManager[None]:
        """Held by one caller at a time across every process using the store."""

    def acquire_lease(self, name: str, owner: str, seconds: float) -> bool:
        """Take or renew lease ``name`` for ``owner`` for ``seconds``; False while another
        owner's lease on it has not expired (who runs a workflow run, in a cluster)."""

    def release_lease(self, name: str, owner: str) -> None:
        """Give ``name`` up, if ``owner`` holds it."""

    def close(self) -> None:
        """Flush and release; never raises."""
