"""What an API key costs on the hot path: gRPC updateStatus/s with a key vs without.

    python -m bench.auth_cost [--rounds 40] [--updates 800] [--threads 1,16]

One server process holds one engine and serves it on two ports: ``plain`` (no keys) and
``keyed`` (``--api-keys``' check: the server's interceptor looks up the key of every
call). This process is the client: ``StigmerClient`` without a key on the plain port, with a
runner key (sent on every call) on the keyed one. Both sides share everything but the
check (process, engine, store, machine), so the difference is the check's: two separate
daemons differed by more than the effect in earlier runs of this bench, whichever one had
the keys.

Each round measures both at each thread count, the order alternating between rounds: a
batch of a fixed number of updateStatus calls (split over the threads) on one hot execution
per side, with the same ~2 KB status as the ``throughput`` scenario. Short batches side by
side keep a round's two measurements close in time, so a neighbour's load hits both.
Reported per thread count: the median of the per-round keyed/plain throughput ratios with a
95 % bootstrap interval and their range (the goal: >= 0.95), and the CPU time per call of
the server process and of this client process (less moved by the machine's load than
throughput is). Writes JSON under bench/results/. Figures are reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import psutil

from bench.common import PAYLOAD, RESULTS, machine
from bench.metrics_overhead import paired
from stigmer_actors import wire
from stigmer_actors.client import Credentials, StigmerClient

GOAL = 0.95
STARTUP_TIMEOUT = 60.0


def _serve(out: mp.connection.Connection, stop: mp.synchronize.Event) -> None:  # type: ignore[name-defined]
    """Child process: one engine served on a plain port and a keyed one."""
    from stigmer_actors import Engine
    from stigmer_actors.grpc_edge.server import EdgeServer
    from stigmer_actors.observability import Metrics
    from stigmer_actors.security import keys
    from stigmer_actors.security.keyring import KeyRing

    with tempfile.TemporaryDirectory(prefix="stigmer-bench-keys-") as tmp:
        path = Path(tmp) / "api-keys"
        keys.create(path, "admin", "admin")
        key = keys.create(path, "bench-runner", "runner")[1]
        engine = Engine(Path(tmp) / "data", idle_timeout=300, pending_timeout=0, heartbeat_timeout=0,
                        metrics=Metrics())
        plain = EdgeServer(engine, "127.0.0.1:0").start()
        keyed = EdgeServer(engine, "127.0.0.1:0", keys=KeyRing(path)).start()
        try:
            out.send((plain.address, keyed.address, key))
            stop.wait()
        finally:
            keyed.stop(grace=1)
            plain.stop(grace=1)
            engine.close()


def run(rounds: int, updates: int, threads: tuple[int, ...]) -> dict:
    ctx = mp.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    stop = ctx.Event()
    proc = ctx.Process(target=_serve, args=(send, stop), daemon=True)
    proc.start()
    clients: dict[str, StigmerClient] = {}
    try:
        if not receive.poll(STARTUP_TIMEOUT):
            raise RuntimeError("the server process did not start")
        plain_address, keyed_address, key = receive.recv()
        clients = {"plain": StigmerClient(plain_address, credentials=Credentials(api_key="")),
                   "keyed": StigmerClient(keyed_address, credentials=Credentials(api_key=key))}
        server = psutil.Process(proc.pid)
        hot = {name: client.create_agent("m", session_id="s").metadata.id for name, client in clients.items()}

        def measure(name: str, n: int) -> tuple[float, float, float]:
            """(calls/s, server CPU us per call, client CPU us per call) of one batch."""
            client, eid = clients[name], hot[name]
            each = updates // n

            def work() -> None:
                for i in range(each):
                    client.update_status(eid, wire.AgentExecutionStatus(error=str(i), started_at=PAYLOAD))

            workers = [threading.Thread(target=work) for _ in range(n)]
            server0, client0, wall0 = sum(server.cpu_times()[:2]), time.process_time(), time.perf_counter()
            for w in workers:
                w.start()
            for w in workers:
                w.join()
            wall, calls = time.perf_counter() - wall0, each * n
            return (calls / wall, (sum(server.cpu_times()[:2]) - server0) / calls * 1e6,
                    (time.process_time() - client0) / calls * 1e6)

        for name in clients:  # warm both: connections, actors, caches
            measure(name, 1)
        measured = []
        for r in range(rounds):
            order = ("plain", "keyed") if r % 2 == 0 else ("keyed", "plain")
            row: dict = {"round": r, "order": list(order)}
            for n in threads:
                got = {name: measure(name, n) for name in order}
                for name, (per_s, server_us, client_us) in got.items():
                    row[f"{name}_{n}"] = round(per_s, 1)
                    row[f"{name}_{n}_server_cpu_us"] = round(server_us, 1)
                    row[f"{name}_{n}_client_cpu_us"] = round(client_us, 1)
                row[f"ratio_{n}"] = round(got["keyed"][0] / got["plain"][0], 4)
            measured.append(row)
            print(row, flush=True)
    finally:
        for client in clients.values():
            client.close()
        stop.set()
        proc.join(timeout=30)
        if proc.is_alive():
            proc.kill()
            proc.join(timeout=10)
    return _report(measured, rounds, updates, threads)


def _report(measured: list[dict], rounds: int, updates: int, threads: tuple[int, ...]) -> dict:
    summary = []
    for n in threads:
        ratios = [row[f"ratio_{n}"] for row in measured]
        # paired(a, b) bootstraps the median of a/b: keyed rate over plain rate
        _, low, high = paired([row[f"keyed_{n}"] for row in measured], [row[f"plain_{n}"] for row in measured])

        def median(field: str) -> float:
            return round(statistics.median(row[field] for row in measured), 1)

        summary.append({
            "threads": n,
            "plain_median_per_s": median(f"plain_{n}"),
            "keyed_median_per_s": median(f"keyed_{n}"),
            "ratio_median": round(statistics.median(ratios), 4),
            "ratio_95_interval": [round(low, 4), round(high, 4)],
            "ratio_min": min(ratios),
            "ratio_max": max(ratios),
            "goal": GOAL,
            "server_cpu_us_plain": median(f"plain_{n}_server_cpu_us"),
            "server_cpu_us_keyed": median(f"keyed_{n}_server_cpu_us"),
            "client_cpu_us_plain": median(f"plain_{n}_client_cpu_us"),
            "client_cpu_us_keyed": median(f"keyed_{n}_client_cpu_us"),
        })
    return {"config": {"rounds": rounds, "updates_per_batch": updates, "threads": list(threads),
                       "payload_bytes": len(PAYLOAD)}, "rounds": measured, "summary": summary}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--updates", type=int, default=800, help="updateStatus calls per batch")
    parser.add_argument("--threads", default="1,16")
    args = parser.parse_args()
    began = time.strftime("%Y%m%dT%H%M%S")
    result = run(args.rounds, args.updates, tuple(int(t) for t in args.threads.split(",")))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).parent).stdout.strip()
    result = {"scenario": "auth_cost", "started": began, "commit": commit, "machine": machine(), **result}
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"auth_cost-{began}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    for row in result["summary"]:
        print(f"{row['threads']:>2} threads: plain {row['plain_median_per_s']:,.0f}/s, keyed "
              f"{row['keyed_median_per_s']:,.0f}/s, keyed/plain {row['ratio_median']:.3f} "
              f"(95 % interval {row['ratio_95_interval'][0]:.3f}-{row['ratio_95_interval'][1]:.3f}, rounds "
              f"{row['ratio_min']:.3f}-{row['ratio_max']:.3f}; goal >= {GOAL}); CPU per call: "
              f"server {row['server_cpu_us_plain']:.0f} -> {row['server_cpu_us_keyed']:.0f} us, client "
              f"{row['client_cpu_us_plain']:.0f} -> {row['client_cpu_us_keyed']:.0f} us")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
