"""How far behind a slow watcher falls over gRPC, by client connection settings.

    python -m bench.slow_watcher [--seconds 15] [--rate 100] [--bytes 8000] [--every 0.5] [--readers 1]

A daemon in its own process; a writer updating one workflow execution ``--rate`` times a
second with states of about ``--bytes`` for ``--seconds``, then setting it COMPLETED;
``--readers`` watchers per variant, each taking one state every ``--every`` seconds. Per
read: versions behind (the writer's newest acknowledged version minus the one read). Per
reader: the largest and the median lag, and how long after the terminal state was
acknowledged it arrived (a reader still reading a backlog 30 s after is given up on).
Variants: ``StigmerClient.watch`` (its watch connection), then a plain grpc channel with
grpc's defaults and with the flow-control options alone. Writes JSON under bench/results/.
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time

import grpc

from bench.common import RESULTS, machine
from bench.daemon import BenchDaemon
from stigmer_actors import wire
from stigmer_actors.client import StigmerClient
from stigmer_actors.domain import phases

GIVE_UP = 30.0
VARIANTS: dict[str, list[tuple[str, int]] | None] = {
    "StigmerClient.watch": None,
    "grpc defaults": [],
    "bdp_probe 0": [("grpc.http2.bdp_probe", 0)],
    "bdp_probe 0, lookahead 16 KB": [("grpc.http2.bdp_probe", 0), ("grpc.http2.lookahead_bytes", 16384)],
}


def one_run(address: str, options: list | None, a: argparse.Namespace) -> list[dict]:
    writer = StigmerClient(address)
    eid = writer.create_workflow(workflow_id="bench-slow").metadata.id
    newest = {"version": 1, "terminal_at": 0.0}

    def write() -> None:
        i, started = 0, time.monotonic()
        while time.monotonic() - started < a.seconds:
            i += 1
            status = wire.WorkflowExecutionStatus(phase=phases.IN_PROGRESS, error=f"{i:08d}" + "x" * a.bytes)
            newest["version"] = writer.update_status(eid, status).status.version
            pause = started + i / a.rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        done = writer.update_status(eid, wire.WorkflowExecutionStatus(phase=phases.COMPLETED))
        newest.update(version=done.status.version, terminal_at=time.monotonic())

    results: list[dict] = []

    def read() -> None:
        if options is None:
            client = StigmerClient(address)
            stream, close = client.watch(eid), client.close
        else:
            channel = grpc.insecure_channel(address, options=options)
            stub = wire.workflow_query_grpc.WorkflowExecutionQueryControllerStub(channel)
            stream = stub.subscribe(wire.workflow_io.SubscribeWorkflowExecutionRequest(execution_id=eid))
            close = channel.close
        lags: list[int] = []
        terminal_after: float | None = None
        for execution in stream:
            lags.append(newest["version"] - execution.status.version)
            if execution.status.phase == phases.COMPLETED:
                terminal_after = time.monotonic() - newest["terminal_at"]
                break
            if newest["terminal_at"] and time.monotonic() - newest["terminal_at"] > GIVE_UP:
                break
            time.sleep(a.every)  # the slow reader being measured
        stream.cancel()
        close()
        results.append({"max_lag": max(lags), "median_lag": statistics.median(lags), "states_read": len(lags),
                        "terminal_after_s": None if terminal_after is None else round(terminal_after, 3)})

    readers = [threading.Thread(target=read) for _ in range(a.readers)]
    for r in readers:
        r.start()
    time.sleep(0.3)  # let every reader subscribe before the first update
    w = threading.Thread(target=write)
    w.start()
    w.join()
    for r in readers:
        r.join(a.seconds * 40 + GIVE_UP + 60)
    writer.close()
    return results


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.slow_watcher", description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=15)
    p.add_argument("--rate", type=float, default=100)
    p.add_argument("--bytes", type=int, default=8000)
    p.add_argument("--every", type=float, default=0.5)
    p.add_argument("--readers", type=int, default=1)
    p.add_argument("--only", default="", help="comma-separated variant names")
    a = p.parse_args()
    chosen = [n for n in VARIANTS if not a.only or n in a.only.split(",")]
    report = {"machine": machine(), "config": vars(a), "variants": {}}
    for name in chosen:
        daemon = BenchDaemon("--no-runner")
        try:
            results = one_run(daemon.address, VARIANTS[name], a)
        finally:
            daemon.stop()
        report["variants"][name] = results
        worst = max(results, key=lambda r: r["max_lag"])
        late = [r["terminal_after_s"] for r in results]
        print(f"{name:32} max lag {worst['max_lag']:5}  median {worst['median_lag']:6}  "
              f"terminal after {late if len(late) > 1 else late[0]} s", flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"slow_watcher-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps(report, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
