"""``python -m bench.compare --base REV``: this build against another commit, side by side.

Machines here are shared and noisy, so a figure measured alone says little; the same figure
measured for two builds in alternating rounds of one run, as a ratio, says what a change did.
The base commit is exported (``git archive``) to a temporary directory; every measurement is
``bench/compare_worker.py`` (of THIS tree, so both builds are measured by the same code) in a
fresh process whose PYTHONPATH names the build. Each round runs every case for both builds,
in alternating order; the floors (``floor``, ``fsync``: no engine at all) run once a round.

Writes ``bench/results/compare-<time>.json`` (every measurement, per-round ratios, medians)
and a PNG of the median ratios next to it, and prints a table. Figures are reported, never
asserted. Everything runs on 127.0.0.1 and stops by itself (each worker has a timeout).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

from bench.common import RESULTS, machine

ROOT = Path(__file__).resolve().parent.parent
WORKER = Path(__file__).resolve().parent / "compare_worker.py"
RATES = ("hot1", "hot16", "sync_hot16", "sync_many16", "creates4", "grpc16")
FLOORS = ("floor", "fsync")
WORKER_TIMEOUT = 300.0
GOALS = {  # issue 12's goals, for the printed table (reported, never asserted)
    "hot1": "20,000/s", "hot16": "25,000/s", "sync_hot16": "8,000/s", "sync_many16": "8,000/s",
    "creates4": "10,000/s", "grpc16": "0.7x echo",
}


def export(rev: str, into: Path) -> Path:
    """The tree of ``rev`` (committed files only) under ``into``."""
    archive = subprocess.run(["git", "archive", "--format=tar", rev], cwd=ROOT, check=True,
                             capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def measure(tree: Path, case: str, seconds: float) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run([sys.executable, str(WORKER), case, "--seconds", str(seconds)],
                         env=env, cwd=tree, capture_output=True, text=True,
                         timeout=WORKER_TIMEOUT)
    if out.returncode != 0:
        raise RuntimeError(f"{case} on {tree} failed:\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if Path(result.pop("package")).parent.resolve() != tree.resolve():
        raise RuntimeError(f"{case}: measured a stigmer_actors that is not {tree}'s")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__.split("\n")[0])
    parser.add_argument("--base", required=True, help="the commit to compare with (any git rev)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=2.0, help="per timed loop")
    parser.add_argument("--cases", default=",".join(RATES))
    parser.add_argument("--live", type=int, default=10_000,
                        help="live executions measured once per build (0: skip)")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    cases = [c for c in args.cases.split(",") if c]
    unknown = set(cases) - set(RATES)
    if unknown:
        parser.error(f"unknown cases: {', '.join(sorted(unknown))}")
    base_rev = subprocess.run(["git", "rev-parse", "--short", args.base], cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout.strip()
    head_rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                              capture_output=True, text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "status", "--porcelain", "--", "stigmer_actors"],
                                cwd=ROOT, capture_output=True, text=True).stdout.strip())
    report: dict = {"started": time.strftime("%Y%m%dT%H%M%S"), "machine": machine(),
                    "base": base_rev, "head": head_rev + ("+dirty" if dirty else ""),
                    "rounds": args.rounds, "seconds": args.seconds, "raw": []}
    with tempfile.TemporaryDirectory() as tmp:
        builds = {"head": ROOT, "base": export(base_rev, Path(tmp) / "base")}
        for r in range(args.rounds):
            order = ["head", "base"] if r % 2 == 0 else ["base", "head"]
            for case in FLOORS:
                row = {"round": r, "build": "floor", "case": case, **measure(ROOT, case, args.seconds)}
                report["raw"].append(row)
            for case in cases:
                for build in order:
                    row = {"round": r, "build": build, "case": case,
                           **measure(builds[build], case, args.seconds)}
                    report["raw"].append(row)
                    print(f"round {r} {case:12s} {build}: {row['per_s']:>9,.0f}/s", flush=True)
        if args.live:
            report["live"] = {b: measure(tree, "live", args.live) for b, tree in builds.items()}
    report["table"] = summarize(report, cases)
    args.results.mkdir(parents=True, exist_ok=True)
    path = args.results / f"compare-{report['started']}.json"
    path.write_text(json.dumps(report, indent=1))
    plot(report, path.with_suffix(".png"))
    print_table(report)
    print(f"written to {path}")
    return 0


def summarize(report: dict, cases: list[str]) -> list[dict]:
    raw = report["raw"]

    def rates(case: str, build: str, key: str = "per_s") -> dict[int, float]:
        return {m["round"]: m[key] for m in raw if m["case"] == case and m["build"] == build}

    floor = statistics.median(rates("floor", "floor").values())
    fsync = statistics.median(rates("fsync", "floor").values())
    table = []
    for case in cases:
        head, base = rates(case, "head"), rates(case, "base")
        ratios = sorted(head[r] / base[r] for r in head if r in base)
        row = {"case": case, "head_per_s": round(statistics.median(head.values())),
               "base_per_s": round(statistics.median(base.values())),
               "head_over_base": round(statistics.median(ratios), 3),
               "head_over_base_range": [round(ratios[0], 3), round(ratios[-1], 3)],
               "goal": GOALS.get(case, "")}
        if case.startswith("sync"):
            row["head_over_fsync_floor"] = round(row["head_per_s"] / fsync, 2)
            row["base_over_fsync_floor"] = round(row["base_per_s"] / fsync, 2)
        elif case == "grpc16":
            row["head_over_echo"] = round(statistics.median(rates(case, "head", "ratio").values()), 3)
            row["base_over_echo"] = round(statistics.median(rates(case, "base", "ratio").values()), 3)
        else:
            row["head_over_floor"] = round(row["head_per_s"] / floor, 3)
            row["base_over_floor"] = round(row["base_per_s"] / floor, 3)
        table.append(row)
    table.append({"case": "floor", "head_per_s": round(floor), "base_per_s": round(floor),
                  "head_over_base": 1.0, "note": "raw work of one update, one thread, no engine"})
    table.append({"case": "fsync", "head_per_s": round(fsync), "base_per_s": round(fsync),
                  "head_over_base": 1.0, "note": "RocksDB puts with sync, one thread"})
    return table


def print_table(report: dict) -> None:
    print(f"\n{report['head']} vs {report['base']}, {report['rounds']} alternating rounds")
    print(f"{'case':12s} {'head/s':>9s} {'base/s':>9s} {'head/base':>9s}  {'range':>13s}  vs floor  goal")
    for row in report["table"]:
        floor = next((f"{k.split('_over_')[1]} {row[k]}" for k in row if k.startswith("head_over_")
                      and k != "head_over_base" and k != "head_over_base_range"), "")
        lo, hi = row.get("head_over_base_range", [1.0, 1.0])
        print(f"{row['case']:12s} {row['head_per_s']:>9,} {row['base_per_s']:>9,} "
              f"{row['head_over_base']:>9.2f}  {lo:>5.2f}-{hi:<6.2f}  {floor:<18s} {row.get('goal', '')}")
    for build, figures in report.get("live", {}).items():
        print(f"live ({build}): {figures}")


def plot(report: dict, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in report["table"] if r["case"] in RATES]
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.bar([r["case"] for r in rows], [r["head_over_base"] for r in rows], color="tab:blue")
    for i, r in enumerate(rows):
        lo, hi = r["head_over_base_range"]
        ax.plot([i, i], [lo, hi], color="black")
    ax.axhline(1.0, color="grey", linestyle="--")
    ax.set_ylabel(f"{report['head']} / {report['base']} (median, range)")
    ax.set_title("updates (creates) per second, this build over the base, same run")
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
