"""What ``import stigmer_actors.client`` costs a runner: time and modules, fresh processes.

    python -m bench.client_import [--python VENV/bin/python] [--runs 21]

Each run is a new interpreter that times one import statement (wall clock, and the
process's CPU time, which a shared machine's load disturbs less) and counts
``sys.modules`` after it; the client's runs alternate with a floor's, ``import grpc,
google.protobuf.message`` (what any gRPC client pays), so both see the same machine load.
Point ``--python`` at a venv holding the base install to measure what a runner gets
(installed, byte-compiled, without the ``server`` extra). Writes
``bench/results/client_import-<time>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from bench.common import RESULTS

PROBE = (
    "import sys, time; t, c = time.perf_counter(), time.process_time(); {statement}; "
    "ms, cpu = (time.perf_counter() - t) * 1000, (time.process_time() - c) * 1000; n = len(sys.modules); "
    "import json; print(json.dumps([ms, cpu, n, sorted(set(sys.modules) & {{"
    "'rocksdict', 'celpy', 'yaml', 'prometheus_client', 'rich', 'loguru', 'pykka'}})]))"
)
STATEMENTS = {"client": "import stigmer_actors.client", "grpc_protobuf_floor": "import grpc, google.protobuf.message"}


def _once(python: str, statement: str) -> tuple[float, float, int, list[str]]:
    # Without PYTHONPATH and outside any checkout (``-c`` puts the working directory on
    # sys.path): the interpreter's own install is measured.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run(
        [python, "-c", PROBE.format(statement=statement)],
        capture_output=True, text=True, check=True, timeout=60, env=env, cwd=tempfile.gettempdir(),
    ).stdout  # fmt: skip
    ms, cpu, modules, heavy = json.loads(out)
    return ms, cpu, modules, heavy


def run(python: str, runs: int) -> dict:
    samples: dict[str, list[tuple[float, float, int, list[str]]]] = {name: [] for name in STATEMENTS}
    for _ in range(runs):
        for name, statement in STATEMENTS.items():
            samples[name].append(_once(python, statement))
    result = {"python": python, "runs": runs}
    for name, rows in samples.items():
        ms, cpu = [r[0] for r in rows], [r[1] for r in rows]
        result[name] = {
            "median_ms": round(statistics.median(ms), 1),
            "min_ms": round(min(ms), 1),
            "max_ms": round(max(ms), 1),
            "median_cpu_ms": round(statistics.median(cpu), 1),
            "modules": rows[0][2],
            "heavy_modules_loaded": rows[0][3],
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--python", default=sys.executable, help="the interpreter to measure")
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    result = run(args.python, args.runs)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"client_import-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"written to {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
