"""Scale and memory: what stored executions, live actors and open streams cost the server.

    python -m bench.scale [--quick] [--plot PATH]

The server (Engine + EdgeServer) runs in a child process so the RSS and thread counts are
its own, not this process's gRPC client's. The child takes one command a line on stdin and
answers each with one JSON line on stdout, always including its RSS (psutil) and
``threading.active_count()``. Stages, each measured when it is done:

1. ``empty``: the engine and server just opened (seconds: from process start to ready).
2. ``created``: N executions created from a few threads through the embedded API, and
   their actors evicted again. Every create starts an actor (a thread), so this engine has
   a short idle timeout: the stage is about N *stored* executions, not N live threads.
3. ``reopen (idle)``: close, then a new Engine on the same directory with a long idle
   timeout, timed from the constructor to the first ``get()``; what a restart costs with
   N executions on disk and none in use.
4. ``touched``: one updateStatus on each of the T most recent executions, so T actors are
   live (the long idle timeout keeps them so for the rest of the run).
5. ``streams``: S subscribe streams opened over gRPC from this process to touched
   executions, in batches (opening thousands at once gets some CANCELLED by the accept
   backlog), each confirmed by its initial metadata, which the server sends with the
   first state, once the subscription is registered.
6. ``reopen (loaded)``: the same restart with the T actors live and the S streams open, so
   the close time includes stopping them.

Everything is on 127.0.0.1; every wait has a timeout, and a guard kills the child when the
whole run overruns its budget (which also ends any blocked gRPC call here).
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from tempfile import TemporaryDirectory

import psutil

from bench.common import PAYLOAD, raise_idle_stream_wakeup
from stigmer_actors import AGENT, Engine, wire
from stigmer_actors.client import StigmerClient
from stigmer_actors.domain import phases
from stigmer_actors.grpc_edge.server import EdgeServer

ROOT = Path(__file__).resolve().parent.parent
STREAM_BATCH = 100
ACTOR_THREAD_PREFIX = "ExecutionActor-"


@dataclass(frozen=True)
class Config:
    """Sizes and timeouts of one run."""

    executions: int
    touched: int
    streams: int
    writers: int = 2
    """Creating and touching threads: a few, as several clients would. More only add GIL
    contention on a 2-core machine: touching 10,000 actors live went at ~470/s from 4
    threads against ~750/s from 1 in a trial here; creates were no faster with 4."""
    create_idle_timeout: float = 0.25
    """Short, so the actors each create starts are evicted while the creates go on: with
    the default 15 s about 15,000 threads would be live at once, and every pykka ask slows
    down with thousands of idle threads (see actors/registry.py)."""
    live_idle_timeout: float = 600.0
    """Longer than the whole run: touched actors must stay live to be measured."""
    max_streams: int = 1100
    budget_seconds: float = 360.0
    """The child is killed after this, whatever it is doing."""


FULL = Config(executions=100_000, touched=10_000, streams=1_000)
QUICK = Config(executions=2_000, touched=200, streams=50, budget_seconds=120.0)


def execution_id(i: int) -> str:
    """Known ids, so this process can subscribe to the child's executions without asking."""
    return f"scale-{i:06d}"


# --- the child: the measured server -------------------------------------------------------


class ScaleServer:
    """The child's engine and server, one method per command from the parent."""

    def __init__(self, data_dir: str, config: Config) -> None:
        self.data_dir = data_dir
        self.config = config
        self.engine = self._engine(config.create_idle_timeout)
        self.server = self._serve()

    def _engine(self, idle_timeout: float) -> Engine:
        # Timers off: a PENDING execution must not turn FAILED mid-run and change the load.
        return Engine(self.data_dir, pending_timeout=0, heartbeat_timeout=0,
                      idle_timeout=idle_timeout)

    def _serve(self) -> EdgeServer:
        return EdgeServer(self.engine, "127.0.0.1:0", max_streams=self.config.max_streams).start()

    def measure(self) -> dict:
        """What every answer carries: the process's own RSS and threads, and the engine's
        live actors, registered subscribers and open stream slots."""
        return {
            "rss_mb": round(psutil.Process().memory_info().rss / 2**20, 1),
            "threads": threading.active_count(),
            "threads_by_kind": _threads_by_kind(),
            "live_actors": self.engine.core.registry.live(),
            "subscribers": self.engine.core.registry.subscribers(),
            "streams": self.server.streams.count,
            "address": self.server.address,
        }

    def create(self, count: int) -> dict:
        """Create ``count`` executions (about 2 KB each), then wait for their actors to go."""
        peak = {"threads": 0, "live": 0}

        def write(i: int) -> None:
            self.engine.create(wire.AgentExecution(
                metadata={"id": execution_id(i)},
                spec={"message": PAYLOAD, "session_id": f"session-{i % 100}"},
            ))
            if i % 500 == 0:
                peak["threads"] = max(peak["threads"], threading.active_count())
                peak["live"] = max(peak["live"], self.engine.core.registry.live())

        seconds = _timed(lambda: _in_threads(range(count), self.config.writers, write))
        evicted_in = _timed(self._wait_all_evicted)
        return {"seconds": round(seconds, 2), "creates_per_s": round(count / seconds),
                "evicted_in_seconds": round(evicted_in, 2),
                "peak_threads": peak["threads"], "peak_live_actors": peak["live"]}

    def _wait_all_evicted(self) -> None:
        """Until no actor is registered and their threads have ended (not merely been told
        to stop), so the thread count is what stays."""
        if not self.engine.core.registry.wait_live_at_most(0, timeout=60):
            raise TimeoutError(f"{self.engine.core.registry.live()} actors still live")
        for thread in threading.enumerate():
            if thread.name.startswith(ACTOR_THREAD_PREFIX):
                thread.join(timeout=10)

    def touch(self, first: int, count: int) -> dict:
        """One updateStatus (to IN_PROGRESS) on each of ``count`` executions from ``first``:
        each one's actor is spawned, reloads it from the store and stays live.

        The parent touches the newest, as a live system would. Each leaves PENDING, so the
        dispatcher drops it from its FIFO of all N PENDING ids: a cost that grows with N."""
        def update(i: int) -> None:
            self.engine.update_status(
                execution_id(i), wire.AgentExecutionStatus(phase=phases.IN_PROGRESS)
            )

        seconds = _timed(lambda: _in_threads(range(first, first + count), self.config.writers, update))
        return {"seconds": round(seconds, 2), "updates_per_s": round(count / seconds)}

    def await_streams(self, count: int, timeout: float) -> dict:
        """Until ``count`` streams hold a slot and as many subscriptions are registered with
        their actors (each actor reports its count after handling a message)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.server.streams.count >= count and self.engine.core.registry.subscribers() >= count:
                return {"registered": True}
            time.sleep(0.05)
        return {"registered": False}

    def reopen(self, probe_id: str) -> dict:
        """Close everything, then open a new Engine on the same directory: the open is timed
        from the constructor call until a first ``get()`` has returned (the constructor
        scans every PENDING and IN_PROGRESS execution to re-queue and re-arm them)."""
        closing = time.perf_counter()
        self.server.stop(grace=1)
        server_stopped = time.perf_counter()
        self.engine.close()
        opening = time.perf_counter()
        self.engine = self._engine(self.config.live_idle_timeout)
        constructed = time.perf_counter()
        self.engine.get(probe_id)
        done = time.perf_counter()
        self.server = self._serve()  # for the streams; not part of the store's reopen time
        return {"seconds": round(done - opening, 3),
                "server_stop_seconds": round(server_stopped - closing, 3),
                "engine_close_seconds": round(opening - server_stopped, 3),
                "constructor_seconds": round(constructed - opening, 3),
                "rearmed": self.engine.core.rearmed}

    def close(self) -> None:
        self.server.stop(grace=1)
        self.engine.close()


def _threads_by_kind() -> dict[str, int]:
    """Live threads by name up to the first ``-`` or ``_`` (ExecutionActor, grpc, ...):
    what each stage's thread count is made of."""
    kinds: dict[str, int] = {}
    for thread in threading.enumerate():
        kind = thread.name.replace("_", "-").split("-")[0]
        kinds[kind] = kinds.get(kind, 0) + 1
    return dict(sorted(kinds.items(), key=lambda item: -item[1]))


def _timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def _in_threads(items: range, threads: int, each: Callable[[int], None]) -> None:
    """Run ``each`` over ``items`` split round-robin across ``threads`` threads; re-raise
    the first failure, so a refused call cannot pass for a fast one."""
    failures: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for i in items[k::threads]:
                each(i)
        except BaseException as error:  # handed to the caller below
            failures.append(error)

    workers = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if failures:
        raise failures[0]


def child_main(data_dir: str, config: Config) -> None:
    """Answer commands until ``quit`` or end of input: ``<method> <json args>``."""
    server = ScaleServer(data_dir, config)
    print(json.dumps(server.measure()), flush=True)
    commands = {"create": server.create, "touch": server.touch,
                "await_streams": server.await_streams, "reopen": server.reopen}
    try:
        for line in sys.stdin:
            name, _, args = line.strip().partition(" ")
            if name == "quit":
                break
            answer = commands[name](*json.loads(args or "[]"))
            print(json.dumps({**answer, **server.measure()}), flush=True)
    finally:
        server.close()


# --- the parent: drives the child, opens the streams ---------------------------------------


class Child:
    """The child process, with a reader thread so every wait for an answer can time out."""

    def __init__(self, data_dir: str, config: Config) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.scale", "--child", data_dir,
             "--config", json.dumps(asdict(config))],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        self._started = time.perf_counter()
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self._guard = threading.Timer(config.budget_seconds, self.proc.kill)
        self._guard.daemon = True
        self._guard.start()

    def age(self) -> float:
        """Seconds since it was started: to its first answer, the server's start-up time."""
        return time.perf_counter() - self._started

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def answer(self, timeout: float) -> dict:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"the child did not answer within {timeout} s") from None
        if line is None:
            raise RuntimeError(f"the child ended (exit code {self.proc.poll()})")
        return json.loads(line)

    def ask(self, command: str, *args: object, timeout: float) -> dict:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{command} {json.dumps(list(args))}\n")
        self.proc.stdin.flush()
        return self.answer(timeout)

    def stop(self) -> None:
        """Ask it to quit; kill it if it does not within 30 s (or is already stuck)."""
        self._guard.cancel()
        try:
            if self.proc.poll() is None and self.proc.stdin is not None:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            pass
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(timeout=10)


def open_streams(address: str, ids: list[str]) -> tuple[StigmerClient, list[object], float]:
    """Open one subscribe stream per id, ``STREAM_BATCH`` at a time, each confirmed by its
    initial metadata. Returns (client, streams, seconds); the caller keeps both alive."""
    raise_idle_stream_wakeup()  # thousands of idle streams here must not poll every 0.1 s
    client = StigmerClient(address, timeout=30)
    streams: list[object] = []
    started = time.perf_counter()
    for start in range(0, len(ids), STREAM_BATCH):
        batch = [client.watch(eid, AGENT) for eid in ids[start:start + STREAM_BATCH]]
        for stream in batch:
            stream.initial_metadata()
        streams.extend(batch)
    return client, streams, time.perf_counter() - started


def _stage(name: str, stored: int, answer: dict, **extra: object) -> dict:
    stage = {"stage": name, "executions_stored": stored, **answer, **extra}
    del stage["address"]
    shown = ", ".join(f"{k} {v}" for k, v in stage.items() if k != "stage")
    print(f"[scale] {name}: {shown}", flush=True)
    return stage


def _drive(child: Child, config: Config) -> list[dict]:
    """The six stages, in order, against a started child."""
    n, t, s = config.executions, config.touched, config.streams
    newest = execution_id(n - 1)
    ready = child.answer(timeout=60)
    stages = [_stage("empty", 0, {**ready, "seconds": round(child.age(), 2)})]
    stages.append(_stage("created", n, child.ask("create", n, timeout=config.budget_seconds)))
    stages.append(_stage("reopen (idle)", n, child.ask("reopen", newest, timeout=120)))
    touched = child.ask("touch", n - t, t, timeout=240)
    stages.append(_stage("touched", n, touched))
    ids = [execution_id(i) for i in range(n - s, n)]
    # Held until the end: grpc cancels a call whose object is garbage-collected.
    client, _streams, seconds = open_streams(touched["address"], ids)
    try:
        answer = child.ask("await_streams", s, 30, timeout=60)
        if not answer.pop("registered"):
            raise RuntimeError(f"only {answer['streams']} of {s} streams registered")
        stages.append(_stage("streams", n, {**answer, "seconds": round(seconds, 2)},
                             streams_per_s=round(s / seconds)))
        stages.append(_stage("reopen (loaded)", n, child.ask("reopen", newest, timeout=120)))
    finally:
        client.close()
    return stages


def _derived(stages: list[dict], config: Config) -> dict:
    """Per-item costs, from the differences between consecutive stages."""
    by = {s["stage"]: s for s in stages}

    def per(item: str, before: str, after: str, count: int) -> dict:
        rss = (by[after]["rss_mb"] - by[before]["rss_mb"]) * 1024 / count
        threads = (by[after]["threads"] - by[before]["threads"]) / count
        return {f"kb_per_{item}": round(rss, 1), f"threads_per_{item}": round(threads, 2)}

    return {
        "creates_per_s": by["created"]["creates_per_s"],
        **per("stored_execution", "empty", "created", config.executions),
        **per("live_actor", "reopen (idle)", "touched", config.touched),
        **per("stream", "touched", "streams", config.streams),
    }


def run(quick: bool) -> dict:
    """Run every stage in a fresh child over a fresh data directory."""
    config = QUICK if quick else FULL
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    with TemporaryDirectory(prefix="bench-scale-") as tmp:
        child = Child(str(Path(tmp) / "data"), config)
        try:
            stages = _drive(child, config)
        finally:
            child.stop()
    columns = ("stage", "executions_stored", "live_actors", "streams", "rss_mb", "threads", "seconds")
    return {
        "config": {**asdict(config), "stream_batch": STREAM_BATCH, "pending_timeout": 0,
                   "heartbeat_timeout": 0},
        "stages": stages,
        "derived": _derived(stages, config),
        "wall_seconds": round(time.perf_counter() - started, 1),
        "load_average_1min": {"before": load_before, "after": os.getloadavg()[0]},
        "table": [{c: s[c] for c in columns} for s in stages],
    }


def plot(result: dict, path: Path) -> None:
    """Two bar charts over the stages: the server's RSS, and its thread count."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["table"]
    labels = [f"{r['stage']}\n{r['seconds']:g} s" for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8))
    for ax, key, title, color in (
        (axes[0], "rss_mb", "server RSS (MB)", "tab:blue"),
        (axes[1], "threads", "server threads", "tab:orange"),
    ):
        values = [r[key] for r in rows]
        bars = ax.bar(range(len(rows)), values, color=color)
        ax.bar_label(bars, labels=[f"{v:g}" for v in values], fontsize=8)
        ax.set_xticks(range(len(rows)), labels, fontsize=8)
        ax.set_title(title)
        ax.margins(y=0.12)
    c = result["config"]
    fig.suptitle(
        f"Scale and memory: {c['executions']:,} stored, {c['touched']:,} live actors, "
        f"{c['streams']:,} streams (time under each stage: how long it took)"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--plot", type=Path, help="also write the chart to this PNG")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args.child, Config(**json.loads(args.config)))
        return
    result = run(args.quick)
    print(json.dumps(result, indent=1))
    if args.plot:
        plot(result, args.plot)


if __name__ == "__main__":
    main()
