"""The keys a running daemon accepts: its keys file, reloaded when it changes, and keys it
made for itself (its own workflow runner's), which exist in memory only.

A thread looks at the file's identity (inode, size, modification time) every
``RELOAD_POLL`` seconds and reads it again when that changed, so ``stigmer-actors keys
revoke`` takes effect within about a second, without a restart. A reload that finds bad
lines keeps the good ones (a revocation must not wait for a typo to be fixed) and logs
the bad ones; a file that cannot be read any more leaves no key from it (fail closed).
"""

from __future__ import annotations

import hmac
import os
import threading
from pathlib import Path

from loguru import logger

from stigmer_actors.security import keys
from stigmer_actors.security.keys import KeyEntry
from stigmer_actors.security.roles import Role

RELOAD_POLL = 1.0
"""Seconds between looks at the keys file."""


class KeyRing:
    """``identify(key)``: the entry of a key the daemon accepts, else None."""

    def __init__(self, path: Path | None, poll: float = RELOAD_POLL) -> None:
        self.path = path
        self._poll = poll
        self._internal: dict[bytes, KeyEntry] = {}
        self._from_file: dict[bytes, KeyEntry] = {}
        self._keys: dict[bytes, KeyEntry] = {}
        """digest -> entry: file and internal keys together, replaced whole on a change (a
        reader never sees half of a reload)."""
        self._seen: tuple[int, int, int] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if path is not None:
            self._seen = _identity(path)
            self._from_file = {e.digest: e for e in keys.read(path)}  # SecurityFileError at start
        self._publish()

    @property
    def file_keys(self) -> int:
        """How many keys the file gives now."""
        return len(self._from_file)

    def identify(self, key: str) -> KeyEntry | None:
        """The entry for ``key``, or None.

        Found by the SHA-256 of the key, then the stored digest compared in constant time.
        The lookup's timing depends on the presented key's digest only, which tells a
        caller nothing about any stored key (finding a key from its digest is a preimage)."""
        presented = keys.digest(key)
        entry = self._keys.get(presented)
        if entry is None or not hmac.compare_digest(entry.digest, presented):
            return None
        return entry

    def add_internal(self, name: str, role: Role) -> str:
        """A new key, accepted until this process ends; it is written nowhere."""
        key = keys.new_key()
        entry = KeyEntry(name, role, keys.digest(key))
        self._internal[entry.digest] = entry
        self._publish()
        return key

    def start(self) -> KeyRing:
        if self.path is not None and self._thread is None:
            self._thread = threading.Thread(target=self._watch, name="api-keys", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def reload_if_changed(self) -> bool:
        """Read the file again if it changed since last time; whether it had."""
        assert self.path is not None
        seen = _identity(self.path)
        if seen == self._seen:
            return False
        self._seen = seen
        try:
            entries, problems = keys.parse(self.path.read_text())
        except (OSError, UnicodeDecodeError) as error:
            logger.error("API keys file {path} cannot be read ({error}): no key from it is "
                         "accepted until it can", path=self.path, error=error)
            entries, problems = [], []
        for problem in problems:
            logger.error("API keys file {path}: {problem} (line ignored)", path=self.path, problem=problem)
        self._from_file = {e.digest: e for e in entries}
        self._publish()
        logger.info("API keys reloaded from {path}: {count} keys", path=self.path, count=len(entries))
        return True

    def _publish(self) -> None:
        self._keys = {**self._from_file, **self._internal}

    def _watch(self) -> None:
        while not self._stop.wait(self._poll):
            try:
                self.reload_if_changed()
            except Exception:  # the watcher must outlive one bad look
                logger.opt(exception=True).error("API keys file {path}: reload failed", path=self.path)


def _identity(path: Path) -> tuple[int, int, int] | None:
    """What changes when the file is rewritten or replaced (None: it is gone)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns
