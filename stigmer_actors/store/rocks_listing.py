"""Listing from RocksDB: index keys scanned in id order (``store/keys.py``).

One index prefix drives the scan (the narrowest the request allows: owner, then a tag, then
the phase, else every execution of the kind) and the other filters are checked as single
key look-ups.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING

from stigmer_actors.domain import phases
from stigmer_actors.domain.sizes import MAX_STATE_BYTES, entry_bytes
from stigmer_actors.store.keys import id_of_index_key, index_prefix, phase_value
from stigmer_actors.store.listing import ListQuery, Page, Record, encode_token, plan

if TYPE_CHECKING:
    from stigmer_actors.store.rocks import RocksStore


def matching_ids(store: RocksStore, query: ListQuery) -> Iterator[str]:
    """The ids of the executions matching every filter of ``query``, in id order (index
    keys only: no record is read; the page fields are ignored)."""
    kind, phase = query.kind, query.phase
    checks = [index_prefix(kind, "tag", t) for t in dict.fromkeys(query.tags)]
    if phase != phases.UNSPECIFIED:
        checks.append(index_prefix(kind, "phase", phase_value(phase)))
    if query.owner:
        driver = index_prefix(kind, "owner", query.owner)
    elif checks:
        driver = checks.pop(0)
    else:
        driver = index_prefix(kind, "all")
    for key in store.scan(driver):
        execution_id = id_of_index_key(key)
        eid = execution_id.encode()
        if all(store.contains(prefix + eid) for prefix in checks):
            yield execution_id


def list_page(store: RocksStore, query: ListQuery, max_bytes: int = MAX_STATE_BYTES) -> Page:
    """One page of the executions matching ``query``, their entries ``max_bytes`` at most
    (and at least one)."""
    checked = plan(query)
    size, after, skip = checked.size, checked.after, checked.skip

    page: list[Record] = []
    page_bytes = 0
    full = more_after_page = False
    total = 0
    for execution_id in matching_ids(store, query):
        total += 1
        if (after is not None and execution_id <= after) or total <= skip:
            continue
        if full:
            more_after_page = True  # the scan goes on only to count ``total``
            continue
        found = store.load(execution_id)
        if found is None:
            total -= 1  # deleted since the index was read
            continue
        cost = entry_bytes(len(found[1]))
        if page and page_bytes + cost > max_bytes:
            full = more_after_page = True
            continue
        page.append(Record(execution_id, *found))
        page_bytes += cost
        full = len(page) == size
    next_token = encode_token(page[-1].execution_id) if more_after_page else ""
    return Page(records=page, next_page_token=next_token, total_pages=math.ceil(total / size))
