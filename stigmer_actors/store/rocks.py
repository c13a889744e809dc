"""RocksDB through rocksdict: the only module that touches the database.

Writes are WriteBatches, so a record and its index keys land together or not at all.
Durability is chosen once at open: ``wal`` (the default) survives a process crash, since
RocksDB replays its write-ahead log on open; ``sync`` also fsyncs the log on every write
(~200-270 us instead of ~7 us here), which survives power loss. Under ``sync``, writes from
concurrent threads are grouped into one batch and one fsync (``group_commit.py``).

A failed write (out of file descriptors, directory not writable, disk full) leaves RocksDB
refusing every later write, even once the cause is gone. So the store marks itself failed
(``health``), refuses writes at once with UNAVAILABLE naming the cause, and a background
retry (``store/health.py``) probes until a write succeeds again: first on the open
database, then, once the directory takes new files again, by reopening it. Reopening keeps
every acknowledged write: each one reached the write-ahead log, which RocksDB replays on
open. Reads keep being served from the open database meanwhile. Calls pass a gate
(``store/gate.py``) that a reopen or close takes alone, so no call is ever inside a handle
being closed, and scans read in chunks, so no iterator outlives its call.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Literal, cast

from loguru import logger
from rocksdict import Options, Rdict, ReadOptions, WriteBatch, WriteOptions

from stigmer_actors.domain.errors import Unavailable
from stigmer_actors.domain.kinds import Kind
from stigmer_actors.domain.sizes import MAX_STATE_BYTES
from stigmer_actors.store.base import Write
from stigmer_actors.store.gate import Gate
from stigmer_actors.store.group_commit import GroupCommit
from stigmer_actors.store.health import StoreHealth
from stigmer_actors.store.keys import id_of_index_key, index_keys, index_prefix, phase_value, record_key
from stigmer_actors.store.listing import ListQuery, Page
from stigmer_actors.store.open_errors import classify
from stigmer_actors.store.rocks_listing import list_page, matching_ids

Durability = Literal["wal", "sync"]
DURABILITIES: tuple[str, ...] = ("wal", "sync")
MEMTABLE_BYTES = 16 * 2**20
MAX_TABLE_FILES = 256
"""SST files RocksDB keeps open at once (its default is all of them): its share of the
process's file descriptors is bounded, whatever the data size."""
INFO_LOG_BYTES = 1 * 2**20
INFO_LOGS_KEPT = 3
"""RocksDB's own info ``LOG`` rolls at 1 MiB and 3 old ones are kept (its defaults: never
rolled by size, 1,000 kept), so it takes at most ~4 MiB of the data directory."""
SCAN_CHUNK = 1024
"""Keys a scan reads per pass through the gate."""
PROBE_KEY = b"\x00store-probe"
"""Written by the recovery probe; sorts before every key space (``store/keys.py``)."""
_PROBE_FILE = ".write-probe"
_PROBE_FDS = 8
"""File descriptors the directory probe holds at once: a reopen needs a handful (lock,
manifest, log files, tables), so one free descriptor is not enough reason to try."""


def rocks_options() -> Options:
    """How every store opens its database."""
    options = Options(raw_mode=True)
    options.create_if_missing(True)
    # Memory bound: RocksDB keeps every write in a memtable until it flushes it. With
    # its default 64 MiB memtable a storm of 2 KB updates swung RSS 47 -> 110 MB and
    # back every ~35,000 updates; 16 MiB keeps the swing under ~20 MB, same speed.
    options.set_write_buffer_size(MEMTABLE_BYTES)
    options.set_max_write_buffer_number(2)
    options.set_max_open_files(MAX_TABLE_FILES)
    options.set_max_log_file_size(INFO_LOG_BYTES)
    options.set_keep_log_file_num(INFO_LOGS_KEPT)
    return options


class RocksStore:
    """One RocksDB database in one data directory; safe to call from any thread. A
    ``store.base.Store`` of one process (``shared`` False: nobody else writes it).

    Opening raises ``StoreOpenError`` (``store/open_errors.py``) saying what is wrong.
    """

    def __init__(self, data_dir: str | Path, durability: Durability = "wal") -> None:
        if durability not in DURABILITIES:
            raise ValueError(f"durability must be one of {DURABILITIES}, not {durability!r}")
        self.path = Path(data_dir)
        self.db_path = self.path / "executions.rocksdb"
        self._options = rocks_options()
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            self._db: Rdict | None = Rdict(str(self.db_path), self._options)
        except Exception as error:
            raise classify(self.path, self.db_path / "LOCK", error) from None
        self._write_options = WriteOptions()
        self._write_options.sync = durability == "sync"
        self.durability: str = durability
        self.shared = False
        self.group: GroupCommit[WriteBatch] | None = None
        """Under ``sync``: concurrent writes share one fsync (its counters say how well)."""
        if durability == "sync":
            self.group = GroupCommit(lambda: WriteBatch(raw_mode=True), lambda b: self._write(b))
        self._gate = Gate()
        self._leases: dict[str, tuple[str, float]] = {}
        self._leases_lock = threading.Lock()
        self._closed = False
        self.health = StoreHealth(self._restore)
        """Whether writes succeed now; add listeners with ``health.listen``."""

    def load(self, execution_id: str) -> tuple[str, bytes] | None:
        """The stored (kind tag, serialized execution), or None when there is none."""
        value = self.get(record_key(execution_id))
        if value is None:
            return None
        return chr(value[0]), value[1:]

    def commit(self, write: Write) -> None:
        """Write a record (or delete it) and its index changes in one batch. One process
        owns the database, so ``write.expected`` needs no check here."""
        key = record_key(write.execution_id)
        old = index_keys(write.kind, write.execution_id, write.old_terms) if write.old_terms else frozenset()
        new = index_keys(write.kind, write.execution_id, write.terms) if write.terms else frozenset()
        if write.data is None:
            new = frozenset()
        record = None if write.data is None else write.kind.tag.encode() + write.data

        def fill(batch: WriteBatch) -> None:
            if record is None:
                batch.delete(key)
            else:
                batch.put(key, record)
            for index_key in old - new:
                batch.delete(index_key)
            for index_key in new - old:
                batch.put(index_key, b"")

        self._apply(fill)

    def list(self, query: ListQuery, max_bytes: int = MAX_STATE_BYTES) -> Page:
        return list_page(self, query, max_bytes)

    def ids(self, query: ListQuery) -> Iterator[str]:
        return matching_ids(self, query)

    def exclusive(self, name: str) -> contextlib.AbstractContextManager[None]:
        """One holder at a time of ``name``: one process owns the database, whose callers
        serialize themselves (``runner/definitions.py`` holds its own lock)."""
        return contextlib.nullcontext()

    def acquire_lease(self, name: str, owner: str, seconds: float) -> bool:
        """Leases of one process (nobody else opens its database): kept in memory."""
        now = time.monotonic()
        with self._leases_lock:
            holder = self._leases.get(name)
            if holder is not None and holder[0] != owner and holder[1] > now:
                return False
            self._leases[name] = (owner, now + seconds)
            return True

    def release_lease(self, name: str, owner: str) -> None:
        with self._leases_lock:
            if self._leases.get(name, (None, 0.0))[0] == owner:
                del self._leases[name]

    def unfinished(self, kind: Kind, phase: int) -> Iterator[str]:
        for key in self.scan(index_prefix(kind, "phase", phase_value(phase))):
            yield id_of_index_key(key)

    def get(self, key: bytes) -> bytes | None:
        """The raw value at ``key`` (for key spaces other than executions')."""
        with self._gate:
            db = self._open_db()
            try:
                return db.get(key)
            except Exception as error:
                raise Unavailable(f"could not read from the store: {error}") from None

    def write(self, puts: dict[bytes, bytes], deletes: Iterable[bytes] = ()) -> None:
        """Put and delete raw keys in one atomic batch."""

        def fill(batch: WriteBatch) -> None:
            for key, value in puts.items():
                batch.put(key, value)
            for key in deletes:
                batch.delete(key)

        self._apply(fill)

    def contains(self, key: bytes) -> bool:
        return self.get(key) is not None

    def scan(self, prefix: bytes, start: bytes | None = None) -> Iterator[bytes]:
        """Keys under ``prefix`` in order, from ``start`` (inclusive) if given."""
        read_options = ReadOptions()
        read_options.set_iterate_upper_bound(prefix[:-1] + bytes([prefix[-1] + 1]))
        position = start or prefix
        while True:
            with self._gate:
                db = self._open_db()
                try:
                    keys = cast("list[bytes]",  # raw mode: keys are bytes
                                list(islice(db.keys(from_key=position, read_opt=read_options), SCAN_CHUNK)))
                except Exception as error:
                    raise Unavailable(f"could not read from the store: {error}") from None
            yield from keys
            if len(keys) < SCAN_CHUNK:
                return
            position = keys[-1] + b"\x00"

    def close(self) -> None:
        """Flush memtables and the WAL to disk and release the database (idempotent).

        Never raises: a store that cannot flush (its disk is failing) still closes, and the
        write-ahead log it holds replays every acknowledged write at the next open.
        """
        self.health.stop()
        with self._gate.exclusive():
            db, self._db = self._db, None
            self._closed = True
            if db is None:
                return
            try:
                db.close()
            except Exception as error:
                logger.warning("store closed without its final flush ({error}); its write-ahead "
                               "log replays every acknowledged write at the next open", error=error)

    def _apply(self, fill: Callable[[WriteBatch], None]) -> None:
        """One batch of ``fill``'s changes, alone, or grouped with others' under ``sync``."""
        if self.group is not None:
            self.group.write(fill)
            return
        batch = WriteBatch(raw_mode=True)
        fill(batch)
        self._write(batch)

    def _write(self, batch: WriteBatch) -> None:
        with self._gate:
            db = self._open_db()
            cause = self.health.cause
            if cause is None:  # else refused at once: RocksDB would refuse it too
                try:
                    db.write(batch, self._write_options)
                    return
                except Exception as error:
                    cause = str(error)
                    self.health.failed(cause)
        raise Unavailable(f"the store cannot write now ({cause}); nothing was changed, and the "
                          "server retries by itself: try again shortly")

    def _open_db(self) -> Rdict:
        """The open database, or UNAVAILABLE saying why there is none (call inside the gate)."""
        if self._db is not None:
            return self._db
        if self._closed:
            raise Unavailable("the store is closed")
        raise Unavailable(f"the store is being reopened after a write failure ({self.health.cause})")

    def _restore(self) -> bool:
        """One recovery attempt (``health``'s retry calls it): True when a write succeeds."""
        if self._probe_write():
            return True  # RocksDB recovered by itself (it does after a full disk)
        if not _takes_new_files(self.db_path):
            return False  # the cause persists: reopening now would only lose the open database
        self._reopen()
        return self._probe_write()

    def _probe_write(self) -> bool:
        batch = WriteBatch(raw_mode=True)
        batch.put(PROBE_KEY, b"")
        with self._gate:
            if self._db is None:
                return False
            try:
                self._db.write(batch, self._write_options)
                return True
            except Exception:
                return False

    def _reopen(self) -> None:
        started = time.monotonic()
        with self._gate.exclusive():
            if self._closed:
                return
            db, self._db = self._db, None
            if db is not None:
                try:
                    db.close()
                except Exception as error:
                    logger.debug("closing the failed database: {error}", error=error)
            try:
                self._db = Rdict(str(self.db_path), self._options)
            except Exception as error:
                logger.warning("store reopen failed ({error}); reads and writes are refused until "
                               "the next attempt", error=error)
                return
        logger.info("store reopened after a write failure in {seconds:.2f} s",
                    seconds=time.monotonic() - started)


def _takes_new_files(directory: Path) -> bool:
    """Whether ``directory`` lets this process create, fill and sync a new file now, with
    descriptors to spare: what a reopen needs, tried without touching the database."""
    path = directory / _PROBE_FILE
    fds: list[int] = []
    try:
        fds.append(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600))
        os.write(fds[0], b"\0" * 4096)
        os.fsync(fds[0])
        fds += [os.dup(fds[0]) for _ in range(_PROBE_FDS - 1)]
        return True
    except OSError:
        return False
    finally:
        for fd in fds:
            os.close(fd)
        try:
            os.unlink(path)
        except OSError:
            pass
