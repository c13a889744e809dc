"""list / listBySession / listByWorkflow over the index keys, with opaque page tokens.

Pagination: ``page_token`` is either the cursor this server returned as
``next_page_token`` (continue after that id) or a 1-based page number.

A page holds at most ``page_size`` entries and at most ``MAX_STATE_BYTES`` of them (the
room of one state of the largest size, so every page fits in a message any gRPC client
receives), and always at least one: 40 workflow executions of 150 KB come in two pages,
not one of 6 MB. ``next_page_token`` continues right after the last entry returned, so
following it reads every entry once. ``total_pages`` counts pages of ``page_size``
entries: exact unless big states cut pages short, when following the token takes more
pages. A page number addresses the ``page_size`` slice it names, so a client paging by
number reads everything only when no slice is cut by bytes.

One index prefix drives the scan (the narrowest the request allows: owner, then a tag, then
the phase, else every execution of the kind) and the other filters are checked as single
key look-ups. Pages follow id order, which is creation order for server-assigned ids.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from stigmer_actors.domain import phases
from stigmer_actors.domain.errors import InvalidArgument
from stigmer_actors.domain.kinds import Kind
from stigmer_actors.domain.sizes import MAX_STATE_BYTES, entry_bytes
from stigmer_actors.domain.validation import check_id, check_optional_id, check_tags
from stigmer_actors.store.keys import id_of_index_key, index_prefix, phase_value
from stigmer_actors.store.rocks import RocksStore

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
_TOKEN_MAGIC = "p1:"


@dataclass(frozen=True)
class ListQuery:
    """What a listing asks for: every filter given must match (tags: all of them)."""

    kind: Kind
    phase: int = phases.UNSPECIFIED
    tags: Sequence[str] = ()
    owner: str = ""
    """Session id (agents) or workflow / workflow instance id (workflows)."""
    page_size: int = 0
    page_token: str = ""


@dataclass(frozen=True)
class Record:
    """One listed execution as stored: its id, kind tag and serialized message."""

    execution_id: str
    tag: str
    data: bytes


@dataclass(frozen=True)
class Page:
    records: list[Record]
    next_page_token: str
    """Empty on the last page."""
    total_pages: int


def encode_token(last_id: str) -> str:
    return base64.urlsafe_b64encode(f"{_TOKEN_MAGIC}{last_id}".encode()).decode()


def decode_token(token: str) -> str | int:
    """The id a cursor token continues after, or a 1-based page number given as digits.

    INVALID_ARGUMENT for anything else: a token this server did not issue.
    """
    if token.isdigit() and len(token) < 10:
        if int(token) < 1:
            raise InvalidArgument("page_token as a page number starts at 1")
        return int(token)
    try:
        text = base64.urlsafe_b64decode(token.encode("ascii")).decode()
    except (binascii.Error, UnicodeError, ValueError):
        text = ""
    if not text.startswith(_TOKEN_MAGIC):
        raise InvalidArgument("page_token is not a token this server issued")
    return check_id(text[len(_TOKEN_MAGIC):], "page_token")


def matching_ids(store: RocksStore, kind: Kind, phase: int = phases.UNSPECIFIED,
                 tags: Sequence[str] = (), owner: str = "") -> Iterator[str]:
    """The ids of the executions of ``kind`` matching every filter given, in id order
    (index keys only: no record is read)."""
    checks = [index_prefix(kind, "tag", t) for t in dict.fromkeys(tags)]
    if phase != phases.UNSPECIFIED:
        checks.append(index_prefix(kind, "phase", phase_value(phase)))
    if owner:
        driver = index_prefix(kind, "owner", owner)
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
    kind, phase, tags, owner = query.kind, query.phase, query.tags, query.owner
    page_size, page_token = query.page_size, query.page_token
    if page_size < 0:
        raise InvalidArgument(f"page_size is {page_size}; it must be 0 (default) or positive")
    if phase not in phases.NAMES:
        raise InvalidArgument(f"phase {phase} is not a defined ExecutionPhase value")
    check_tags(tags, "tags")
    check_optional_id(owner, "owner")
    size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    position = decode_token(page_token) if page_token else None
    after = position if isinstance(position, str) else None
    skip = (position - 1) * size if isinstance(position, int) else 0

    page: list[Record] = []
    page_bytes = 0
    full = more_after_page = False
    total = 0
    for execution_id in matching_ids(store, kind, phase, tags, owner):
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
