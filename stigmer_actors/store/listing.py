"""list / listBySession / listByWorkflow, for any store: the query, its checks, pages and
their opaque tokens. Each store finds the entries its own way (``rocks_listing.py`` scans
index keys, PostgreSQL runs a query).

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

Pages follow id order, which is creation order for server-assigned ids.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass

from stigmer_actors.domain import phases
from stigmer_actors.domain.errors import InvalidArgument
from stigmer_actors.domain.kinds import Kind
from stigmer_actors.domain.validation import check_id, check_optional_id, check_tags

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


@dataclass(frozen=True)
class Plan:
    """A checked query: how many entries a page holds, and where it starts."""

    size: int
    after: str | None
    """Continue after this id (a cursor token)."""
    skip: int
    """Or skip this many matching entries (a page-number token)."""


def plan(query: ListQuery) -> Plan:
    """Check ``query`` (INVALID_ARGUMENT naming what is wrong) and read its token."""
    if query.page_size < 0:
        raise InvalidArgument(f"page_size is {query.page_size}; it must be 0 (default) or positive")
    if query.phase not in phases.NAMES:
        raise InvalidArgument(f"phase {query.phase} is not a defined ExecutionPhase value")
    check_tags(query.tags, "tags")
    check_optional_id(query.owner, "owner")
    size = min(query.page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    position = decode_token(query.page_token) if query.page_token else None
    after = position if isinstance(position, str) else None
    skip = (position - 1) * size if isinstance(position, int) else 0
    return Plan(size, after, skip)
