"""Disk use against live data: does the data directory grow with the data, or with the writes?

    python -m bench.disk [--quick] [--seconds 120]

An embedded Engine (``wal`` durability) holds E executions and takes updateStatus
round-robin over them from two threads, as fast as it goes, for D seconds, closed and
reopened R times on the way (each open starts a new RocksDB info ``LOG``, and old ones
are where files pile up). Every second it records the data directory's size by part
(SST tables, write-ahead logs, RocksDB's info ``LOG`` files, the rest: MANIFEST, OPTIONS,
CURRENT...) and the live data (every stored key and value, read back from the store).

Two systems side by side in the same run: ``bounded``, the store as shipped (info LOG
rolled at 1 MiB, 3 old ones kept), and ``rocksdb-defaults``, the same with RocksDB's
defaults for the info LOG (never rolled by size, 1,000 kept), which the store used before.
Reported per system: updates, bytes written, live data, data directory at the end and at
its largest, info LOG bytes and files, and the directory's size over the live data.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.common import PAYLOAD, RESULTS
from stigmer_actors import Engine, wire
from stigmer_actors.store import rocks

SYSTEMS = ("bounded", "rocksdb-defaults")
THREADS = 2


@dataclass(frozen=True)
class Config:
    executions: int
    seconds: float
    restarts: int


FULL = Config(executions=1000, seconds=150.0, restarts=9)
QUICK = Config(executions=50, seconds=3.0, restarts=1)


def parts(rocks_dir: Path) -> dict[str, int]:
    """Bytes of the RocksDB directory by part, and the count of info LOG files."""
    sizes = {"sst": 0, "wal": 0, "info_log": 0, "other": 0, "info_log_files": 0}
    for entry in os.scandir(rocks_dir):
        try:
            size = entry.stat().st_size
        except FileNotFoundError:
            continue  # deleted by RocksDB while we looked
        name = entry.name
        if name.endswith(".sst"):
            sizes["sst"] += size
        elif name.endswith(".log"):
            sizes["wal"] += size
        elif name.startswith("LOG"):
            sizes["info_log"] += size
            sizes["info_log_files"] += 1
        else:
            sizes["other"] += size
    return sizes


def live_bytes(engine: Engine) -> int:
    """Every stored record's key and value, and every index key."""
    store = engine.store
    total = 0
    for key in store.scan(b"r\x00"):
        total += len(key) + len(store.get(key) or b"")
    for key in store.scan(b"i\x00"):
        total += len(key)
    return total


@contextmanager
def info_log_settings(system: str):
    """``rocksdb-defaults``: RocksDB's own info LOG defaults (0 = never roll by size)."""
    saved = rocks.INFO_LOG_BYTES, rocks.INFO_LOGS_KEPT
    if system == "rocksdb-defaults":
        rocks.INFO_LOG_BYTES, rocks.INFO_LOGS_KEPT = 0, 1000
    try:
        yield
    finally:
        rocks.INFO_LOG_BYTES, rocks.INFO_LOGS_KEPT = saved


def soak(system: str, config: Config, data_dir: Path) -> dict:
    samples: list[dict] = []
    updates = [0] * THREADS
    segment = config.seconds / (config.restarts + 1)
    t0 = time.perf_counter()
    with info_log_settings(system):
        ids: list[str] = []
        for restart in range(config.restarts + 1):
            engine = Engine(data_dir, idle_timeout=300, pending_timeout=0, heartbeat_timeout=0)
            if not ids:
                ids = [engine.create(wire.AgentExecution(spec={"message": "m", "session_id": "s"})).metadata.id
                       for _ in range(config.executions)]
            stop = threading.Event()

            def work(n: int) -> None:  # its threads are joined within this restart
                i = n
                while not stop.is_set():  # noqa: B023
                    engine.update_status(ids[i % len(ids)],  # noqa: B023
                                         wire.AgentExecutionStatus(error=str(i), started_at=PAYLOAD))
                    updates[n] += 1
                    i += THREADS

            workers = [threading.Thread(target=work, args=(n,)) for n in range(THREADS)]
            for w in workers:
                w.start()
            end = time.perf_counter() + segment
            while (now := time.perf_counter()) < end:
                time.sleep(min(1.0, end - now))  # the sampling period
                sample = parts(data_dir / "executions.rocksdb")
                sample.update(t=round(time.perf_counter() - t0, 2), updates=sum(updates),
                              live=live_bytes(engine), restart=restart)
                samples.append(sample)
            stop.set()
            for w in workers:
                w.join()
            engine.close()
        engine = Engine(data_dir, idle_timeout=300, pending_timeout=0, heartbeat_timeout=0)
        try:  # the end state, after the last close and open
            written = sum(updates) * len(engine.get(ids[0]).SerializeToString())
            final = parts(data_dir / "executions.rocksdb")
            final.update(live=live_bytes(engine))
        finally:
            engine.close()
    total = lambda s: s["sst"] + s["wal"] + s["info_log"] + s["other"]  # noqa: E731
    return {
        "samples": samples,
        "row": {
            "system": system,
            "updates": sum(updates),
            "updates_per_s": round(sum(updates) / (config.seconds or 1), 1),
            "written_mb": round(written / 1e6, 1),
            "live_mb": round(final["live"] / 1e6, 3),
            "dir_mb": round(total(final) / 1e6, 3),
            "dir_max_mb": round(max(total(s) for s in samples) / 1e6, 3) if samples else 0.0,
            "info_log_mb": round(final["info_log"] / 1e6, 3),
            "info_log_files": final["info_log_files"],
            "info_log_bytes_per_update": round(final["info_log"] / max(sum(updates), 1), 2),
            "dir_over_live": round(total(final) / max(final["live"], 1), 2),
        },
    }


def run(quick: bool, seconds: float | None = None) -> dict:
    config = QUICK if quick else FULL
    if seconds is not None:
        config = Config(config.executions, seconds, config.restarts)
    result: dict = {"config": asdict(config), "samples": {}, "table": []}
    for system in SYSTEMS:
        with tempfile.TemporaryDirectory() as tmp:
            out = soak(system, config, Path(tmp))
        result["samples"][system] = out["samples"]
        result["table"].append(out["row"])
    return result


def plot(result: dict, path: Path) -> None:
    """Per system: the data directory by part over time, with the live data as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(SYSTEMS), figsize=(13, 4.8), sharey=True)
    for ax, system in zip(axes, SYSTEMS):
        samples = result["samples"][system]
        t = [s["t"] for s in samples]
        stack = [[s[part] / 1e6 for s in samples] for part in ("sst", "wal", "info_log", "other")]
        ax.stackplot(t, stack, labels=["SST tables", "write-ahead log", "info LOG", "other"], alpha=0.8)
        ax.plot(t, [s["live"] / 1e6 for s in samples], color="black", label="live data")
        for i in range(1, len(samples)):
            if samples[i]["restart"] != samples[i - 1]["restart"]:
                ax.axvline(samples[i]["t"], color="grey", linestyle=":")
        row = next(r for r in result["table"] if r["system"] == system)
        ax.set_title(f"{system}: {row['updates']:,} updates, info LOG {row['info_log_mb']} MB "
                     f"in {row['info_log_files']} files", fontsize=9)
        ax.set_xlabel("seconds (dotted: restart)")
        ax.set_ylabel("MB")
        ax.legend(fontsize=8, loc="upper left")
    fig.suptitle("Data directory by part against live data, while updating as fast as it goes")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.disk", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seconds", type=float, default=None, help="soak length per system")
    args = parser.parse_args()
    result = run(args.quick, args.seconds)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"disk-{stamp}.json"
    out.write_text(json.dumps(result, indent=1))
    plot(result, RESULTS / f"disk-{stamp}.png")
    for row in result["table"]:
        print(row)
    print(f"written to {out}")


if __name__ == "__main__":
    main()
