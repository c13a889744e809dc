"""What the metrics cost: embedded updateStatus on one hot execution, metrics on vs off.

    python -m bench.metrics_overhead [--seconds 0.5] [--rounds 20]

Two engines (one with ``Metrics()``, one without) run side by side in this process, in
short rounds ordered off,on / on,off alternately, so the shared machine's drift and each
engine's background RocksDB work hit both alike (an off-vs-off run of this design showed
+-9 % between two identical engines with 4 long rounds in a fixed order). Reported:
updates/s per round, the median of the per-round on/off ratios (the goal is >= 0.95), and
the medians. Writes JSON under bench/results/.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from bench.engine_throughput import RESULTS, rate
from stigmer_actors import Engine, wire
from stigmer_actors.observability import Metrics


def run(quick: bool, seconds: float = 0.5, rounds: int = 20) -> dict:
    if quick:
        seconds, rounds = 0.2, 4
    result: dict = {"config": {"seconds": seconds, "rounds": rounds}, "threads": {}, "table": []}
    with tempfile.TemporaryDirectory() as tmp:
        engines = {
            "off": Engine(Path(tmp) / "off", idle_timeout=300),
            "on": Engine(Path(tmp) / "on", idle_timeout=300, metrics=Metrics()),
        }
        try:
            spec = {"message": "m", "session_id": "s"}
            hot = {k: e.create(wire.AgentExecution(spec=spec)).metadata.id for k, e in engines.items()}
            for threads in (1, 4):
                runs: dict[str, list[float]] = {"off": [], "on": []}
                for r in range(rounds):
                    for mode in ("off", "on") if r % 2 == 0 else ("on", "off"):
                        runs[mode].append(rate(engines[mode], [hot[mode]], threads, seconds))
                medians = {m: statistics.median(v) for m, v in runs.items()}
                ratio = statistics.median(on / off for on, off in zip(runs["on"], runs["off"]))
                result["threads"][threads] = {
                    "updates_per_s": {m: [round(x) for x in v] for m, v in runs.items()},
                    "median": {m: round(v) for m, v in medians.items()},
                    "on_over_off": round(ratio, 3),
                }
                result["table"].append({"threads": threads, "off_per_s": round(medians["off"]),
                                        "on_per_s": round(medians["on"]),
                                        "on_over_off": round(ratio, 3)})
                print(f"  metrics {threads:2} threads: off {medians['off']:.0f}/s, on "
                      f"{medians['on']:.0f}/s, median per-round on/off {ratio:.3f}", flush=True)
        finally:
            for engine in engines.values():
                engine.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=0.5)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    result = run(False, args.seconds, args.rounds)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"metrics_overhead-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
