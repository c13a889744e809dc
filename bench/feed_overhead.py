"""What the change feed costs the writer: embedded updateStatus on one hot execution, the
feed's ``publish`` on vs replaced by a no-op, with no list-watcher (or one, ``--watched``).

    python -m bench.feed_overhead [--rounds 30] [--updates 2000] [--watched]

``bench.compare`` measures two builds in separate processes; on a shared 2-core machine
their rates vary by 2x from one process to the next, far more than the ~1 us a publish
costs. Here one engine, one actor and one RocksDB serve both modes, toggled between
batches (as ``bench.metrics_overhead`` does for the metrics): per round three batches of a
fixed number of updates, feed off, on, and off again as a control, the order rotating.
Reported per thread count (1 and 16): on/off throughput, the median of the per-round ratios
with a 95 % bootstrap interval, and control/off (the noise alone). Writes JSON under
bench/results/.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import threading
import time
from pathlib import Path

from bench.common import PAYLOAD, RESULTS, machine
from stigmer_actors import Engine, wire

MODES = ("off", "on", "control")


def batch(engine: Engine, eid: str, updates: int, threads: int) -> float:
    """Updates per second for ``updates`` updates from ``threads`` threads."""
    each = updates // threads

    def work() -> None:
        for i in range(each):
            engine.update_status(eid, wire.AgentExecutionStatus(error=str(i), started_at=PAYLOAD))

    workers = [threading.Thread(target=work) for _ in range(threads)]
    started = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return each * threads / (time.perf_counter() - started)


def interval(ratios: list[float]) -> tuple[float, float]:
    rng = random.Random(1)
    medians = sorted(statistics.median(rng.choices(ratios, k=len(ratios))) for _ in range(2000))
    return medians[50], medians[1949]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.feed_overhead", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--updates", type=int, default=2000)
    parser.add_argument("--watched", action="store_true",
                        help="with one list-watch open and read (its reader thread runs in both modes)")
    args = parser.parse_args(argv)
    report: dict = {"started": time.strftime("%Y%m%dT%H%M%S"), "machine": machine(),
                    "rounds": args.rounds, "updates": args.updates, "watched": args.watched, "results": {}}
    with tempfile.TemporaryDirectory() as tmp, Engine(Path(tmp) / "data", pending_timeout=0,
                                                       heartbeat_timeout=0) as engine:
        eid = engine.create(wire.AgentExecution(spec={"message": "m", "session_id": "s"})).metadata.id
        feed = engine.core.feed
        real = feed.publish
        if args.watched:
            watch = engine.watch_executions()
            threading.Thread(target=lambda: [None for _ in watch], daemon=True).start()
        for threads in (1, 16):
            batch(engine, eid, args.updates, threads)  # warm-up
            rows = []
            for r in range(args.rounds):
                order = MODES[r % 3:] + MODES[:r % 3]
                row = {}
                for mode in order:
                    feed.publish = real if mode == "on" else (lambda before, changes: None)
                    row[mode] = batch(engine, eid, args.updates, threads)
                feed.publish = real
                rows.append(row)
            on = [row["on"] / row["off"] for row in rows]
            control = [row["control"] / row["off"] for row in rows]
            report["results"][threads] = {
                "on_off_median": statistics.median(on), "on_off_95": interval(on),
                "control_off_median": statistics.median(control), "control_off_95": interval(control),
                "rows": rows,
            }
            lo, hi = interval(on)
            print(f"{threads:>2} threads: feed on/off {statistics.median(on):.3f} (95 % {lo:.3f}-{hi:.3f}); "
                  f"control/off {statistics.median(control):.3f}; "
                  f"off {statistics.median(r['off'] for r in rows):,.0f}/s",
                  flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"feed_overhead-{report['started']}.json"
    path.write_text(json.dumps(report, indent=1))
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
