"""``python -m bench [--quick] [--only fanout,race] [--results DIR]``: the benchmark suite.

Runs each scenario module (``run(quick)`` then ``plot``), and writes one JSON file for
the run (machine, versions, commit, every scenario's config and figures) plus one PNG per
scenario, under ``bench/results/`` unless ``--results`` says otherwise. ``--quick`` (about
two minutes) is the CI smoke test: it checks that every scenario runs and writes valid
results; the full run (under 20 minutes) is the one whose figures are reported. Exit code
1 if any scenario raised (the others still run and are written).
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import subprocess
import sys
import time
import traceback
from pathlib import Path

from bench.common import RESULTS, machine

SCENARIOS = ("fanout", "throughput", "race", "scale", "metrics_overhead", "workflow", "cluster", "disk")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="the ~2 minute smoke run")
    parser.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated scenarios")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where to write")
    args = parser.parse_args(argv)
    names = [n for n in args.only.split(",") if n]
    unknown = set(names) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    stamp = time.strftime("%Y%m%dT%H%M%S") + ("-quick" if args.quick else "")
    args.results.mkdir(parents=True, exist_ok=True)
    report: dict = {"started": stamp, "quick": args.quick, "machine": machine(),
                    "commit": _commit(), "scenarios": {}}
    failed = False
    for name in names:
        print(f"== {name}", flush=True)
        module = importlib.import_module(f"bench.{name}")
        t0 = time.perf_counter()
        try:
            result = module.run(args.quick)
            _check(name, result)
            if hasattr(module, "plot"):
                png = args.results / f"{name}-{stamp}.png"
                module.plot(result, png)
                result["plot"] = png.name
        except Exception:
            failed = True
            result = {"error": traceback.format_exc()}
            print(result["error"], file=sys.stderr, flush=True)
        result["seconds"] = round(time.perf_counter() - t0, 1)
        report["scenarios"][name] = result
        print(f"== {name}: {result['seconds']} s", flush=True)
    path = args.results / f"bench-{stamp}.json"
    path.write_text(json.dumps(report, indent=1, allow_nan=False))
    print(f"written to {path}")
    return 1 if failed else 0


def _check(name: str, result: dict) -> None:
    """A scenario's result must be a non-empty table of finite numbers, and valid JSON."""
    table = result.get("table")
    if not table or not all(isinstance(row, dict) and row for row in table):
        raise ValueError(f"{name}: no result table")
    for row in table:
        for key, value in row.items():
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{name}: {key} is {value} in {row}")
    json.dumps(result, allow_nan=False)


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=10, cwd=Path(__file__).parent)
        return out.stdout.strip()
    except OSError:
        return ""


if __name__ == "__main__":
    sys.exit(main())
