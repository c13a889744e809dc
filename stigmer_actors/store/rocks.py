"""RocksDB through rocksdict: the only module that touches the database.

Writes are WriteBatches, so a record and its index keys land together or not at all.
Durability is chosen once at open: ``wal`` (the default) survives a process crash, since
RocksDB replays its write-ahead log on open; ``sync`` also fsyncs the log on every write
(~200-270 us instead of ~7 us here), which survives power loss. Under ``sync``, writes from
concurrent threads are grouped into one batch and one fsync (``group_commit.py``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Literal

from rocksdict import Options, ReadOptions, Rdict, WriteBatch, WriteOptions

from stigmer_actors.domain.errors import Unavailable
from stigmer_actors.store.group_commit import GroupCommit
from stigmer_actors.store.keys import record_key

Durability = Literal["wal", "sync"]
DURABILITIES: tuple[str, ...] = ("wal", "sync")
MEMTABLE_BYTES = 16 * 2**20


class RocksStore:
    """One RocksDB database in one data directory; safe to call from any thread."""

    def __init__(self, data_dir: str | Path, durability: Durability = "wal") -> None:
        if durability not in DURABILITIES:
            raise ValueError(f"durability must be one of {DURABILITIES}, not {durability!r}")
        self.path = Path(data_dir)
        self.path.mkdir(parents=True, exist_ok=True)
        options = Options(raw_mode=True)
        options.create_if_missing(True)
        # Memory bound: RocksDB keeps every write in a memtable until it flushes it. With
        # its default 64 MiB memtable a storm of 2 KB updates swung RSS 47 -> 110 MB and
        # back every ~35,000 updates; 16 MiB keeps the swing under ~20 MB, same speed.
        options.set_write_buffer_size(MEMTABLE_BYTES)
        options.set_max_write_buffer_number(2)
        self._db = Rdict(str(self.path / "executions.rocksdb"), options)
        self._write_options = WriteOptions()
        self._write_options.sync = durability == "sync"
        self.durability = durability
        self.group: GroupCommit[WriteBatch] | None = None
        """Under ``sync``: concurrent writes share one fsync (its counters say how well)."""
        if durability == "sync":
            self.group = GroupCommit(lambda: WriteBatch(raw_mode=True),
                                     lambda batch: self._write_batch(batch))
        self._closed = threading.Event()

    def load(self, execution_id: str) -> tuple[str, bytes] | None:
        """The stored (kind tag, serialized execution), or None when there is none."""
        self._check_open()
        value = self._db.get(record_key(execution_id))
        if value is None:
            return None
        return chr(value[0]), value[1:]

    def commit(
        self,
        execution_id: str,
        record: tuple[str, bytes] | None,
        remove: Iterable[bytes] = (),
        add: Iterable[bytes] = (),
    ) -> None:
        """Write a record (or delete it, when ``record`` is None) and index changes atomically."""
        self._check_open()

        def fill(batch: WriteBatch) -> None:
            key = record_key(execution_id)
            if record is None:
                batch.delete(key)
            else:
                tag, data = record
                batch.put(key, tag.encode() + data)
            for index_key in remove:
                batch.delete(index_key)
            for index_key in add:
                batch.put(index_key, b"")

        self._apply(fill)

    def get(self, key: bytes) -> bytes | None:
        """The raw value at ``key`` (for key spaces other than executions')."""
        self._check_open()
        return self._db.get(key)

    def write(self, puts: dict[bytes, bytes], deletes: Iterable[bytes] = ()) -> None:
        """Put and delete raw keys in one atomic batch."""
        self._check_open()

        def fill(batch: WriteBatch) -> None:
            for key, value in puts.items():
                batch.put(key, value)
            for key in deletes:
                batch.delete(key)

        self._apply(fill)

    def _apply(self, fill: Callable[[WriteBatch], None]) -> None:
        if self.group is not None:
            self.group.write(fill)
            return
        batch = WriteBatch(raw_mode=True)
        fill(batch)
        self._write_batch(batch)

    def _write_batch(self, batch: WriteBatch) -> None:
        self._db.write(batch, self._write_options)

    def contains(self, key: bytes) -> bool:
        self._check_open()
        return self._db.get(key) is not None

    def scan(self, prefix: bytes, start: bytes | None = None) -> Iterator[bytes]:
        """Keys under ``prefix`` in order, from ``start`` (inclusive) if given."""
        self._check_open()
        upper = prefix[:-1] + bytes([prefix[-1] + 1])
        read_options = ReadOptions()
        read_options.set_iterate_upper_bound(upper)
        yield from self._db.keys(from_key=start or prefix, read_opt=read_options)

    def _check_open(self) -> None:
        if self._closed.is_set():
            raise Unavailable("the store is closed")

    def close(self) -> None:
        """Flush memtables and the WAL to disk and release the database (idempotent)."""
        if self._closed.is_set():
            return
        self._closed.set()
        self._db.flush_wal(True)
        self._db.flush()
        self._db.close()
