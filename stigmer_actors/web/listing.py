"""The list page's data: matching executions newest first, in numbered pages, and counts
by phase.

Both read index keys only (``Store.ids``) and then the records of one
page, so a page costs a key scan of every matching execution (about 1 us a key here) plus
``PAGE_SIZE`` record reads. Counts are kept for ``COUNTS_TTL`` seconds per filter, so many
open list pages cost one count a second, not one each.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from stigmer_actors.core import Core
from stigmer_actors.domain import kinds, phases
from stigmer_actors.feed import ExecutionFilter
from stigmer_actors.messages.snapshot import Snapshot
from stigmer_actors.store.listing import ListQuery

PAGE_SIZE = 50
COUNTS_TTL = 1.0
MAX_CACHED_COUNTS = 64


@dataclass(frozen=True)
class ListPage:
    entries: list[Snapshot]
    page: int
    pages: int
    total: int


def _newest_first(execution_id: str) -> tuple[int, str]:
    """Server-assigned ids sort by creation time after their prefix (``domain/ids.py``)."""
    prefix, _, rest = execution_id.partition("-")
    timed = kinds.of_id(execution_id) is not None
    return (1 if timed else 0, rest if timed else execution_id)


def _matching(core: Core, query: ExecutionFilter) -> Iterator[str]:
    for kind in kinds.KINDS:
        if kind not in query.kinds:
            continue
        owner = query.session_id if kind is kinds.AGENT else query.workflow_id
        for phase in sorted(query.phases) or [phases.UNSPECIFIED]:
            yield from core.store.ids(ListQuery(kind, phase, tuple(query.tags), owner))


def ids(core: Core, query: ExecutionFilter) -> list[str]:
    return sorted(_matching(core, query), key=_newest_first, reverse=True)


def page(core: Core, query: ExecutionFilter, number: int) -> ListPage:
    matching = ids(core, query)
    pages = max(1, -(-len(matching) // PAGE_SIZE))
    number = min(max(1, number), pages)
    entries = []
    for execution_id in matching[(number - 1) * PAGE_SIZE: number * PAGE_SIZE]:
        try:
            entries.append(core.get(execution_id))
        except Exception:  # deleted since the index was read
            continue
    return ListPage(entries, number, pages, len(matching))


class PhaseCounts:
    """Executions per phase for a filter (its phases ignored), cached for COUNTS_TTL seconds."""

    def __init__(self, core: Core) -> None:
        self._core = core
        self._lock = threading.Lock()
        self._cache: dict[ExecutionFilter, tuple[float, dict[int, int]]] = {}

    def get(self, query: ExecutionFilter) -> dict[int, int]:
        key = ExecutionFilter(query.kinds, frozenset(), query.session_id, query.workflow_id, query.tags)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and now - hit[0] < COUNTS_TTL:
                return hit[1]
        counts = {
            phase: sum(1 for _ in _matching(self._core, ExecutionFilter(
                key.kinds, frozenset({phase}), key.session_id, key.workflow_id, key.tags)))
            for phase in phases.NAMES if phase != phases.UNSPECIFIED
        }
        with self._lock:
            if len(self._cache) >= MAX_CACHED_COUNTS:
                self._cache.clear()
            self._cache[key] = (now, counts)
        return counts
