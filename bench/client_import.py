"""What ``import stigmer_actors.client`` costs a runner: time and modules, fresh processes.

    python -m bench.client_import [--python VENV/bin/python] [--runs 21]

Each run is a new interpreter that times one import statement with ``perf_counter`` and
counts ``sys.modules`` after it; the client's runs alternate with a floor's, ``import grpc,
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
import time

from bench.common import RESULTS

PROBE = (
    "import sys, time; t = time.perf_counter(); {statement}; ms = (time.perf_counter() - t) * 1000; "
    "n = len(sys.modules); "
    "import json; print(json.dumps([ms, n, sorted(set(sys.modules) & {{"
    "'rocksdict', 'celpy', 'yaml', 'prometheus_client', 'rich', 'loguru', 'pykka'}})]))"
)
STATEMENTS = {"client": "import stigmer_actors.client", "grpc_protobuf_floor": "import grpc, google.protobuf.message"}


def _once(python: str, statement: str) -> tuple[float, int, list[str]]:
    # Without PYTHONPATH: the interpreter's own install is measured, not a checkout.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run(
        [python, "-c", PROBE.format(statement=statement)], capture_output=True, text=True, check=True, timeout=60, env=env
    ).stdout
    ms, modules, heavy = json.loads(out)
    return ms, modules, heavy


def run(python: str, runs: int) -> dict:
    samples: dict[str, list[tuple[float, int, list[str]]]] = {name: [] for name in STATEMENTS}
    for _ in range(runs):
        for name, statement in STATEMENTS.items():
            samples[name].append(_once(python, statement))
    result = {"python": python, "runs": runs}
    for name, rows in samples.items():
        ms = [r[0] for r in rows]
        result[name] = {
            "median_ms": round(statistics.median(ms), 1),
            "min_ms": round(min(ms), 1),
            "max_ms": round(max(ms), 1),
            "modules": rows[0][1],
            "heavy_modules_loaded": rows[0][2],
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
