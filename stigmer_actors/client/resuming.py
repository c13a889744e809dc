"""A watch that outlives the node serving it.

A subscribe stream ends without a terminal state in two cases: the execution was deleted,
or the daemon serving the stream stopped (a restart, a node of a cluster going away), and
it breaks with UNAVAILABLE when that daemon dies. ``ResumingWatch`` tells them apart by
asking for the execution: gone, the watch ends; still there, it subscribes again (through
any address the client has: another node of the cluster, or the same daemon once it is
back) and goes on after the last version it gave, skipping the ones it had. It tries for
``retry_for`` seconds without news, then raises the last error. ``cancel()`` ends it from
any thread, as for a plain grpc stream (the reader gets CANCELLED).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import grpc

from stigmer_actors.domain import phases
from stigmer_actors.wire import Execution

RETRY_FOR = 30.0
FIRST_PAUSE = 0.05
MAX_PAUSE = 1.0
_REOPEN = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}


class ResumingWatch(Iterator[Execution]):
    def __init__(self, subscribe: Callable[[], Any], still_there: Callable[[], bool],
                 retry_for: float = RETRY_FOR) -> None:
        self._subscribe = subscribe
        self._still_there = still_there
        self.retry_for = retry_for
        self._stream: Any = None
        self._last = 0
        self._done = False
        self._cancelled = threading.Event()
        self._lock = threading.Lock()
        self.resumed = 0
        """Times the watch subscribed again after its stream ended or broke."""

    def __iter__(self) -> ResumingWatch:
        return self

    def __next__(self) -> Execution:
        failing_since: float | None = None
        pause = FIRST_PAUSE
        while not self._done:
            try:
                stream = self._open()
                state = next(stream)
            except StopIteration:
                if self._cancelled.is_set() or not self._exists():
                    self._done = True
                    break  # deleted (or cancelled): the end; the stream's status stays readable
                self._drop()
                self.resumed += 1
                continue  # the daemon stopped serving the stream: subscribe again
            except grpc.RpcError as error:
                if self._cancelled.is_set() or error.code() not in _REOPEN:
                    raise
                failing_since = failing_since or _now()
                if _now() - failing_since > self.retry_for:
                    raise
                self._drop()
                if self._cancelled.wait(pause):
                    raise
                pause = min(pause * 2, MAX_PAUSE)
                self.resumed += 1
                continue
            failing_since, pause = None, FIRST_PAUSE
            version = state.status.version
            if version and version <= self._last:
                continue  # seen before the stream was opened again
            self._last = version
            if phases.is_terminal(state.status.phase):
                self._done = True  # the server ends the stream with OK after this one
            return state
        raise StopIteration

    def initial_metadata(self) -> Any:
        """The current stream's initial metadata (it arrives with the first state: waiting
        for it is waiting until the server has registered the watcher), as on a grpc stream."""
        return self._open().initial_metadata()

    def code(self) -> grpc.StatusCode | None:
        """The current (or last) stream's status code, as on a grpc stream."""
        with self._lock:
            stream = self._stream
        return stream.code() if stream is not None else None

    def details(self) -> str | None:
        with self._lock:
            stream = self._stream
        return stream.details() if stream is not None else None

    def cancel(self) -> None:
        self._cancelled.set()
        with self._lock:
            if self._stream is not None:
                self._stream.cancel()

    def _open(self) -> Any:
        with self._lock:
            if self._stream is None:
                self._stream = self._subscribe()
                if self._cancelled.is_set():
                    self._stream.cancel()
            return self._stream

    def _drop(self) -> None:
        with self._lock:
            stream, self._stream = self._stream, None
        if stream is not None:
            stream.cancel()

    def _exists(self) -> bool:
        deadline = _now() + self.retry_for
        pause = FIRST_PAUSE
        while True:
            try:
                return self._still_there()
            except grpc.RpcError as error:
                if error.code() not in _REOPEN or _now() > deadline or self._cancelled.wait(pause):
                    raise
                pause = min(pause * 2, MAX_PAUSE)


def _now() -> float:
    import time

    return time.monotonic()
