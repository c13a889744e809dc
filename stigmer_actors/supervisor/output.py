"""A runner process's stdout and stderr, read on one thread into the daemon's log.

Whatever the child writes, what the daemon holds is bounded: it reads 64 KiB at a time, a
line longer than ``MAX_LINE`` bytes is cut there (the rest, up to the next newline, is
skipped: a 50 MB line without a newline costs 4 KiB), and lines reach the log at most
``LINES_PER_SECOND`` per stream (bursts of ``BURST``) through the ``LogFeed``'s bounded
queue. Lines over those bounds are dropped and counted, and the log says how many. The
pipes are always drained, so a flooding child never blocks on a full pipe either.

The last lines of stderr (``TAIL_LINES`` / ``TAIL_BYTES``) are kept: they are what a
pending-timeout error quotes when the runner is down.
"""

from __future__ import annotations

import os
import selectors
import threading
import time
from collections import deque
from typing import IO

from stigmer_actors.supervisor.log_feed import LogFeed

READ_BYTES = 64 * 1024
MAX_LINE = 4096
"""Bytes of one line that reach the log; the rest of a longer line is skipped."""
LINES_PER_SECOND = 500
BURST = 1000
"""Lines per stream that may reach the log at once before the rate bound applies."""
TAIL_LINES = 20
TAIL_BYTES = 2048
NOTE_EVERY = 1.0
"""Seconds between two notes saying how many lines were dropped."""


class LineSplitter:
    """Bytes in, complete lines out (without the newline), none longer than ``max_line``."""

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self.max_line = max_line
        self._partial = bytearray()
        self._cut = False
        """The current line was cut: skip to its newline."""

    def feed(self, data: bytes) -> list[bytes]:
        lines: list[bytes] = []
        pieces = data.split(b"\n")
        for i, piece in enumerate(pieces):
            if not self._cut:
                room = self.max_line - len(self._partial)
                if len(piece) > room:
                    self._partial += piece[:room]
                    lines.append(bytes(self._partial) + b" [line cut at %d bytes]" % self.max_line)
                    self._partial.clear()
                    self._cut = True
                else:
                    self._partial += piece
            if i < len(pieces) - 1:  # a newline ends this piece
                if not self._cut:
                    lines.append(bytes(self._partial))
                self._partial.clear()
                self._cut = False
        return lines

    def end(self) -> list[bytes]:
        """At end of file: the last line if it had no newline."""
        rest = [] if self._cut or not self._partial else [bytes(self._partial)]
        self._partial.clear()
        self._cut = False
        return rest


class Tail:
    """The last ``lines`` lines, at most ``size`` characters in all (the newest kept)."""

    def __init__(self, lines: int = TAIL_LINES, size: int = TAIL_BYTES) -> None:
        self._lines: deque[str] = deque(maxlen=lines)
        self._size = size
        self._lock = threading.Lock()

    def add(self, line: str) -> None:
        with self._lock:
            self._lines.append(line)

    def lines(self) -> list[str]:
        with self._lock:
            kept: list[str] = []
            room = self._size
            for line in reversed(self._lines):
                if len(line) > room:
                    if not kept:  # one huge line: its end, which holds the error
                        kept.append("..." + line[-(room - 3):])
                    break
                kept.append(line)
                room -= len(line) + 1
            return kept[::-1]


class RateLimit:
    """A token bucket: ``rate`` per second, up to ``burst`` at once."""

    def __init__(self, rate: float = LINES_PER_SECOND, burst: int = BURST) -> None:
        self.rate, self.burst = rate, burst
        self._tokens = float(burst)
        self._at = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False


class OutputPump:
    """Reads one process's stdout and stderr until both close, on a thread of its own."""

    def __init__(self, runner: str, stdout: IO[bytes], stderr: IO[bytes], feed: LogFeed) -> None:
        self.runner = runner
        self.tail = Tail()
        """The process's last stderr lines."""
        self.dropped = 0
        """Lines not logged (over the rate, or the log's queue was full)."""
        self._feed = feed
        self._files = (stdout, stderr)
        self._streams = {stdout.fileno(): (LineSplitter(), RateLimit(), False),
                         stderr.fileno(): (LineSplitter(), RateLimit(), True)}
        self._noted = 0
        self._noted_at = 0.0
        self._thread = threading.Thread(target=self._run, name=f"runner-{runner}-output", daemon=True)

    def start(self) -> OutputPump:
        self._thread.start()
        return self

    def join(self, timeout: float) -> bool:
        """Wait until both pipes closed (every process holding them is gone); False on timeout."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        with selectors.DefaultSelector() as selector:
            for fd in self._streams:
                selector.register(fd, selectors.EVENT_READ)
            while selector.get_map():
                for key, _ in selector.select():
                    fd = key.fd
                    splitter, limit, is_stderr = self._streams[fd]
                    try:
                        data = os.read(fd, READ_BYTES)
                    except OSError:
                        data = b""
                    lines = splitter.feed(data) if data else splitter.end()
                    for line in lines:
                        self._line(line.decode("utf-8", "replace").rstrip("\r"), limit, is_stderr)
                    if not data:
                        selector.unregister(fd)
        for file in self._files:  # this thread owns the pipes: nobody reads them after it
            file.close()
        self._note_drops(force=True)

    def _line(self, text: str, limit: RateLimit, is_stderr: bool) -> None:
        if is_stderr:
            self.tail.add(text)
        if limit.take() and self._feed.offer(self.runner, text):
            self._note_drops()
        else:
            self.dropped += 1

    def _note_drops(self, force: bool = False) -> None:
        """Say in the log how many lines were dropped since the last note (once a second)."""
        unnoted = self.dropped - self._noted
        now = time.monotonic()
        if unnoted and (force or now - self._noted_at >= NOTE_EVERY):
            if self._feed.offer(self.runner, f"({unnoted:,} lines not logged: over "
                                             f"{LINES_PER_SECOND} lines/s, or the log fell behind)"):
                self._noted, self._noted_at = self.dropped, now
