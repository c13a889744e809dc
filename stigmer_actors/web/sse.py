"""Server-Sent Events: the live part of the pages, fed in process by the engine.

Two streams:

- ``list_events``: a list-watch (``Core.watch_executions``) for the list page's filter,
  from the resume token the page was rendered with (or the browser's ``Last-Event-ID``
  when it reconnects by itself), so nothing falls between the page and its stream. Each
  change is an ``execution`` event (the row's HTML and its fields), each event id its
  resume token; ``counts`` events carry the counts by phase (at most one a second); a
  token the engine no longer has gives one ``reset`` event (the page reloads).
- ``state_events``: one execution's ``state`` events, its page's live part rendered as
  HTML, from a channel all its tabs share (``broadcast.py``: one subscription and one
  render per state sent, at most 10 a second, whatever the number of tabs); a tab whose
  connection is slower gets the newest frame when it is ready, and the writer never waits
  for a tab.

Every connection holds one of ``MAX_STREAMS`` slots (``Slots``) and a server thread; one
more is refused with 503 at once. A comment line after ``HEARTBEAT`` seconds of quiet finds
connections whose tab has gone (a write fails and the slot is freed); on the list stream
that line is a BOOKMARK event every ``LIST_HEARTBEAT``, whose id keeps the browser's resume
token fresh.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from loguru import logger

from stigmer_actors.core import Core
from stigmer_actors.domain.errors import EngineError, OutOfRange
from stigmer_actors.feed import BOOKMARK, ExecutionFilter
from stigmer_actors.web.broadcast import Broadcasts, frame

MAX_STREAMS = 200
"""Open SSE connections at once (each holds a server thread)."""
HEARTBEAT = 5.0
"""Seconds of quiet after which an execution's stream writes a comment line: a tab that has
gone is noticed at the second write after it left (the first only draws the peer's reset)."""
LIST_HEARTBEAT = 1.0
"""The list stream's quiet BOOKMARK: also when counts held back by the 1 s pace are sent."""


class Slots:
    """The bound on open SSE connections, and the open ones (closed at shutdown)."""

    def __init__(self, limit: int = MAX_STREAMS) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._open: set[Callable[[], None]] = set()
        self._taken = 0
        self._closing = False
        self.refused = 0

    def take(self) -> bool:
        with self._lock:
            if self._closing or self._taken >= self.limit:
                self.refused += 1
                return False
            self._taken += 1
            return True

    def attach(self, close: Callable[[], None]) -> bool:
        with self._lock:
            if self._closing:
                return False
            self._open.add(close)
            return True

    def release(self, close: Callable[[], None] | None) -> None:
        with self._lock:
            self._taken -= 1
            self._open.discard(close)

    @property
    def count(self) -> int:
        return self._taken

    def close_all(self) -> None:
        with self._lock:
            self._closing = True
            closers = list(self._open)
        for close in closers:
            close()


PING = b": ping\n\n"


def list_events(core: Core, slots: Slots, query: ExecutionFilter, since: str,
                row: Callable[[Any], dict[str, Any]], counts: Callable[[ExecutionFilter], dict[int, int]]
                ) -> Iterator[bytes]:
    """The list page's stream (the slot is taken by the caller and released here)."""
    watch = None
    try:
        try:
            watch = core.watch_executions(query, since, heartbeat=LIST_HEARTBEAT)
        except OutOfRange as error:
            yield frame(json.dumps({"reason": error.message}), "reset")
            return
        if not slots.attach(watch.close):
            return
        yield b"retry: 2000\n\n"
        counted_at = 0.0
        dirty = True
        for event in watch:
            if event.type != BOOKMARK:
                yield frame(json.dumps(row(event)), "execution", event.token)
                dirty = True
            else:  # also every HEARTBEAT seconds of quiet: finds a tab that has gone
                yield frame("{}", "bookmark", event.token)
            now = time.monotonic()
            if dirty and now - counted_at >= 1.0:
                yield frame(json.dumps({str(k): v for k, v in counts(query).items()}), "counts")
                counted_at, dirty = now, False
    except EngineError as error:  # the watch overflowed (ABORTED): the browser resumes by itself
        logger.debug("list stream ended: {error}", error=error.message)
    finally:
        if watch is not None:
            watch.close()
        slots.release(watch.close if watch is not None else None)


def state_events(broadcasts: Broadcasts, slots: Slots, execution_id: str) -> Iterator[bytes]:
    """One execution's stream for one tab: the shared channel's frames (its live part as
    HTML), as fast as this connection takes them; ends after a terminal state or a delete.
    The slot is taken by the caller and released here."""
    channel = None
    try:
        try:
            channel = broadcasts.join(execution_id)
        except EngineError as error:
            yield frame(json.dumps({"reason": error.message}), "gone")
            return
        if not slots.attach(channel.close):
            return
        yield b"retry: 2000\n\n"
        sent = 0
        while True:
            got = channel.wait(sent, HEARTBEAT)
            if got is None:
                yield PING
                continue
            data, sent, ended = got
            if data:
                yield data
            if ended:
                return
    finally:
        if channel is not None:
            broadcasts.leave(channel)
        slots.release(channel.close if channel is not None else None)
