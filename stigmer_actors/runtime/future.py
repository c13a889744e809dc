"""Reply: the future an ``ask`` waits on, woken by one lock release.

pykka's ``ThreadingFuture`` waits on a ``Condition`` (a lock, a waiter list and a second
lock per wait); a reply is set exactly once and read by the one caller that asked, so a
plain lock is enough: it is created held, ``set`` releases it, ``get`` acquires it (and
releases it again, so the value can be read any number of times, as pykka documents).
"""

from __future__ import annotations

import queue
import sys
import threading
from typing import Any, TypeVar

import pykka
from pykka._future import _Unset

T = TypeVar("T")
_UNSET = _Unset()


class Reply(pykka.Future[T]):
    __slots__ = ("_ready", "_value", "_exc_info")

    def __init__(self) -> None:
        # pykka.Future.__init__ allocates an _Unset per future; one shared marker does.
        self._get_hook = None
        self._get_hook_result = _UNSET
        self._ready = threading.Lock()
        self._ready.acquire()
        self._value: Any = _UNSET
        self._exc_info: Any = None

    def get(self, *, timeout: float | None = None) -> T:
        if self._get_hook is not None:
            return super().get(timeout=timeout)
        if self._value is _UNSET and self._exc_info is None:
            if not self._ready.acquire(timeout=-1 if timeout is None else max(timeout, 0.0)):
                raise pykka.Timeout(f"{timeout} seconds")
            self._ready.release()
        if self._exc_info is not None:
            _, error, traceback = self._exc_info
            raise error.with_traceback(traceback)
        return self._value  # type: ignore[no-any-return]

    def set(self, value: Any | None = None) -> None:
        if self._value is not _UNSET or self._exc_info is not None or self._get_hook is not None:
            raise queue.Full
        self._value = value
        self._ready.release()

    def set_exception(self, exc_info: Any = None) -> None:
        if self._value is not _UNSET or self._exc_info is not None or self._get_hook is not None:
            raise queue.Full
        exc_info = exc_info or sys.exc_info()
        error = exc_info[1] if exc_info[1] is not None else exc_info[0]()
        self._exc_info = (exc_info[0], error, exc_info[2])
        self._ready.release()

    def set_get_hook(self, func: Any) -> None:
        if self._value is not _UNSET or self._exc_info is not None:
            raise queue.Full
        self._get_hook = func
