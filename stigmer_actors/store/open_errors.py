"""Why a data directory could not be opened, in classes a person can act on.

RocksDB reports every open failure as one exception whose text says what went wrong; the
daemon needs to say which of a few things happened (another process holds the directory,
the store is damaged, the directory cannot be written, something else) and, for the lock,
which process holds it. That reading of RocksDB's texts lives here, next to the store.
"""

from __future__ import annotations

import os
from enum import Enum
from pathlib import Path


class OpenProblem(Enum):
    IN_USE = "in use"
    DAMAGED = "damaged"
    NOT_WRITABLE = "not writable"
    OTHER = "other"


class StoreOpenError(Exception):
    """The store in ``path`` could not be opened; ``problem`` says which sort of failure."""

    def __init__(self, problem: OpenProblem, path: Path, detail: str, holder: int | None = None) -> None:
        super().__init__(f"{path}: {detail}")
        self.problem = problem
        self.path = path
        self.detail = detail
        self.holder = holder
        """The pid holding the directory's lock (IN_USE), when it can be found."""


_NOT_WRITABLE = ("Permission denied", "Operation not permitted", "Read-only file system",
                 "Not a directory", "No space left on device", "File exists")


def classify(path: Path, lock_file: Path, error: BaseException) -> StoreOpenError:
    """The StoreOpenError for ``error``, raised while creating ``path`` or opening RocksDB."""
    detail = str(error) or type(error).__name__
    if isinstance(error, OSError):
        return StoreOpenError(OpenProblem.NOT_WRITABLE, path, detail)
    if "LOCK" in detail and ("lock hold by current process" in detail or "While lock file" in detail):
        return StoreOpenError(OpenProblem.IN_USE, path, detail, lock_holder(lock_file))
    if detail.startswith("Corruption") or "MANIFEST" in detail or "CURRENT" in detail:
        return StoreOpenError(OpenProblem.DAMAGED, path, detail)
    if any(reason in detail for reason in _NOT_WRITABLE):
        return StoreOpenError(OpenProblem.NOT_WRITABLE, path, detail)
    return StoreOpenError(OpenProblem.OTHER, path, detail)


def lock_holder(lock_file: Path) -> int | None:
    """The pid holding a POSIX lock on ``lock_file`` (RocksDB's LOCK), from /proc/locks.

    /proc/locks lists every lock as ``... POSIX ADVISORY WRITE <pid> <maj>:<min>:<inode> ...``
    with pids as this process sees them, so one read finds the holder without opening the
    file (opening and closing it would drop any lock this process holds on it).
    """
    try:
        st = os.stat(lock_file)
        with open("/proc/locks") as locks:
            lines = locks.read().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if "->" in fields:  # a waiter, not a holder
            continue
        if len(fields) < 6 or fields[1] != "POSIX":
            continue
        try:
            major, minor, inode = fields[5].split(":")
            if int(inode) == st.st_ino and (int(major, 16), int(minor, 16)) == (
                os.major(st.st_dev), os.minor(st.st_dev)
            ):
                return int(fields[4])
        except ValueError:
            continue
    return None


def command_line(pid: int) -> str:
    """What ``pid`` is running, for a message ("" if it cannot be read)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    text = " ".join(part.decode(errors="replace") for part in raw.split(b"\0") if part)
    return text if len(text) <= 160 else text[:157] + "..."
