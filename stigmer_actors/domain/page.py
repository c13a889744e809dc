"""Page: one page of a listing, what ``Engine.list`` and ``StigmerClient.list`` return."""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.message import Message


@dataclass(frozen=True)
class Page:
    """One page of a listing: ``next_page_token`` is empty on the last page."""

    entries: list[Message]
    next_page_token: str
    total_pages: int
