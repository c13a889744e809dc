"""Scenario 3, the race harness: our engine vs. the reference design under one storm.

For each K, ONE execution gets K writer threads, each making M ``update_status`` calls;
thread i writes the status fields named by the bits of i + 1, with values naming thread
and call (as ``tests/test_concurrency.py`` does). Each writer also subscribes twice, at
call indices drawn at random, so 2K subscribers join while the storm runs; each reads on
its own thread and serializes every state it gets (what a gRPC stream does with it).
After all writers finished, one terminal update (COMPLETED), then one late subscriber
joins the finished execution. Same harness, same RocksDB store, for both systems:
``stigmer-actors`` (``Engine``) and ``reference`` (``bench/baseline.py``).

What is counted, per system and K (all exact, none sampled):
- ``lost``: accepted updates missing from the final state's history. Both systems give a
  write version = version of the state it merged onto + 1, so the final version - 1 is the
  number of writes on the final state's chain of ancestors; every other accepted write
  was merged onto a state that a later write then overwrote, so its effect is gone:
  ``lost = accepted - (final.version - 1)``. As an independent check that trusts no
  version counting, ``replay_mismatches`` replays every accepted change in version order
  with the merge rules (``apply_status``) and counts replies (and the final state) that
  differ from the replay; it is 0 exactly when nothing was lost, reordered or doubled.
- ``out_of_order``: deliveries whose version is <= one that subscriber saw before
  (skipping versions is allowed: a slow reader may get the newest state instead).
- ``hangs``: storm subscribers whose stream did not end within ``hang_wait`` seconds of
  the terminal update (each is waited on by blocking, never by polling); ``late_hang``:
  the same for the subscriber that joined after the terminal update.
- ``stale_final``: storm subscribers whose last state differs from the stored final one
  (a hung subscriber counts here too when it never saw the final state).

The reference's counts vary from run to run and are a lower bound: under CPython's GIL a
racing caller is only preempted at the 5 ms switch interval (or when it blocks), whereas
a reference daemon on real cores interleaves at any instruction. The harness leaves the
switch interval alone (it is process-wide and would tax our engine too); nothing is slept
or injected. Storm hangs need the terminal state to hit a full queue or a subscribe
window, so they are rare; the late joiner hangs every time (defect 4).

    python -m bench.race [--quick]      (or through ``python -m bench --only race``)
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf.message import Message

from bench.baseline import Baseline
from bench.common import PAYLOAD, RESULTS
from stigmer_actors import AGENT, Engine, wire
from stigmer_actors.domain import phases
from stigmer_actors.domain.transitions import apply_status

FULL = {"ks": (2, 4, 8, 16, 32), "calls": 500, "hang_wait": 5.0}
QUICK = {"ks": (2, 8), "calls": 250, "hang_wait": 2.0}
JOINS_PER_WRITER = 2
READ_TIMEOUT = 300.0
"""A safety net only: hangs are decided at the ``hang_wait`` deadline, then the system is
closed, which ends every blocked ``get``."""
PATTERN_FIELDS = ("error", "started_at", "completed_at", "messages", "tool_calls", "todos")
SYSTEMS: dict[str, Callable[[Path], Any]] = {
    "stigmer-actors": lambda d: Engine(d, pending_timeout=0, heartbeat_timeout=0),
    "reference": Baseline,
}
COLUMNS = ("system", "K", "updates", "lost", "out_of_order", "hangs", "stale_final",
           "late_hang", "subscribers")


def status_for(thread: int, call: int) -> Message:
    """Thread i sets the fields named by the bits of i + 1 (32 distinct, non-empty patterns)."""
    value = f"t{thread}-c{call}"
    status = wire.AgentExecutionStatus()
    for bit, name in enumerate(PATTERN_FIELDS):
        if (thread + 1) >> bit & 1:
            if name == "messages":
                status.messages.add(content=value)
            elif name == "tool_calls":
                status.tool_calls.add(id=value)
            elif name == "todos":
                status.todos[value].content = value
            else:
                setattr(status, name, value)
    return status


@dataclass
class Reader:
    """A subscriber on its own daemon thread, recording order violations and its last state."""

    subscription: Any
    max_version: int = 0
    deliveries: int = 0
    out_of_order: int = 0
    last: Message | None = None
    ended: threading.Event = field(default_factory=threading.Event)

    def start(self) -> Reader:
        threading.Thread(target=self._run, daemon=True).start()
        return self

    def _run(self) -> None:
        try:
            while True:
                state = self.subscription.get(timeout=READ_TIMEOUT)
                state.SerializeToString()  # "send" it, as a stream would
                version = state.status.version
                self.out_of_order += version <= self.max_version
                self.max_version = max(self.max_version, version)
                self.deliveries += 1
                self.last = state
        except StopIteration:
            self.ended.set()
        except TimeoutError:
            pass


@dataclass
class Storm:
    """What the writers of one run produced: every accepted reply, and the readers started."""

    records: list[tuple[int, Message, Message]] = field(default_factory=list)
    readers: list[Reader] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _writer(system: Any, eid: str, thread: int, calls: int, storm: Storm,
            start: threading.Barrier) -> None:
    rng = random.Random(thread)
    join_at = set(rng.sample(range(calls), JOINS_PER_WRITER))
    mine = []
    start.wait()
    for call in range(calls):
        status = status_for(thread, call)
        reply = system.update_status(eid, status)
        mine.append((reply.status.version, status, reply))
        if call in join_at:
            reader = Reader(system.subscribe(eid)).start()
            with storm.lock:
                storm.readers.append(reader)
    with storm.lock:
        storm.records.extend(mine)


def _run_storm(system: Any, eid: str, k: int, calls: int) -> Storm:
    storm = Storm()
    start = threading.Barrier(k)
    threads = [threading.Thread(target=_writer, args=(system, eid, i, calls, storm, start),
                                daemon=True) for i in range(k)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return storm


def _comparable(execution: Message) -> Message:
    """Without audit stamps: wall-clock times a replay cannot reproduce."""
    copy = type(execution)()
    copy.CopyFrom(execution)
    copy.status.ClearField("audit")
    return copy


def replay_mismatches(created: Message, records: list[tuple[int, Message, Message]],
                      final: Message) -> int:
    """Replies (and the final state) that differ from replaying all changes in version order."""
    replay = _comparable(created)
    mismatches = 0
    for _version, status, reply in sorted(records, key=lambda r: r[0]):
        apply_status(AGENT, replay, status)
        replay.status.ClearField("audit")  # the stamp apply_status just made
        mismatches += _comparable(reply) != replay
    return mismatches + (_comparable(final) != replay)


def _wait_until(readers: list[Reader], deadline: float) -> list[Reader]:
    """Block on each reader's end until the shared deadline; the ones still open hang."""
    for reader in readers:
        reader.ended.wait(timeout=max(0.0, deadline - time.monotonic()))
    return [r for r in readers if not r.ended.is_set()]


def run_one(name: str, k: int, calls: int, hang_wait: float, data_dir: Path) -> dict:
    """One storm on one fresh system; returns its counts."""
    system = SYSTEMS[name](data_dir)
    try:
        created = system.create(wire.AgentExecution(spec={"message": PAYLOAD, "session_id": "s"}))
        eid = created.metadata.id
        t0 = time.perf_counter()
        storm = _run_storm(system, eid, k, calls)
        storm_s = time.perf_counter() - t0
        terminal_status = wire.AgentExecutionStatus(phase=phases.COMPLETED)
        terminal = system.update_status(eid, terminal_status)
        deadline = time.monotonic() + hang_wait
        storm.records.append((terminal.status.version, terminal_status, terminal))
        late = Reader(system.subscribe(eid)).start()
        final = system.get(eid)
        hung = _wait_until(storm.readers, deadline)
        late_hung = _wait_until([late], deadline)
    finally:
        system.close()  # ends every blocked get, so no reader thread outlives the run
    accepted = len(storm.records)
    return {
        "system": name, "K": k, "updates": accepted,
        "lost": accepted - (final.status.version - 1),
        "out_of_order": sum(r.out_of_order for r in storm.readers),
        "hangs": len(hung),
        "stale_final": sum(r.last != final for r in storm.readers),
        "late_hang": len(late_hung),
        "subscribers": len(storm.readers),
        "replay_mismatches": replay_mismatches(created, storm.records, final),
        "deliveries": sum(r.deliveries for r in storm.readers),
        "dropped_states": sum(getattr(r.subscription, "dropped", 0) for r in storm.readers),
        "final_version": final.status.version,
        "storm_seconds": round(storm_s, 3),
        "updates_per_s": round((accepted - 1) / storm_s),
    }


def run(quick: bool) -> dict:
    """Every K, both systems back to back (ours first), each on a fresh data directory."""
    config = dict(QUICK if quick else FULL)
    config.update(joins_per_writer=JOINS_PER_WRITER, systems=list(SYSTEMS),
                  late_subscribers=1, store="RocksDB (wal) for both")
    results = []
    print(" ".join(f"{c:>14}" for c in COLUMNS), flush=True)
    with tempfile.TemporaryDirectory(prefix="race-") as tmp:
        for k in config["ks"]:
            for name in SYSTEMS:
                result = run_one(name, k, config["calls"], config["hang_wait"],
                                 Path(tmp) / f"{name}-{k}")
                results.append(result)
                print(" ".join(f"{result[c]!s:>14}" for c in COLUMNS), flush=True)
    config["ks"] = list(config["ks"])
    table = [{c: r[c] for c in COLUMNS} for r in results]
    return {"config": config, "results": results, "table": table}


METRICS = ("lost", "out_of_order", "hangs", "stale_final")
TITLES = {"lost": "lost updates", "out_of_order": "out-of-order deliveries",
          "hangs": "hung subscribers (2K mid-storm + 1 late joiner)",
          "stale_final": "subscribers whose last state is stale"}
COLORS = {"stigmer-actors": "tab:green", "reference": "tab:red"}


def _value(row: dict, metric: str) -> int:
    """The plotted count: the hangs panel adds the late joiner's hang to the storm's."""
    return row["hangs"] + row["late_hang"] if metric == "hangs" else row[metric]


def plot(result: dict, path: Path) -> None:
    """Four panels of grouped bars (one group per K), each bar labelled with its count.

    Counts span 0 to hundreds of thousands, so the y axes are symlog (linear below 1):
    zeros stay on the axis and every bar carries its exact number.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["table"]
    ks = result["config"]["ks"]
    systems = result["config"]["systems"]
    fig, axes = plt.subplots(2, 2, figsize=(11, 7))
    width = 0.8 / len(systems)
    for ax, metric in zip(axes.flat, METRICS):
        top = 1
        for s, system in enumerate(systems):
            values = [_value(next(r for r in rows if r["system"] == system and r["K"] == k),
                             metric) for k in ks]
            xs = [i + (s - (len(systems) - 1) / 2) * width for i in range(len(ks))]
            bars = ax.bar(xs, values, width, label=system, color=COLORS.get(system))
            ax.bar_label(bars, fontsize=7)
            top = max(top, *values)
        ax.set_yscale("symlog", linthresh=1)
        ax.set_ylim(0, top * 4)
        ax.set_xticks(range(len(ks)), [f"K={k}" for k in ks])
        ax.set_title(TITLES[metric], fontsize=10)
    axes.flat[0].legend(loc="upper left")
    calls = result["config"]["calls"]
    fig.suptitle(f"One execution: K writers x {calls} updateStatus, 2K subscribers joining "
                 "mid-storm, then COMPLETED")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    result = run(args.quick)
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    path = RESULTS / f"race-{stamp}.json"
    path.write_text(json.dumps(result, indent=1))
    plot(result, RESULTS / f"race-{stamp}.png")
    print(f"written to {path}")


if __name__ == "__main__":
    main()
