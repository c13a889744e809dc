"""One measurement of one build, for ``bench/compare.py``; prints one JSON object.

    PYTHONPATH=<build tree> python bench/compare_worker.py CASE [--seconds S]

Run as a file, self-contained (it imports nothing from ``bench``: ``drive`` repeats
``bench.throughput``'s loop on purpose), so the same measuring code runs against any build:
``stigmer_actors`` comes from whatever tree PYTHONPATH names, and only the API every
build has is used (``Engine(...)``, ``create``, ``update_status``, ``serve`` on the CLI).
Each case runs in a fresh process: no warm caches, threads or memory carry over.

Cases (figures per second unless named otherwise):
  floor         the raw work of one update on one thread: parse a 2 KB execution, merge a
                status, serialize, one RocksDB put (WAL)
  fsync         RocksDB puts with sync on one thread (the floor of the sync cases)
  hot1, hot16   embedded updateStatus on one execution, 1 / 16 caller threads (wal)
  sync_hot16    the same with sync durability, 16 threads
  sync_many16   sync, 16 threads spread over 1,000 executions
  creates4      embedded creates, 4 threads
  grpc16        updateStatus over gRPC to a daemon of the build (its own process), 16
                client threads, and a bare grpcio echo of the same bytes measured right
                before and after: ``ratio`` is updates/s over the echo's calls/s
  live          N executions created then each updated (live actors): peak threads, RSS
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

PAYLOAD = "x" * 1800
"""Makes every status, and so every stored execution, about 2 KB."""


def drive(call: Callable[[int], object], threads: int, seconds: float) -> float:
    """Calls/s of ``call(i)`` from ``threads`` threads for ``seconds`` (errors re-raised)."""
    deadline = time.monotonic() + seconds
    counts = [0] * threads
    errors: list[BaseException] = []

    def loop(k: int) -> None:
        i = k
        try:
            while time.monotonic() < deadline:
                call(i)
                i += threads
                counts[k] += 1
        except BaseException as error:  # re-raised below
            errors.append(error)

    workers = [threading.Thread(target=loop, args=(k,)) for k in range(threads)]
    t0 = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if errors:
        raise errors[0]
    return sum(counts) / (time.perf_counter() - t0)


def status(i: int):
    from stigmer_actors import wire

    return wire.AgentExecutionStatus(error=str(i), started_at=PAYLOAD)


def new_agent():
    from stigmer_actors import wire

    return wire.AgentExecution(spec={"message": "m", "session_id": "s"})


def engine(tmp: str, durability: str = "wal"):
    from stigmer_actors import Engine

    return Engine(Path(tmp) / "data", durability=durability, pending_timeout=0,
                  heartbeat_timeout=0, idle_timeout=600)


def embedded(threads: int, durability: str, executions: int, seconds: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp, engine(tmp, durability) as e:
        ids = [e.create(new_agent()).metadata.id for _ in range(executions)]
        for eid in ids:
            e.update_status(eid, status(0))
        rate = drive(lambda i: e.update_status(ids[i % executions], status(i)), threads, seconds)
        return {"per_s": rate}


@contextmanager
def rocks(sync: bool) -> Iterator[tuple[Any, Any]]:
    """A bare RocksDB in a temporary directory, and write options (synced or not)."""
    from rocksdict import Options, Rdict, WriteOptions

    with tempfile.TemporaryDirectory() as tmp:
        options = Options(raw_mode=True)
        options.create_if_missing(True)
        db = Rdict(str(Path(tmp) / "db"), options)
        write_options = WriteOptions()
        write_options.sync = sync
        try:
            yield db, write_options
        finally:
            db.close()


def floor(seconds: float) -> dict:
    from rocksdict import WriteBatch

    from stigmer_actors import wire

    stored = new_agent()
    stored.status.started_at = PAYLOAD
    data = stored.SerializeToString()
    with rocks(sync=False) as (db, write_options):
        def one(i: int) -> None:
            nonlocal data
            execution = wire.AgentExecution.FromString(data)
            execution.status.MergeFrom(status(i))
            data = execution.SerializeToString()
            batch = WriteBatch(raw_mode=True)
            batch.put(b"r\x00x", data)
            db.write(batch, write_options)

        return {"per_s": drive(one, 1, seconds)}


def fsync(seconds: float) -> dict:
    value = os.urandom(2048)
    with rocks(sync=True) as (db, write_options):
        return {"per_s": drive(lambda i: db.put(b"k%d" % i, value, write_options), 1, seconds)}


def creates(threads: int, seconds: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp, engine(tmp) as e:
        return {"per_s": drive(lambda i: e.create(new_agent()), threads, seconds)}


def live(count: int) -> dict:
    import psutil

    process = psutil.Process()
    peak = [threading.active_count()]
    with tempfile.TemporaryDirectory() as tmp, engine(tmp) as e:
        def watch_threads(i: int) -> None:
            if i % 1000 == 0:
                peak[0] = max(peak[0], threading.active_count())

        ids = []
        for i in range(count):
            ids.append(e.create(new_agent()).metadata.id)
            watch_threads(i)
        for i, eid in enumerate(ids):
            e.update_status(eid, status(i))
            watch_threads(i)
        return {"executions": count, "peak_threads": peak[0],
                "rss_mb": round(process.memory_info().rss / 2**20, 1)}


def grpc16(seconds: float) -> dict:
    import grpc

    from stigmer_actors import wire

    with tempfile.TemporaryDirectory() as tmp, _daemon(Path(tmp)) as address, _echo() as echo:
        channel = grpc.insecure_channel(address)
        method = "/ai.stigmer.agentic.agentexecution.v1.AgentExecutionCommandController/"
        create = channel.unary_unary(method + "create")
        update = channel.unary_unary(method + "updateStatus")
        created = wire.AgentExecution.FromString(create(new_agent().SerializeToString(), timeout=10))
        eid = created.metadata.id

        def request(i: int) -> bytes:
            return wire.agent_io.AgentExecutionUpdateStatusInput(
                execution_id=eid, status=status(i)).SerializeToString()

        echo_channel = grpc.insecure_channel(echo)
        echo_call = echo_channel.unary_unary("/bench.Echo/Echo")
        update(request(0), timeout=10)
        echo_call(request(0), timeout=10)
        echo_before = drive(lambda i: echo_call(request(i), timeout=10), 16, seconds / 2)
        rate = drive(lambda i: update(request(i), timeout=10), 16, seconds)
        echo_after = drive(lambda i: echo_call(request(i), timeout=10), 16, seconds / 2)
        channel.close()
        echo_channel.close()
        floor_rate = (echo_before + echo_after) / 2
        return {"per_s": rate, "echo_per_s": floor_rate, "ratio": rate / floor_rate}


class _daemon:
    """``stigmer-actors serve`` of the build under test, on a free loopback port."""

    def __init__(self, tmp: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "stigmer_actors.cli.main", "serve", "--address", "127.0.0.1:0",
             "--data-dir", str(tmp / "daemon"), "--no-runner", "--pending-timeout", "0",
             "--heartbeat-timeout", "0"],
            stderr=subprocess.PIPE, text=True,
        )

    def __enter__(self) -> str:
        assert self.proc.stderr is not None
        deadline = time.monotonic() + 30
        for line in self.proc.stderr:
            match = re.search(r"listening on (\S+),", line)
            if match:
                threading.Thread(target=self.proc.stderr.read, daemon=True).start()
                return match.group(1)
            if time.monotonic() > deadline:
                break
        self.proc.kill()
        raise RuntimeError("the daemon did not start")

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


_ECHO_SERVER = """
import sys
from concurrent.futures import ThreadPoolExecutor
import grpc
handler = grpc.unary_unary_rpc_method_handler(lambda request, context: request)
server = grpc.server(ThreadPoolExecutor(max_workers=32))
server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("bench.Echo", {"Echo": handler}),))
print(server.add_insecure_port("127.0.0.1:0"), flush=True)
server.start()
sys.stdin.read()  # until the parent closes it
server.stop(grace=None)
"""


class _echo:
    """A bare grpcio server echoing the request bytes (the transport's own cost), in its own
    process like the daemon, so it does not share the client's GIL."""

    def __enter__(self) -> str:
        self.proc = subprocess.Popen([sys.executable, "-c", _ECHO_SERVER], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        return f"127.0.0.1:{int(self.proc.stdout.readline())}"

    def __exit__(self, *exc: object) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


CASES: dict[str, Callable[[float], dict]] = {
    "floor": floor,
    "fsync": fsync,
    "hot1": lambda s: embedded(1, "wal", 1, s),
    "hot16": lambda s: embedded(16, "wal", 1, s),
    "sync_hot16": lambda s: embedded(16, "sync", 1, s),
    "sync_many16": lambda s: embedded(16, "sync", 1000, s),
    "creates4": lambda s: creates(4, s),
    "grpc16": grpc16,
    "live": lambda s: live(int(s)),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("case", choices=sorted(CASES))
    parser.add_argument("--seconds", type=float, default=2.0,
                        help="how long each timed loop runs (for 'live': the execution count)")
    args = parser.parse_args()
    import stigmer_actors

    result = CASES[args.case](args.seconds)
    result["package"] = str(Path(stigmer_actors.__file__).parent)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
