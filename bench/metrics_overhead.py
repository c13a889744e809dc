"""What the metrics cost: embedded updateStatus on one hot execution, metrics on vs off.

    python -m bench.metrics_overhead [--batches 45] [--updates 1200]

Three engines run side by side in this process: one with ``Metrics()``, one without, and
a second one without as a control. Each batch makes a fixed number of updates (split over
the client threads) on each engine in turn, the order rotating every batch, so the shared
machine's drift and each engine's background RocksDB work hit all alike. Per batch we
take the wall time and the process CPU time per update; reported are the medians, on/off
as a throughput ratio (the goal is >= 0.95) and control/off, the same ratio between two
identical engines: how far this machine's noise alone moves it. Writes JSON under
bench/results/.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path

from bench.common import PAYLOAD, RESULTS
from stigmer_actors import Engine, wire
from stigmer_actors.observability import Metrics

MODES = ("off", "on", "control")


def batch(engine: Engine, eid: str, updates: int, threads: int) -> tuple[float, float]:
    """(wall us, CPU us) per update for ``updates`` updates from ``threads`` threads."""
    each = updates // threads

    def work() -> None:
        for i in range(each):
            engine.update_status(eid, wire.AgentExecutionStatus(error=str(i), started_at=PAYLOAD))

    workers = [threading.Thread(target=work) for _ in range(threads)]
    c0, w0 = time.process_time(), time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    done = each * threads
    return (time.perf_counter() - w0) / done * 1e6, (time.process_time() - c0) / done * 1e6


def run(quick: bool, batches: int = 45, updates: int = 1200) -> dict:
    if quick:
        batches, updates = 4, 300
    result: dict = {"config": {"batches": batches, "updates_per_batch": updates},
                    "threads": {}, "table": []}
    with tempfile.TemporaryDirectory() as tmp:
        engines = {
            mode: Engine(Path(tmp) / mode, idle_timeout=300, pending_timeout=0,
                         heartbeat_timeout=0, metrics=Metrics() if mode == "on" else None)
            for mode in MODES
        }
        try:
            spec = {"message": "m", "session_id": "s"}
            hot = {k: e.create(wire.AgentExecution(spec=spec)).metadata.id for k, e in engines.items()}
            for threads in (1, 4):
                wall: dict[str, list[float]] = {m: [] for m in MODES}
                cpu: dict[str, list[float]] = {m: [] for m in MODES}
                for b in range(batches):
                    for mode in MODES[b % 3:] + MODES[:b % 3]:
                        w, c = batch(engines[mode], hot[mode], updates, threads)
                        wall[mode].append(w)
                        cpu[mode].append(c)
                med = {m: statistics.median(v) for m, v in wall.items()}
                med_cpu = {m: statistics.median(v) for m, v in cpu.items()}
                row = {"threads": threads,
                       "off_per_s": round(1e6 / med["off"]), "on_per_s": round(1e6 / med["on"]),
                       "on_over_off": round(med["off"] / med["on"], 3),
                       "control_over_off": round(med["off"] / med["control"], 3),
                       "cpu_us_off": round(med_cpu["off"], 1), "cpu_us_on": round(med_cpu["on"], 1)}
                result["threads"][threads] = {"wall_us": wall, "cpu_us": cpu}
                result["table"].append(row)
                print(f"  metrics {threads} threads: off {row['off_per_s']}/s, on {row['on_per_s']}/s, "
                      f"on/off {row['on_over_off']}; CPU per update {row['cpu_us_off']} -> "
                      f"{row['cpu_us_on']} us; control/off {row['control_over_off']}", flush=True)
        finally:
            for engine in engines.values():
                engine.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=45)
    parser.add_argument("--updates", type=int, default=1200)
    args = parser.parse_args()
    result = run(False, args.batches, args.updates)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"metrics_overhead-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
