"""Scenario ``cluster``: PostgreSQL cluster mode next to the embedded RocksDB mode, one run.

A real PostgreSQL (``tests/postgres.py``: Debian's server, a temporary directory, loopback)
and real daemons in their own processes; every figure of a row comes from the same run.

- ``throughput``: aggregate updateStatus/s over gRPC on 1,000 executions from
  ``CLIENT_PROCESSES`` x ``THREADS`` client threads (raw request bytes, one channel per
  process), for a RocksDB node, one PostgreSQL node, and two PostgreSQL nodes with the
  clients split between them.
- ``latency``: paced updates on node A, ``N`` watchers (1 and 100) on node B (cross-node),
  and the same with the watchers on node A (same-node): from the updater's call to each
  watcher having parsed the state; p50 and p99 over all (update, watcher) pairs.
- ``conflicts``: 16 writer threads sprayed over two nodes on 10 executions (each call to a
  node and an execution picked at random): updates/s, conflicts/s
  (``stigmer_write_conflicts_total``: writes applied again because the other node wrote
  first) and calls answered UNAVAILABLE.
- where the time goes: each throughput row has the CPU the nodes, PostgreSQL's backends and
  the client processes used per update and in cores, and how busy the machine was;
  ``round_trip`` is one PostgreSQL round trip's cost (a cross-node change pays three more
  than a same-node one).

The issue's goals (reported, never asserted): one PostgreSQL node >= 0.8x the RocksDB
node's throughput; two nodes >= 1.4x one node; cross-node p50 <= 3 ms at N = 1.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import re
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import grpc

from bench.common import PAYLOAD, pct
from bench.daemon import BenchDaemon
from stigmer_actors import wire

CLIENT_PROCESSES = 2
THREADS = 8
EXECUTIONS = 1000
METHOD = "/ai.stigmer.agentic.agentexecution.v1.AgentExecutionCommandController/updateStatus"
SUBSCRIBE = "/ai.stigmer.agentic.agentexecution.v1.AgentExecutionQueryController/subscribe"


def _request(execution_id: str, i: int) -> bytes:
    return wire.agent_io.AgentExecutionUpdateStatusInput(
        execution_id=execution_id,
        status=wire.AgentExecutionStatus(error=str(i), started_at=PAYLOAD),
    ).SerializeToString()


def _load(address: str, ids: list[str], seconds: float, out: mp.Queue) -> None:
    """Client process: THREADS threads, updateStatus round-robin over ``ids`` for ``seconds``."""
    channel = grpc.insecure_channel(address)
    call = channel.unary_unary(METHOD)
    counts = [0] * THREADS
    deadline = time.monotonic() + seconds

    def loop(k: int) -> None:
        i = k
        while time.monotonic() < deadline:
            call(_request(ids[i % len(ids)], i), timeout=30)
            i += THREADS
            counts[k] += 1

    threads = [threading.Thread(target=loop, args=(k,)) for k in range(THREADS)]
    began, cpu = time.perf_counter(), time.process_time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put((sum(counts), time.perf_counter() - began, time.process_time() - cpu))
    channel.close()


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of process ``pid`` (all its threads) so far; 0 once it is gone."""
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(parent: int) -> list[int]:
    """The processes whose parent is ``parent`` (PostgreSQL's backends and workers)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == parent:
                found.append(int(entry))
    return found


def _machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far (/proc/stat)."""
    values = [int(v) for v in open("/proc/stat").readline().split()[1:]]
    idle = values[3] + values[4]
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(values) - idle) / tick, sum(values) / tick


def throughput(addresses: list[str], ids: list[str], seconds: float, nodes: list[int],
               postmaster: int | None) -> dict:
    """Aggregate updates/s: CLIENT_PROCESSES processes, spread evenly over ``addresses``; and
    where the CPU went meanwhile (cores used by the nodes, PostgreSQL and the clients, and
    the machine's busy share), so a ratio below a goal shows whose time it was."""
    ctx = mp.get_context("spawn")
    out: mp.Queue = ctx.Queue()
    procs = [ctx.Process(target=_load, args=(addresses[k % len(addresses)], ids, seconds, out))
             for k in range(CLIENT_PROCESSES)]
    pg = _children(postmaster) if postmaster else []
    node_cpu = sum(_cpu_seconds(p) for p in nodes)
    pg_cpu = {p: _cpu_seconds(p) for p in pg}
    busy, total = _machine_busy()
    for p in procs:
        p.start()
    results = [out.get(timeout=seconds + 120) for _ in procs]
    busy, total = _machine_busy()[0] - busy, _machine_busy()[1] - total
    node_cpu = sum(_cpu_seconds(p) for p in nodes) - node_cpu
    pg_after = _children(postmaster) if postmaster else []
    pg_used = sum(_cpu_seconds(p) - pg_cpu.get(p, 0.0) for p in pg_after)
    for p in procs:
        p.join(30)
    calls = sum(r[0] for r in results)
    elapsed = max(r[1] for r in results)
    client_cpu = sum(r[2] for r in results)
    per_update = 1e6 / max(calls, 1)
    return {
        "updates_per_s": sum(r[0] / r[1] for r in results),
        "cpu_us_per_update": {"nodes": round(node_cpu * per_update), "postgres": round(pg_used * per_update),
                              "clients": round(client_cpu * per_update)},
        "cores_used": {"nodes": round(node_cpu / elapsed, 2), "postgres": round(pg_used / elapsed, 2),
                       "clients": round(client_cpu / elapsed, 2)},
        "machine_busy": round(busy / total, 3) if total else 0.0,
    }


def _create(address: str, count: int) -> list[str]:
    from stigmer_actors.client import StigmerClient

    with StigmerClient(address) as client:
        return [client.create_agent(f"m{i}", session_id="s").metadata.id for i in range(count)]


def latency(update_at: str, watch_at: str, watchers: int, updates: int) -> list[float]:
    """ms from the updater's call to each watcher's parse, over paced updates."""
    from stigmer_actors.client import StigmerClient

    with StigmerClient(update_at) as writer:
        eid = writer.create_agent("latency", session_id="s").metadata.id
        channel = grpc.insecure_channel(watch_at, options=[("grpc.http2.bdp_probe", 0)])
        subscribe = channel.unary_stream(SUBSCRIBE)
        request = wire.agent_io.AgentExecutionId(value=eid).SerializeToString()
        seen: list[dict[int, float]] = [{} for _ in range(watchers)]
        got = threading.Condition()

        def watch(k: int, stream: Any) -> None:
            try:
                for data in stream:
                    version = wire.AgentExecution.FromString(data).status.version
                    with got:
                        seen[k][version] = time.perf_counter()
                        got.notify_all()
            except grpc.RpcError as error:
                if error.code() != grpc.StatusCode.CANCELLED:  # cancelled: the run is over
                    raise

        streams = [subscribe(request) for _ in range(watchers)]
        threads = [threading.Thread(target=watch, args=(k, s), daemon=True) for k, s in enumerate(streams)]
        for t in threads:
            t.start()
        with got:
            assert got.wait_for(lambda: all(1 in s for s in seen), 60), "watchers did not start"
        samples: list[float] = []
        for i in range(updates):
            sent = time.perf_counter()
            status = wire.AgentExecutionStatus(error=str(i), started_at=PAYLOAD)
            version = writer.update_status(eid, status).status.version
            with got:
                # called within this iteration: `version` is this one's
                assert got.wait_for(lambda: all(version in s for s in seen), 60), "an update never arrived"  # noqa: B023
            samples += [(s[version] - sent) * 1000 for s in seen]
            time.sleep(0.002)  # pacing: the next update after everyone has this one
        for s in streams:
            s.cancel()
        channel.close()
    return samples


def round_trips(dsn: str, count: int = 500) -> dict:
    """What one PostgreSQL round trip costs here (ms, p50): a ``SELECT 1`` and a
    ``pg_notify``; a cross-node change pays three of them (the NOTIFY, the read of the
    finished changes, the read of the watched states) on top of the same-node path."""
    import psycopg

    out = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        for name, sql in (("select_1", "SELECT 1"), ("notify", "SELECT pg_notify('bench', '')")):
            samples = []
            for _ in range(count):
                began = time.perf_counter()
                conn.execute(sql).fetchall()
                samples.append((time.perf_counter() - began) * 1000)
            out[f"{name}_p50_ms"] = pct(samples, 50)
    return out


def scrape(metrics_address: str, name: str) -> float:
    text = urllib.request.urlopen(f"http://{metrics_address}/metrics", timeout=10).read().decode()
    match = re.search(rf"^{name} ([0-9.e+]+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


def conflicts(nodes: list[BenchDaemon], metrics: list[str], seconds: float) -> dict:
    from stigmer_actors.client import StigmerClient

    clients = [StigmerClient(n.address) for n in nodes]
    ids = [clients[0].create_agent(f"c{i}", session_id="s").metadata.id for i in range(10)]
    before = sum(scrape(m, "stigmer_write_conflicts_total") for m in metrics)
    done, refused = [0], [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def loop(k: int) -> None:
        i = k
        pick = random.Random(k)  # any node, any execution: both nodes write every execution
        while time.monotonic() < deadline:
            try:
                pick.choice(clients).update_status(pick.choice(ids),
                                                   wire.AgentExecutionStatus(error=str(i)))
                with lock:
                    done[0] += 1
            except grpc.RpcError as error:
                if error.code() != grpc.StatusCode.UNAVAILABLE:
                    raise
                with lock:
                    refused[0] += 1
            i += 16

    began = time.perf_counter()
    threads = [threading.Thread(target=loop, args=(k,)) for k in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    after = sum(scrape(m, "stigmer_write_conflicts_total") for m in metrics)
    for c in clients:
        c.close()
    return {"updates_per_s": round(done[0] / elapsed), "conflicts_per_s": round((after - before) / elapsed),
            "unavailable": refused[0]}


@contextmanager
def postgres() -> Iterator[Any]:
    from tests.postgres import PostgresServer

    server = PostgresServer()
    try:
        yield server
    finally:
        server.close()


def _nodes(count: int, store: str | None, metrics: bool = False) -> tuple[list[BenchDaemon], list[str]]:
    nodes, scrapes = [], []
    for _ in range(count):
        extra = ["--no-runner", "--pending-timeout", "0", "--heartbeat-timeout", "0"]
        if metrics:
            port = __import__("tests.postgres", fromlist=["free_port"]).free_port()
            extra += ["--metrics-address", f"127.0.0.1:{port}"]
            scrapes.append(f"127.0.0.1:{port}")
        nodes.append(BenchDaemon(*extra, store=store))
    return nodes, scrapes


def run(quick: bool) -> dict:
    seconds = 3.0 if quick else 15.0
    updates = 20 if quick else 200
    counts = (1, 10) if quick else (1, 100)
    executions = 50 if quick else EXECUTIONS
    table: list[dict] = []
    with postgres() as pg:
        rows: dict[str, dict] = {}
        rocks, _ = _nodes(1, None)
        try:
            ids = _create(rocks[0].address, executions)
            rows["rocksdb, 1 node"] = throughput([rocks[0].address], ids, seconds, [rocks[0].proc.pid], None)
        finally:
            rocks[0].stop()
        for count in (1, 2):
            dsn = pg.dsn(pg.create_database())
            nodes, _ = _nodes(count, dsn)
            try:
                ids = _create(nodes[0].address, executions)
                rows[f"postgres, {count} node{'s' if count > 1 else ''}"] = throughput(
                    [n.address for n in nodes], ids, seconds, [n.proc.pid for n in nodes], pg.pid)
            finally:
                for n in nodes:
                    n.stop()
        base = rows["rocksdb, 1 node"]["updates_per_s"]
        for system, row in rows.items():
            table.append({"measure": "throughput", "system": system, **row,
                          "updates_per_s": round(row["updates_per_s"]),
                          "ratio_to_rocksdb": round(row["updates_per_s"] / base, 3)})
        one = rows["postgres, 1 node"]["updates_per_s"]
        table[-1]["ratio_to_one_postgres_node"] = round(rows["postgres, 2 nodes"]["updates_per_s"] / one, 3)

        dsn = pg.dsn(pg.create_database())
        nodes, metrics = _nodes(2, dsn, metrics=True)
        try:
            a, b = nodes[0].address, nodes[1].address
            for n in counts:
                for where, watch_at in (("cross-node", b), ("same-node", a)):
                    samples = latency(a, watch_at, n, updates)
                    table.append({"measure": "latency", "system": where, "watchers": n,
                                  "p50_ms": pct(samples, 50), "p99_ms": pct(samples, 99)})
            table.append({"measure": "conflicts", "system": "postgres, 2 nodes, 10 executions",
                          **conflicts(nodes, metrics, seconds)})
            table.append({"measure": "round_trip", "system": "postgres", **round_trips(dsn)})
        finally:
            for n in nodes:
                n.stop()
    for row in table:
        print("  " + ", ".join(f"{k} {v}" for k, v in row.items()), flush=True)
    return {"config": {"seconds": seconds, "updates": updates, "executions": executions,
                       "client_processes": CLIENT_PROCESSES, "threads": THREADS},
            "table": table}


def plot(result: dict, png: Any) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["table"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    tput = [r for r in rows if r["measure"] == "throughput"]
    left.bar([r["system"] for r in tput], [r["updates_per_s"] for r in tput], color="tab:blue")
    left.set_ylabel("updateStatus/s over gRPC (1,000 executions)")
    left.tick_params(axis="x", labelrotation=15)
    lat = [r for r in rows if r["measure"] == "latency"]
    labels = [f"{r['system']}\nN={r['watchers']}" for r in lat]
    right.bar(labels, [r["p50_ms"] for r in lat], color="tab:green", label="p50")
    right.scatter(labels, [r["p99_ms"] for r in lat], color="black", label="p99", zorder=3)
    right.set_ylabel("update -> watcher (ms)")
    right.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)
