"""Whether the store takes writes, who is told when that changes, and the retry that brings
writes back after a passing fault.

A RocksDB write can fail for a reason that goes away: the process ran out of file
descriptors, the data directory was briefly not writable, the disk filled up. RocksDB then
refuses every later write until the database is resumed or reopened, which rocksdict can
only do by reopening. So the first failed write marks the store failed (``failed``); from
then on writes are refused at once with the cause, and one background thread calls
``attempt`` with a growing pause (``FIRST_RETRY`` doubling up to ``MAX_RETRY``) until it
reports that a write succeeds again. Listeners (the gRPC health service) hear each change.
The thread exists only while the store is failed; an exception in one attempt is logged,
counted and the next attempt made, so the retry can never die of one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from loguru import logger

FIRST_RETRY = 0.05
MAX_RETRY = 0.5
"""Seconds between attempts at most: the cause is usually gone within seconds, an attempt
while it persists costs one refused write and one failed file creation."""

Listener = Callable[[str | None], None]
"""Called with the cause when writes start failing, with None when they succeed again."""


class StoreHealth:
    def __init__(self, attempt: Callable[[], bool]) -> None:
        self._attempt = attempt
        self._lock = threading.Lock()
        self._telling = threading.Lock()
        self._listeners: list[Listener] = []
        self._retrier: threading.Thread | None = None
        self._stopping = threading.Event()
        self.cause: str | None = None
        """Why writes fail now; None while they succeed."""
        self.failed_at = 0.0
        self.failures = 0
        """Times the store went from writable to failing."""
        self.attempt_errors = 0
        """Recovery attempts that raised (logged, then retried)."""
        self.last_recovery_seconds: float | None = None
        """From the first failed write to the first successful one, the last time."""

    def listen(self, listener: Listener) -> None:
        """Add a listener; it is told the current state at once if writes are failing."""
        with self._telling:
            self._listeners.append(listener)
            if self.cause is not None:
                self._call(listener, self.cause)

    def failed(self, cause: str) -> None:
        """A write failed with ``cause``: refuse writes and start retrying (once per outage)."""
        with self._lock:
            if self.cause is not None or self._stopping.is_set():
                return
            self.cause = cause
            self.failed_at = time.monotonic()
            self.failures += 1
            self._retrier = threading.Thread(target=self._retry, name="store-recovery", daemon=True)
            self._retrier.start()
        logger.error("store cannot write: {cause}; writes are refused with UNAVAILABLE while "
                     "the store retries", cause=cause)
        self._tell()

    def stop(self) -> None:
        """End the retry thread (the store is closing); listeners hear nothing more."""
        self._stopping.set()
        with self._lock:
            retrier = self._retrier
        if retrier is not None:
            retrier.join()

    def _retry(self) -> None:
        delay = FIRST_RETRY
        while not self._stopping.wait(delay):
            try:
                if self._attempt():
                    break
            except Exception:
                self.attempt_errors += 1
                logger.opt(exception=True).error("store recovery attempt failed; retrying")
            delay = min(delay * 2, MAX_RETRY)
        else:
            return
        with self._lock:
            self.last_recovery_seconds = time.monotonic() - self.failed_at
            self.cause = None
            self._retrier = None
        logger.info("store takes writes again, {seconds:.2f} s after the first failed write",
                    seconds=self.last_recovery_seconds)
        self._tell()

    def _tell(self) -> None:
        # Under one lock, with the state read inside it: when a failure and a recovery race,
        # the last call every listener gets is the current state.
        with self._telling:
            cause = self.cause
            for listener in self._listeners:
                self._call(listener, cause)

    @staticmethod
    def _call(listener: Listener, cause: str | None) -> None:
        try:
            listener(cause)
        except Exception:
            logger.opt(exception=True).error("store health listener failed")
