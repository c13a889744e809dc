"""``python -m bench.dashboard``: update -> browser-visible latency, with 1 and 100 SSE
clients on one execution, next to a gRPC watcher in the same run; and the writer's
updateStatus rate with 0 and 100 SSE clients on that execution.

One daemon (``serve --http-address``, its own process, no runner). Per update, the updater
takes ``time.time()`` right before its updateStatus call (over gRPC, from this process);
each watcher records when it has the new state:

- the browser tab: a real headless Chromium (Debian's chromium, through selenium) showing
  the execution's page; the page's SSE handler has replaced the page's live part with the
  new state's HTML, then stamps ``performance.timeOrigin + performance.now()``
  (``window.stigmerApplied``, read after the run): visible to a person from the next frame
  on (the paint is not included);
- the other SSE clients (99 in the 100-client case): plain HTTP clients, a thread each, in
  one separate process, stamping ``time.time()`` when an SSE ``state`` event's JSON is
  parsed (HTML rendered by the server, not laid out: the server's and the wire's share);
- the gRPC watcher: ``StigmerClient.watch`` in this process, stamping when the state is
  parsed.

Updates are paced (one every ``GAP`` s, more than the SSE stream's 0.1 s pace, so the
pace adds nothing) and each changes the state (~2 KB). All on 127.0.0.1; bounded in time.
Writes ``bench/results/dashboard-<time>.json`` and a PNG.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import grpc

from bench.common import RESULTS, machine, pct

GAP = 0.15
UPDATES = 60
RATE_SECONDS = 5.0
RATE_THREADS = 4
FREED = 12.0
"""Seconds after a helper's SSE clients leave until the server has freed their slots (it
notices a gone client at its second write after it left: heartbeats every 5 s)."""


def sse_clients(port: int, execution_id: str, count: int, seconds: float) -> None:
    """(Run as a subprocess.) ``count`` SSE readers for ``seconds``; prints their stamps as
    JSON: {version: [time.time() per client]}."""
    stamps: dict[int, list[float]] = {}
    lock = threading.Lock()
    ready = threading.Barrier(count + 1, timeout=seconds + 30)

    def read() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=seconds + 30)
        conn.request("GET", f"/events/executions/{execution_id}")
        response = conn.getresponse()
        if response.status != 200:
            raise RuntimeError(f"SSE refused: {response.status}")
        first = True
        deadline = time.monotonic() + seconds
        data = []
        while time.monotonic() < deadline:
            line = response.fp.readline()
            if not line:
                break
            if line.startswith(b"data: "):
                data.append(line[6:])
            elif line == b"\n" and data:
                state = json.loads(b"".join(data))
                at = time.time()
                data = []
                if "version" in state:
                    with lock:
                        stamps.setdefault(state["version"], []).append(at)
                    if first:
                        first = False
                        ready.wait()
        conn.close()

    threads = [threading.Thread(target=read, daemon=True) for _ in range(count)]
    for t in threads:
        t.start()
    ready.wait()
    print("ready", flush=True)
    for t in threads:
        t.join(seconds + 30)
    print(json.dumps(stamps), flush=True)


def start_daemon(data_dir: Path) -> tuple[subprocess.Popen, str, int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "stigmer_actors.cli.main", "serve", "--address", "127.0.0.1:0",
         "--http-address", "127.0.0.1:0", "--data-dir", str(data_dir), "--no-runner",
         "--pending-timeout", "0", "--heartbeat-timeout", "0"],
        stderr=subprocess.PIPE, text=True)
    address = port = None
    deadline = time.monotonic() + 60
    assert proc.stderr is not None
    while address is None and time.monotonic() < deadline:
        line = proc.stderr.readline()
        if m := re.search(r"dashboard at http://127.0.0.1:(\d+)/", line):
            port = int(m.group(1))
        if m := re.search(r"listening on (\S+),", line):
            address = m.group(1)
    if address is None or port is None:
        proc.kill()
        raise RuntimeError("the daemon did not start")
    threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()  # drain
    return proc, address, port


def browser(user_data: str):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 f"--user-data-dir={user_data}"):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))


def latency_round(client, port: int, execution_id: str, others: int, driver) -> dict:
    from selenium.webdriver.support.ui import WebDriverWait

    from stigmer_actors import wire

    driver.get(f"http://127.0.0.1:{port}/executions/{execution_id}")
    WebDriverWait(driver, 30).until(lambda d: d.find_element("id", "live-status").text == "live")
    helper = None
    if others:
        seconds = UPDATES * GAP + 20
        helper = subprocess.Popen([sys.executable, "-m", "bench.dashboard", "--sse-clients", str(others),
                                   "--port", str(port), "--execution", execution_id, "--seconds", str(seconds)],
                                  stdout=subprocess.PIPE, text=True, env={**os.environ})
        assert helper.stdout is not None
        assert helper.stdout.readline().strip() == "ready"
    grpc_seen: dict[int, float] = {}
    got = threading.Condition()

    def watch() -> None:
        try:
            for state in client.watch(execution_id):
                with got:
                    grpc_seen[state.status.version] = time.time()
                    got.notify_all()
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.CANCELLED:  # cancelled: the run closed its channel
                raise

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    sent: dict[int, float] = {}
    base = client.get(execution_id).status.version
    time.sleep(0.5)  # let the gRPC watcher's stream open (its first state is the current one)
    for i in range(UPDATES):
        status = wire.AgentExecutionStatus(messages=[{"type": 2, "content": f"update {i} " + "x" * 1500}])
        at = time.time()
        version = client.update_status(execution_id, status).status.version
        sent[version] = at
        with got:
            got.wait_for(lambda v=version: v in grpc_seen, 10)
        time.sleep(GAP)  # the pace of the run, not a wait for anything
    time.sleep(1.0)  # the last state's way to every client
    applied = driver.execute_script("return window.stigmerApplied;")
    browser_ms = [a["at"] - sent[a["version"]] * 1000 for a in applied if a["version"] in sent]
    grpc_ms = [(grpc_seen[v] - t) * 1000 for v, t in sent.items() if v in grpc_seen]
    sse_ms: list[float] = []
    if helper is not None:
        out, _ = helper.communicate(timeout=UPDATES * GAP + 60)
        stamps = json.loads(out.strip().splitlines()[-1])
        for version, times in stamps.items():
            if int(version) in sent:
                sse_ms += [(t - sent[int(version)]) * 1000 for t in times]
    return {
        "sse_clients": others + 1, "updates": len(sent), "first_version": base + 1,
        "browser": summary(browser_ms, len(sent)), "sse_http_clients": summary(sse_ms, len(sent) * others),
        "grpc_watcher": summary(grpc_ms, len(sent)),
    }


def summary(values: list[float], expected: int) -> dict:
    return {"n": len(values), "expected": expected, "p50_ms": pct(values, 50), "p90_ms": pct(values, 90),
            "p99_ms": pct(values, 99), "max_ms": pct(values, 100)}


def writer_rate(address: str, execution_id: str, seconds: float) -> float:
    """updateStatus per second on one execution from RATE_THREADS gRPC client threads."""
    from stigmer_actors import wire
    from stigmer_actors.client import StigmerClient

    counts = [0] * RATE_THREADS
    deadline = time.monotonic() + seconds

    def loop(k: int) -> None:
        with StigmerClient(address) as client:
            status = wire.AgentExecutionStatus(error="e" * 100)
            while time.monotonic() < deadline:
                client.update_status(execution_id, status)
                counts[k] += 1

    threads = [threading.Thread(target=loop, args=(k,)) for k in range(RATE_THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / seconds


def rate_with_tabs(address: str, port: int, execution_id: str, tabs: int) -> float:
    helper = None
    if tabs:
        helper = subprocess.Popen([sys.executable, "-m", "bench.dashboard", "--sse-clients", str(tabs),
                                   "--port", str(port), "--execution", execution_id, "--seconds",
                                   str(RATE_SECONDS + 5)], stdout=subprocess.PIPE, text=True)
        assert helper.stdout is not None and helper.stdout.readline().strip() == "ready"
    rate = writer_rate(address, execution_id, RATE_SECONDS)
    if helper is not None:
        helper.communicate(timeout=RATE_SECONDS + 60)
        time.sleep(FREED)  # see FREED
    return rate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dashboard", description=__doc__.split("\n")[0])
    parser.add_argument("--sse-clients", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--execution", default="", help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--rate-rounds", type=int, default=3, help="writer-rate rounds (0 and 100 tabs each)")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.sse_clients:
        sse_clients(args.port, args.execution, args.sse_clients, args.seconds)
        return 0

    from stigmer_actors.client import StigmerClient

    started = time.strftime("%Y%m%dT%H%M%S")
    with tempfile.TemporaryDirectory() as tmp:
        proc, address, port = start_daemon(Path(tmp) / "data")
        driver = browser(str(Path(tmp) / "chromium"))
        try:
            with StigmerClient(address) as client:
                rounds = []
                for others in (0, 99):
                    eid = client.create_agent("latency", session_id="bench").metadata.id
                    rounds.append(latency_round(client, port, eid, others, driver))
                    print(json.dumps(rounds[-1]), flush=True)
                driver.get("about:blank")
                time.sleep(FREED)  # see FREED
                hot = client.create_agent("hot", session_id="bench").metadata.id
                rates = []
                for r in range(args.rate_rounds):
                    order = (0, 100) if r % 2 == 0 else (100, 0)
                    row = {tabs: rate_with_tabs(address, port, hot, tabs) for tabs in order}
                    rates.append({"round": r, "no_tabs_per_s": row[0], "tabs_100_per_s": row[100],
                                  "ratio": row[100] / row[0]})
                    print(json.dumps(rates[-1]), flush=True)
        finally:
            driver.quit()
            proc.terminate()
            proc.wait(timeout=30)
    report = {"started": started, "machine": machine(), "gap_s": GAP, "latency": rounds,
              "writer_rate": {"threads": RATE_THREADS, "seconds": RATE_SECONDS, "rounds": rates,
                              "median_ratio": statistics.median(r["ratio"] for r in rates)}}
    args.results.mkdir(parents=True, exist_ok=True)
    path = args.results / f"dashboard-{started}.json"
    path.write_text(json.dumps(report, indent=1))
    plot(report, path.with_suffix(".png"))
    for r in rounds:
        print(f"{r['sse_clients']:>3} SSE clients: browser p50 {r['browser']['p50_ms']} ms "
              f"(n={r['browser']['n']}), other SSE clients p50 {r['sse_http_clients']['p50_ms']} ms, "
              f"gRPC watcher p50 {r['grpc_watcher']['p50_ms']} ms")
    print(f"writer with 100 SSE tabs / without: median {report['writer_rate']['median_ratio']:.2f}")
    print(f"written to {path}")
    return 0


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.6))
    labels, p50, p90 = [], [], []
    for r in report["latency"]:
        for who, key in (("browser tab", "browser"), ("SSE clients", "sse_http_clients"),
                         ("gRPC watcher", "grpc_watcher")):
            if r[key]["n"]:
                labels.append(f"{who}\n{r['sse_clients']} SSE")
                p50.append(r[key]["p50_ms"])
                p90.append(r[key]["p90_ms"])
    x = range(len(labels))
    ax.bar([i - 0.2 for i in x], p50, 0.4, label="p50")
    ax.bar([i + 0.2 for i in x], p90, 0.4, label="p90")
    ax.set_xticks(list(x), labels, fontsize=8)
    ax.set_ylabel("update -> seen (ms)")
    ax.set_title("Dashboard: update -> visible latency (paced updates)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
