"""What a supervised runner flooding its output costs the daemon: latency, CPU, memory.

    python -m bench.runner_flood [--runs 3]

Each run starts ``serve --runner flood=...`` whose runner, once told to go, writes 50 MB of
100-byte lines and then one 50 MB line without a newline to its stdout as fast as the pipe
takes them, and exits. Meanwhile this process calls ``get`` on one execution in a loop and
samples the daemon's RSS; it stops when the daemon reports the runner's exit. Reported per
run: how long the 100 MB took to go through, the daemon's CPU seconds over that time, get
latency (p50, p99, max), RSS before and at its peak, and the lines not logged (the log takes
at most 500 a second per stream). Writes ``bench/results/runner_flood-<time>.json``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil

from bench.common import RESULTS, pct
from bench.daemon import BenchDaemon
from stigmer_actors.client import StigmerClient

FLOOD = """
import os, sys, time
go = sys.argv[1]
while not os.path.exists(go):
    time.sleep(0.05)
out = sys.stdout.buffer
block = (b"x" * 99 + b"\\n") * 10_000
for _ in range(50):
    out.write(block)
chunk = b"y" * 2**20
for _ in range(50):
    out.write(chunk)
out.write(b"\\n")
out.flush()
"""


def once(work: Path) -> dict:
    script, go = work / "flood.py", work / "go"
    script.write_text(FLOOD)
    daemon = BenchDaemon("--no-runner", "--runner-backoff", "60",
                         "--runner",
                         f"flood={shlex.quote(sys.executable)} {shlex.quote(str(script))} {shlex.quote(str(go))}")
    server = psutil.Process(daemon.proc.pid)
    try:
        with StigmerClient(daemon.address) as client:
            eid = client.create_agent("m", session_id="s").metadata.id
            for _ in range(20):
                client.get(eid)
            before = peak = server.memory_info().rss
            cpu_before = sum(server.cpu_times()[:2])
            latencies: list[float] = []
            go.touch()
            began = time.monotonic()
            while time.monotonic() - began < 120:
                started = time.perf_counter()
                client.get(eid)
                latencies.append(time.perf_counter() - started)
                peak = max(peak, server.memory_info().rss)
                runner = next(r for r in client.runners().supervised if r.name == "flood")
                if runner.HasField("last_exit_code"):
                    break
            took = time.monotonic() - began
            cpu = sum(server.cpu_times()[:2]) - cpu_before
    finally:
        daemon.stop()
    ms = [x * 1000 for x in latencies]
    return {
        "seconds": round(took, 2),
        "daemon_cpu_seconds": round(cpu, 2),
        "gets": len(latencies),
        "get_p50_ms": round(statistics.median(ms), 2),
        "get_p99_ms": pct(ms, 99),
        "get_max_ms": round(max(ms), 2),
        "rss_before_mb": before >> 20,
        "rss_peak_mb": peak >> 20,
        "lines_not_logged": runner.output_lines_dropped,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    runs = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="stigmer-flood-") as work:
            runs.append(once(Path(work)))
            print(json.dumps(runs[-1]), flush=True)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"runner_flood-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps({"runs": runs}, indent=2) + "\n")
    print(f"written to {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
