"""The data directory grows with the data, not with time or restarts: RocksDB's own info
LOG is rolled and few old ones are kept (``bench/disk.py`` measures the whole directory
against live data over a soak)."""

from __future__ import annotations

from pathlib import Path

from stigmer_actors.store.rocks import INFO_LOGS_KEPT, RocksStore


def test_info_log_files_stay_bounded_across_restarts(data_dir: Path) -> None:
    for i in range(10):  # each open starts a new LOG and keeps the last one as LOG.old.*
        store = RocksStore(data_dir)
        store.write({f"k{i}".encode(): b"v"})
        store.close()
    logs = sorted(p.name for p in (data_dir / "executions.rocksdb").glob("LOG*"))
    assert "LOG" in logs
    assert len(logs) <= 1 + INFO_LOGS_KEPT == 4, logs  # RocksDB's default keeps 1,000
    store = RocksStore(data_dir)
    try:
        assert [store.get(f"k{i}".encode()) for i in range(10)] == [b"v"] * 10
    finally:
        store.close()
