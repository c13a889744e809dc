"""Scenario 1, fan-out latency: one execution, N watchers, paced updates, five systems.

Latency of an (update, subscriber) pair: the updater's wall clock just before it sends the
update -> the subscriber has parsed the resulting state (same machine, same clock). Per N
we report p50 / p99 / max over all pairs and p50 / p99 of the LAST subscriber per update
(when fan-out completes). Updates are paced: the next one is sent after every subscriber
has the previous one, plus a 2 ms pause, so we measure latency, not queueing.

Systems, all with the same ~2 KB serialized AgentExecution:
- ``stigmer-grpc``: the daemon in its own process; watchers are real gRPC streams in
  ``CLIENT_PROCESSES`` client processes (one channel each); updates are updateStatus RPCs.
- ``bare-grpc``: the floor for the above: a grpcio server with identity serializers, a
  queue per stream and a ``publish`` RPC that puts the same bytes in every queue.
- ``redis``: a real ``redis-server`` on loopback; HSET + PUBLISH per update (one pipelined
  round trip); N pub/sub connections in the client processes.
- ``stigmer-embedded``: the engine in this process; N subscriptions, a thread each.
- ``queue-floor``: N threads, each blocked on its own ``queue.SimpleQueue``: the cost of
  waking N threads in one process, no engine at all.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.common import PAYLOAD, pct, raise_idle_stream_wakeup
from bench.daemon import BenchDaemon
from stigmer_actors import Engine, wire

CLIENT_PROCESSES = 2  # one per core
PAUSE = 0.002
FULL = {1: 100, 10: 100, 100: 100, 1000: 40, 3000: 15}  # N -> paced updates
QUICK = {1: 20, 10: 20}
SYSTEMS = ("stigmer-grpc", "bare-grpc", "redis", "stigmer-embedded", "queue-floor")
BARE_SERVICE = "/bench.Fanout/"


def state_bytes(version: int) -> bytes:
    """The state a floor system broadcasts: an execution like ours, ~2 KB."""
    execution = wire.AgentExecution(
        metadata={"id": "aex-bench"}, spec={"message": "m", "session_id": "s"},
        status=wire.AgentExecutionStatus(error=str(version), started_at=PAYLOAD, version=version),
    )
    return execution.SerializeToString()


def version_of(data: bytes) -> int:
    return wire.AgentExecution.FromString(data).status.version


# --- the floors' servers -------------------------------------------------------------

def _bare_server(port_out: Any, max_streams: int) -> None:
    """A grpcio fan-out with no engine: ``subscribe`` streams, ``publish`` fills queues."""
    import grpc

    streams: set[queue.SimpleQueue] = set()
    lock = threading.Lock()

    def subscribe(request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
        mine: queue.SimpleQueue = queue.SimpleQueue()
        with lock:
            streams.add(mine)
        context.add_callback(lambda: mine.put(None))
        try:
            yield b""  # the stream is registered
            while (data := mine.get()) is not None:
                yield data
        finally:
            with lock:
                streams.discard(mine)

    def publish(request: bytes, context: grpc.ServicerContext) -> bytes:
        with lock:
            targets = list(streams)
        for q in targets:
            q.put(request)
        return b""

    server = grpc.server(ThreadPoolExecutor(max_workers=max_streams + 32))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("bench.Fanout", {
        "subscribe": grpc.unary_stream_rpc_method_handler(subscribe),
        "publish": grpc.unary_unary_rpc_method_handler(publish),
    }),))
    port_out.put(server.add_insecure_port("127.0.0.1:0"))
    server.start()
    server.wait_for_termination()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- watchers in client processes ----------------------------------------------------

def _open(spec: tuple) -> tuple[Iterator[int], Callable[[], None]]:
    """One watcher of ``spec``'s system: an iterator of received versions and a closer."""
    kind = spec[0]
    if kind == "stigmer-grpc":
        from stigmer_actors.client import StigmerClient

        client: StigmerClient = spec[-1]
        stream = client.watch(spec[2])
        next(stream)  # the first state: registered
        return (m.status.version for m in stream), stream.cancel
    if kind == "bare-grpc":
        channel = spec[-1]
        stream = channel.unary_stream(BARE_SERVICE + "subscribe")(b"")
        next(stream)
        return (version_of(d) for d in stream), stream.cancel
    if kind == "redis":
        pubsub = spec[-1].pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe("execution")
        pubsub.get_message(timeout=10)  # the subscribe confirmation: registered
        return (version_of(m["data"]) for m in pubsub.listen() if m["type"] == "message"), pubsub.close
    raise ValueError(kind)


def _connect(spec: tuple) -> tuple:
    """Per process: one channel (gRPC) or one connection pool (Redis) shared by its watchers,
    appended to ``spec`` (``_open`` finds it last)."""
    if spec[0] == "stigmer-grpc":
        from stigmer_actors.client import StigmerClient

        return (*spec, StigmerClient(spec[1], timeout=60))
    if spec[0] == "bare-grpc":
        import grpc

        return (*spec, grpc.insecure_channel(spec[1]))
    import redis

    return (*spec, redis.Redis(host="127.0.0.1", port=spec[1], max_connections=5000))


def _watchers(spec: tuple, n: int, last: int, ready: Any, everyone: Any, out: Any) -> None:
    """A client process: ``n`` watchers; reports each version once all ``n`` have it."""
    raise_idle_stream_wakeup()
    try:
        spec = _connect(spec)
        opened = [_open(spec) for _ in range(n)]  # sequential, so no accept-backlog storm
    except Exception:  # the parent raises it
        import traceback

        ready.put(traceback.format_exc())
        return
    received: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    counts: dict[int, int] = {}
    lock = threading.Lock()

    def follow(k: int) -> None:
        versions, close = opened[k]
        for version in versions:
            received[k].append((version, time.time_ns()))
            with lock:
                counts[version] = counts.get(version, 0) + 1
                if counts[version] == n:
                    everyone.put(version)
            if version >= last:
                break
        close()

    threads = [threading.Thread(target=follow, args=(k,), daemon=True) for k in range(n)]
    for t in threads:
        t.start()
    ready.put(True)
    for t in threads:
        t.join(timeout=600)
    out.put(received)


# --- one measurement ---------------------------------------------------------------

def _pace(updates: int, send: Callable[[int], None], wait_all: Callable[[int], None]) -> dict[int, int]:
    """Send versions 2..updates+1, each after everyone has the previous; returns send times."""
    sent: dict[int, int] = {}
    for version in range(2, updates + 2):
        sent[version] = time.time_ns()
        send(version)
        wait_all(version)
        time.sleep(PAUSE)  # a pause between rounds, not a synchronization
    return sent


def _summarize(system: str, n: int, sent: dict[int, int], received: list[list[tuple[int, int]]]) -> dict:
    pairs: list[float] = []
    last: dict[int, float] = {}
    for stream in received:
        for version, at in stream:
            if version in sent:
                delay = (at - sent[version]) / 1e6
                pairs.append(delay)
                last[version] = max(last.get(version, 0.0), delay)
    return {
        "system": system, "subscribers": n, "updates": len(sent), "pairs": len(pairs),
        "p50_ms": pct(pairs, 50), "p99_ms": pct(pairs, 99), "max_ms": pct(pairs, 100),
        "last_p50_ms": pct(list(last.values()), 50), "last_p99_ms": pct(list(last.values()), 99),
    }


def _remote(system: str, spec: tuple, n: int, updates: int, send: Callable[[int], None]) -> dict:
    """Watchers split over the client processes; ``send(version)`` makes the update."""
    ctx = mp.get_context("spawn")
    ready, everyone, out = ctx.Queue(), ctx.Queue(), ctx.Queue()
    shares = [n // CLIENT_PROCESSES + (k < n % CLIENT_PROCESSES) for k in range(CLIENT_PROCESSES)]
    shares = [s for s in shares if s]
    procs = [ctx.Process(target=_watchers, args=(spec, s, updates + 1, ready, everyone, out))
             for s in shares]
    try:
        for p in procs:
            p.start()
        for _ in procs:
            status = ready.get(timeout=300)
            if status is not True:
                raise RuntimeError(f"{system} watchers failed to start:\n{status}")
        done: dict[int, int] = {}

        def wait_all(version: int) -> None:
            while done.get(version, 0) < len(procs):
                v = everyone.get(timeout=60)
                done[v] = done.get(v, 0) + 1

        sent = _pace(updates, send, wait_all)
        received = [stream for _ in procs for stream in out.get(timeout=120)]
        return _summarize(system, n, sent, received)
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()


def _local(system: str, n: int, updates: int, subscribe: Callable[[], Iterator[int]],
           send: Callable[[int], None]) -> dict:
    """Watchers as threads of this process (embedded engine, queue floor)."""
    received: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    counts: dict[int, int] = {}
    cond = threading.Condition()
    streams = [subscribe() for _ in range(n)]

    def follow(k: int) -> None:
        for version in streams[k]:
            received[k].append((version, time.time_ns()))
            with cond:
                counts[version] = counts.get(version, 0) + 1
                if counts[version] == n:
                    cond.notify_all()
            if version >= updates + 1:
                return

    threads = [threading.Thread(target=follow, args=(k,), daemon=True) for k in range(n)]
    for t in threads:
        t.start()

    def wait_all(version: int) -> None:
        with cond:
            if not cond.wait_for(lambda: counts.get(version, 0) >= n, timeout=60):
                raise TimeoutError(f"{system}: version {version} did not reach all {n}")

    sent = _pace(updates, send, wait_all)
    for t in threads:
        t.join(timeout=60)
    return _summarize(system, n, sent, received)


# --- the five systems --------------------------------------------------------------

def _stigmer_grpc(n: int, updates: int) -> dict:
    from stigmer_actors.client import StigmerClient

    daemon = BenchDaemon("--max-streams", str(max(n, 1) + 100), "--pending-timeout", "0",
                         "--heartbeat-timeout", "0")
    try:
        with StigmerClient(daemon.address, timeout=60) as client:
            eid = client.create_agent("m", session_id="s").metadata.id
            status = lambda v: wire.AgentExecutionStatus(error=str(v), started_at=PAYLOAD)  # noqa: E731
            return _remote("stigmer-grpc", ("stigmer-grpc", daemon.address, eid), n, updates,
                           lambda v: client.update_status(eid, status(v)))
    finally:
        daemon.stop()


def _bare_grpc(n: int, updates: int) -> dict:
    import grpc

    ctx = mp.get_context("spawn")
    port_out = ctx.Queue()
    server = ctx.Process(target=_bare_server, args=(port_out, n + 10), daemon=True)
    server.start()
    try:
        address = f"127.0.0.1:{port_out.get(timeout=60)}"
        channel = grpc.insecure_channel(address)
        publish = channel.unary_unary(BARE_SERVICE + "publish")
        states = {v: state_bytes(v) for v in range(2, updates + 2)}
        result = _remote("bare-grpc", ("bare-grpc", address), n, updates,
                         lambda v: publish(states[v], timeout=60))
        channel.close()
        return result
    finally:
        server.kill()


def _redis(n: int, updates: int) -> dict:
    import redis

    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="stigmer-bench-redis-") as tmp:
        proc = subprocess.Popen(
            [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly",
             "no", "--maxclients", "10000", "--dir", tmp],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            r = redis.Redis(host="127.0.0.1", port=port)
            for _ in range(200):  # bounded: up to ~10 s for the server to accept
                try:
                    r.ping()
                    break
                except redis.ConnectionError:
                    time.sleep(0.05)
            states = {v: state_bytes(v) for v in range(2, updates + 2)}

            def send(v: int) -> None:
                pipe = r.pipeline(transaction=False)
                pipe.hset("executions", "aex-bench", states[v])
                pipe.publish("execution", states[v])
                pipe.execute()

            return _remote("redis", ("redis", port), n, updates, send)
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def _embedded(n: int, updates: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="stigmer-bench-") as tmp, \
            Engine(tmp, pending_timeout=0, heartbeat_timeout=0) as engine:
        eid = engine.create(wire.AgentExecution(spec={"message": "m", "session_id": "s"})).metadata.id

        def subscribe() -> Iterator[int]:
            subscription = engine.subscribe(eid)
            subscription.get(timeout=10)  # the first state
            return (m.status.version for m in subscription)

        return _local("stigmer-embedded", n, updates, subscribe, lambda v: engine.update_status(
            eid, wire.AgentExecutionStatus(error=str(v), started_at=PAYLOAD)))


def _queue_floor(n: int, updates: int) -> dict:
    queues: list[queue.SimpleQueue] = []
    states = {v: state_bytes(v) for v in range(2, updates + 2)}

    def subscribe() -> Iterator[int]:
        mine: queue.SimpleQueue = queue.SimpleQueue()
        queues.append(mine)
        return (version_of(mine.get()) for _ in iter(int, 1))

    def send(v: int) -> None:
        for q in queues:
            q.put(states[v])

    return _local("queue-floor", n, updates, subscribe, send)


RUNNERS: dict[str, Callable[[int, int], dict]] = {
    "stigmer-grpc": _stigmer_grpc, "bare-grpc": _bare_grpc, "redis": _redis,
    "stigmer-embedded": _embedded, "queue-floor": _queue_floor,
}


def run(quick: bool) -> dict:
    plan = QUICK if quick else FULL
    results = []
    skipped = {}
    if quick and shutil.which("redis-server") is None:
        # The smoke run must work on a bare machine (the README's test command); the full
        # run, and CI (.ci/run installs redis-server), compare with Redis for real.
        skipped["redis"] = "redis-server is not installed"
    for n, updates in plan.items():
        for system in SYSTEMS:
            if system in skipped:
                continue
            t0 = time.perf_counter()
            row = RUNNERS[system](n, updates)
            row["seconds"] = round(time.perf_counter() - t0, 1)
            results.append(row)
            print(f"  fanout {system:17} N={n:<5} p50 {row['p50_ms']:8.2f} ms  p99 "
                  f"{row['p99_ms']:8.2f}  last p50 {row['last_p50_ms']:8.2f}  last p99 "
                  f"{row['last_p99_ms']:8.2f}  ({row['seconds']} s)", flush=True)
    _add_ratios(results)
    return {"config": {"plan": plan, "client_processes": CLIENT_PROCESSES, "pause_s": PAUSE},
            "skipped": skipped, "results": results, "table": results}


def _add_ratios(results: list[dict]) -> None:
    """Each stigmer row's ratio to the bare gRPC floor and to Redis at the same N."""
    by = {(r["system"], r["subscribers"]): r for r in results}
    for r in results:
        if not r["system"].startswith("stigmer"):
            continue
        for peer, tag in (("bare-grpc", "vs_bare"), ("redis", "vs_redis")):
            other = by.get((peer, r["subscribers"]))
            if other:
                for key in ("p50_ms", "last_p50_ms", "last_p99_ms"):
                    r[f"{key[:-3]}_{tag}"] = round(r[key] / other[key], 2) if other[key] else None


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    for ax, key, title in zip(axes, ("p50_ms", "last_p50_ms", "last_p99_ms"),
                              ("p50, all (update, subscriber) pairs", "p50, last subscriber",
                               "p99, last subscriber")):
        for system in SYSTEMS:
            rows = [r for r in result["results"] if r["system"] == system]
            if not rows:
                continue
            ax.plot([r["subscribers"] for r in rows], [r[key] for r in rows], marker="o",
                    label=system, linestyle="--" if system in ("bare-grpc", "queue-floor") else "-")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("subscribers (N)")
        ax.set_ylabel("ms")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend()
    fig.suptitle("update -> subscriber latency, one execution, paced updates (lower is better)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
