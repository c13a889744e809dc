"""updateStatus round trips over gRPC, and update -> subscriber latency, against the daemon.

    python -m bench.edge_figures [--rounds 200]

The daemon runs in its own process; writers run in this one; subscribers run in a separate
client process (one channel, one thread per stream). Latency is the subscriber's receive
time minus the updater's time taken just before its updateStatus call (one machine, one
wall clock). Updates are paced: the next is sent after every subscriber has the previous
one. Results: printed, and written as JSON under bench/results/.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import statistics
import threading
import time
from pathlib import Path

import grpc

from bench.daemon import BenchDaemon
from stigmer_actors import wire
from stigmer_actors.client import StigmerClient

RESULTS = Path(__file__).parent / "results"
PAYLOAD = "x" * 1500  # with the rest of the execution: about 2 KB serialized


def _status(i: int) -> wire.AgentExecutionStatus:
    return wire.AgentExecutionStatus(error=f"{i}", started_at=PAYLOAD)


def round_trips(address: str, threads: int, seconds: float) -> float:
    with StigmerClient(address) as client:
        ids = [client.create_agent("m", session_id="s").metadata.id for _ in range(threads)]
        stop = time.monotonic() + seconds
        counts = [0] * threads

        def run(k: int) -> None:
            i = 0
            while time.monotonic() < stop:
                client.update_status(ids[k], _status(i))
                i += 1
            counts[k] = i

        workers = [threading.Thread(target=run, args=(k,)) for k in range(threads)]
        t0 = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        return sum(counts) / (time.perf_counter() - t0)


def _subscriber_process(address: str, eid: str, n: int, ready, everyone, out) -> None:  # noqa: ANN001
    import grpc._common

    grpc._common.MAXIMUM_WAIT_TIMEOUT = 3600.0  # idle streams must not poll every 0.1 s
    client = StigmerClient(address)
    received: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    started = threading.Barrier(n + 1)
    counts: dict[int, int] = {}
    lock = threading.Lock()

    def follow(k: int) -> None:
        stream = client.watch(eid)
        first = next(stream)
        received[k].append((first.status.version, time.time_ns()))
        started.wait()
        for state in stream:
            received[k].append((state.status.version, time.time_ns()))
            with lock:
                counts[state.status.version] = counts.get(state.status.version, 0) + 1
                if counts[state.status.version] == n:
                    everyone.put(state.status.version)  # the updater may send the next one

    threads = [threading.Thread(target=follow, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    started.wait()
    ready.set()
    for t in threads:
        t.join()
    out.put(received)


def latency(address: str, subscribers: int, rounds: int) -> dict:
    with StigmerClient(address) as client:
        eid = client.create_agent("m", session_id="s").metadata.id
        ctx = mp.get_context("spawn")
        ready, everyone, out = ctx.Event(), ctx.Queue(), ctx.Queue()
        proc = ctx.Process(
            target=_subscriber_process, args=(address, eid, subscribers, ready, everyone, out)
        )
        proc.start()
        ready.wait(60)
        sent: dict[int, int] = {}
        for i in range(rounds):
            t = time.time_ns()
            version = client.update_status(eid, _status(i)).status.version
            sent[version] = t
            while everyone.get(timeout=30) != version:  # paced: everyone has it
                pass
            time.sleep(0.002)  # then a short pause, so updates don't overlap
        t = time.time_ns()
        sent[client.update_status(eid, wire.AgentExecutionStatus(phase=3)).status.version] = t
        received = out.get(timeout=120)
        proc.join(60)
    pairs, last = [], {}
    for stream in received:
        for version, at in stream:
            if version in sent:
                delay = (at - sent[version]) / 1e6
                pairs.append(delay)
                last[version] = max(last.get(version, 0.0), delay)
    return {
        "subscribers": subscribers,
        "updates": len(sent),
        "pairs": len(pairs),
        "p50_ms": _pct(pairs, 50),
        "p99_ms": _pct(pairs, 99),
        "max_ms": max(pairs),
        "last_subscriber_p50_ms": _pct(list(last.values()), 50),
        "last_subscriber_p99_ms": _pct(list(last.values()), 99),
    }


def _pct(values: list[float], p: float) -> float:
    return round(statistics.quantiles(values, n=100, method="inclusive")[p - 1] if p < 100 else max(values), 3)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    daemon = BenchDaemon()
    try:
        result = {
            "machine": {"cpus": mp.cpu_count(), "python": platform.python_version(),
                        "grpcio": grpc.__version__},
            "round_trips_per_s": {t: round(round_trips(daemon.address, t, args.seconds)) for t in (1, 16)},
            "latency": [latency(daemon.address, n, args.rounds) for n in (1, 100)],
        }
    finally:
        daemon.stop()
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"edge_figures-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
