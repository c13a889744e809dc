"""list / listBySession / listByWorkflow over the index keys, with opaque page tokens.

Pagination: ``page_token`` is either the cursor this server returned as
``next_page_token`` (continue after that id) or a 1-based page number.

One index prefix drives the scan (the narrowest the request allows: owner, then a tag, then
the phase, else every execution of the kind) and the other filters are checked as single
key look-ups. Pages follow id order, which is creation order for server-assigned ids.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Sequence
from dataclasses import dataclass

from stigmer_actors.domain import phases
from stigmer_actors.domain.errors import InvalidArgument
from stigmer_actors.domain.kinds import Kind
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
class Page:
    ids: list[str]
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


def list_ids(store: RocksStore, query: ListQuery) -> Page:
    """One page of the ids matching ``query``."""
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

    checks = [index_prefix(kind, "tag", t) for t in dict.fromkeys(tags)]
    if phase != phases.UNSPECIFIED:
        checks.append(index_prefix(kind, "phase", phase_value(phase)))
    if owner:
        driver = index_prefix(kind, "owner", owner)
    elif checks:
        driver = checks.pop(0)
    else:
        driver = index_prefix(kind, "all")

    page: list[str] = []
    total = 0
    more_after_page = False
    for key in store.scan(driver):
        execution_id = id_of_index_key(key)
        eid = execution_id.encode()
        if not all(store.contains(prefix + eid) for prefix in checks):
            continue
        total += 1
        if (after is not None and execution_id <= after) or total <= skip:
            continue
        if len(page) < size:
            page.append(execution_id)
        else:
            more_after_page = True
    next_token = encode_token(page[-1]) if page and more_after_page else ""
    return Page(ids=page, next_page_token=next_token, total_pages=math.ceil(total / size))
