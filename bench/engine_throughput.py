"""Embedded updateStatus throughput: one hot execution vs. 1,000 executions, side by side.

    python -m bench.engine_throughput [--seconds 3]

Client threads 1, 4 and 16 call ``Engine.update_status`` as fast as they can for
``--seconds`` each, either all on one execution or spread round-robin over 1,000
(``wal`` durability, no subscribers). Writes JSON under bench/results/.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path

from stigmer_actors import Engine, wire

from bench.common import PAYLOAD, RESULTS  # noqa: E402,F401


def rate(engine: Engine, ids: list[str], threads: int, seconds: float) -> float:
    stop = time.monotonic() + seconds
    counts = [0] * threads

    def run(k: int) -> None:
        i = k
        while time.monotonic() < stop:
            engine.update_status(ids[i % len(ids)], wire.AgentExecutionStatus(error=str(i), started_at=PAYLOAD))
            i += threads
            counts[k] += 1

    workers = [threading.Thread(target=run, args=(k,)) for k in range(threads)]
    t0 = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(counts) / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    result: dict = {"seconds": args.seconds, "updates_per_s": {}}
    with tempfile.TemporaryDirectory() as tmp, Engine(tmp, idle_timeout=300) as engine:
        spec = {"message": "m", "session_id": "s"}
        hot = [engine.create(wire.AgentExecution(spec=spec)).metadata.id]
        many = [engine.create(wire.AgentExecution(spec=spec)).metadata.id for _ in range(1000)]
        for threads in (1, 4, 16):
            for name, ids in (("one_hot", hot), ("1000_executions", many)):
                value = round(rate(engine, ids, threads, args.seconds))
                result["updates_per_s"][f"{name}/{threads}_threads"] = value
                print(f"{name:16} {threads:2} threads: {value} updates/s", flush=True)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"engine_throughput-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
