"""What the metrics cost: embedded updateStatus on one hot execution, metrics on vs off.

    python -m bench.metrics_overhead [--batches 45] [--updates 1200]

One engine, one hot execution, one actor, one RocksDB: between batches the execution's
actor is given the engine's ``Metrics`` or None. Everything the metrics do per update
happens through that reference (step and latency histograms, bytes written); the rest
(RPC counters, gauges) is read at scrape time or is on the gRPC path, so toggling it
toggles exactly the per-update cost. An earlier design compared separate engines, and two
identical engines differed by up to 5 % on this machine (placement, background RocksDB
work), more than the effect being measured.

Each round makes three batches of a fixed number of updates (split over the client
threads): metrics off, on, and off again as a control, the order rotating every round.
Per batch: wall time and process CPU time per update. Reported: on/off as a throughput
ratio, the median of the per-round ratios with a 95 % bootstrap interval (the goal is
>= 0.95), and control/off, the same ratio between two "off" batches: how far this
machine's noise alone moves it. Writes JSON under bench/results/.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
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


def paired(base: list[float], other: list[float], resamples: int = 2000) -> tuple[float, float, float]:
    """Throughput ratio other/base: the median of the per-batch ratios (each batch ran the
    engines back to back, so slow drift of the machine cancels within a pair), and a 95 %
    bootstrap interval of that median."""
    ratios = [b / o for b, o in zip(base, other)]
    rng = random.Random(7)
    medians = sorted(statistics.median(rng.choices(ratios, k=len(ratios))) for _ in range(resamples))
    return statistics.median(ratios), medians[int(0.025 * resamples)], medians[int(0.975 * resamples) - 1]


def run(quick: bool, batches: int = 45, updates: int = 1200) -> dict:
    if quick:
        batches, updates = 4, 300
    result: dict = {"config": {"batches": batches, "updates_per_batch": updates},
                    "threads": {}, "table": []}
    with tempfile.TemporaryDirectory() as tmp:
        metrics = Metrics()
        engine = Engine(Path(tmp), idle_timeout=300, pending_timeout=0, heartbeat_timeout=0, metrics=metrics)
        try:
            hot = engine.create(wire.AgentExecution(spec={"message": "m", "session_id": "s"})).metadata.id
            engine.update_status(hot, wire.AgentExecutionStatus(error="warm-up"))
            actor = engine.core.registry._actors[hot]  # idle_timeout keeps it
            parts = {"on": dataclasses.replace(actor._parts, metrics=metrics),
                     "off": dataclasses.replace(actor._parts, metrics=None)}
            for threads in (1, 4):
                wall: dict[str, list[float]] = {m: [] for m in MODES}
                cpu: dict[str, list[float]] = {m: [] for m in MODES}
                for b in range(batches):
                    for mode in MODES[b % 3:] + MODES[:b % 3]:
                        actor._parts = parts["on" if mode == "on" else "off"]  # idle between batches
                        w, c = batch(engine, hot, updates, threads)
                        wall[mode].append(w)
                        cpu[mode].append(c)
                med = {m: statistics.median(v) for m, v in wall.items()}
                med_cpu = {m: statistics.median(v) for m, v in cpu.items()}
                on, on_low, on_high = paired(wall["off"], wall["on"])
                control, control_low, control_high = paired(wall["off"], wall["control"])
                row = {"threads": threads,
                       "off_per_s": round(1e6 / med["off"]), "on_per_s": round(1e6 / med["on"]),
                       "on_over_off": round(on, 3), "on_over_off_ci95": [round(on_low, 3), round(on_high, 3)],
                       "control_over_off": round(control, 3),
                       "control_over_off_ci95": [round(control_low, 3), round(control_high, 3)],
                       "cpu_us_off": round(med_cpu["off"], 1), "cpu_us_on": round(med_cpu["on"], 1)}
                result["threads"][threads] = {"wall_us": wall, "cpu_us": cpu}
                result["table"].append(row)
                print(f"  metrics {threads} threads: off {row['off_per_s']}/s, on {row['on_per_s']}/s, "
                      f"on/off {row['on_over_off']} {row['on_over_off_ci95']}; CPU per update {row['cpu_us_off']} -> "
                      f"{row['cpu_us_on']} us; control/off {row['control_over_off']} "
                      f"{row['control_over_off_ci95']}", flush=True)
        finally:
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
