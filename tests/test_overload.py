"""Overload: 200 watchers that never read while 100,000 updates go through the server.

The server (Engine + EdgeServer) runs in a child process so its RSS is its own, and it
applies the 100,000 updates itself through the embedded API from 4 threads (100,000 gRPC
round trips would take ~90 s of this machine's CPU and prove nothing more about memory).
The watchers are real gRPC streams opened from this process whose iterators are not
advanced: grpc buffers what its flow-control window allows, then the server's stream
threads block, and the engine must neither queue 100,000 states per watcher nor slow down.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from stigmer_actors import AGENT
from stigmer_actors.client import StigmerClient

WATCHERS = 200
UPDATES = 100_000
RSS_BOUND_MB = 200
"""The stated bound: idle server ~55 MB, RocksDB memtables <= 32 MB, the 200 streams' buffers."""
RSS_GROWTH_MB = 30
"""Peak of the last half over peak of the first: a leak of 500 B per update would show 25 MB."""

SERVER = r"""
import sys, threading, time, psutil
from stigmer_actors import Engine, wire
from stigmer_actors.domain import phases
from stigmer_actors.grpc_edge.server import EdgeServer

engine = Engine(sys.argv[1], pending_timeout=0, heartbeat_timeout=0)
server = EdgeServer(engine, "127.0.0.1:0").start()
eid = engine.create(wire.AgentExecution(spec={"message": "m", "agent_id": "a"})).metadata.id
rss = lambda: psutil.Process().memory_info().rss / 2**20
print(server.address, eid, round(rss(), 1), flush=True)
sys.stdin.readline()  # the watchers are connected
payload = "x" * 1500  # ~2 KB serialized state

t0 = time.perf_counter()

def write(w):
    for i in range(int(sys.argv[2]) // 4):
        engine.update_status(eid, wire.AgentExecutionStatus(error=f"{w}:{i}:{payload}"))
        if w == 0 and i % 1000 == 0:
            print("rss", 4 * i, round(rss(), 1), round(time.perf_counter() - t0, 2), flush=True)

threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
t0 = time.perf_counter()
for t in threads: t.start()
for t in threads: t.join()
elapsed = time.perf_counter() - t0
print("rss", sys.argv[2], round(rss(), 1), flush=True)
print("seconds", round(elapsed, 1), flush=True)
print("streams", server.streams.count, "subscribers", engine.core.registry.subscribers(), flush=True)
engine.update_status(eid, wire.AgentExecutionStatus(phase=phases.COMPLETED))
print("done", flush=True)
sys.stdin.readline()
server.stop()
engine.close()
"""


def test_200_watchers_that_never_read_keep_the_server_bounded(data_dir: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(data_dir), str(UPDATES)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    client = None
    try:
        address, eid, idle_mb = proc.stdout.readline().split()
        client = StigmerClient(address, timeout=30)
        streams = [client.watch(eid, AGENT) for _ in range(WATCHERS)]
        for stream in streams:
            stream.initial_metadata()  # sent with the first state: the stream is registered
        proc.stdin.write("go\n")
        proc.stdin.flush()

        samples: list[tuple[int, float]] = []
        line = proc.stdout.readline().split()
        while line[0] == "rss":
            samples.append((int(line[1]), float(line[2])))
            line = proc.stdout.readline().split()
        elapsed = float(line[1])
        line = proc.stdout.readline().split()
        assert line == ["streams", str(WATCHERS), "subscribers", str(WATCHERS)]
        assert proc.stdout.readline().strip() == "done"
        peak = max(mb for _, mb in samples)
        first = max(mb for n, mb in samples if n < UPDATES // 2)
        last = max(mb for n, mb in samples if n >= UPDATES // 2)
        print(f"\nserver RSS: idle {idle_mb} MB, peak {peak:.0f} MB (first half {first:.0f}, "
              f"second half {last:.0f}) over {UPDATES} updates with {WATCHERS} stalled watchers, "
              f"applied in {elapsed} s ({UPDATES / elapsed:.0f}/s)")
        assert peak < RSS_BOUND_MB
        assert last - first < RSS_GROWTH_MB

        # The stalled watchers still work: read now, each gets what grpc had buffered,
        # then jumps to the newest state, then the terminal one, and ends.
        reads = []
        for stream in streams:
            versions = [m.status.version for m in stream]
            assert versions == sorted(set(versions)) and versions[-1] == UPDATES + 2
            reads.append(len(versions))
        print(f"each watcher then read {min(reads)}-{max(reads)} states to reach the end")
        assert max(reads) < UPDATES // 10
    finally:
        if client is not None:
            client.close()
        proc.stdin.close()
        proc.wait(timeout=60)


def test_a_storm_on_a_stalled_disk_is_refused_beyond_the_bound_not_queued(
    data_dir: Path, monkeypatch
) -> None:
    """The disk stalls (the one fault here that is faked: a commit that blocks until
    released) while 600 updateStatus calls arrive at once. At most the bound is held in
    flight; every call beyond it is refused at once with RESOURCE_EXHAUSTED; once the disk
    is back, every accepted call is applied exactly once."""
    import threading

    import grpc

    from stigmer_actors import Engine, wire
    from stigmer_actors.grpc_edge.server import UNARY_IN_FLIGHT, EdgeServer

    storm = 600
    bound = 1 + UNARY_IN_FLIGHT  # max_streams=1 below
    with Engine(data_dir, pending_timeout=0, heartbeat_timeout=0) as engine:
        server = EdgeServer(engine, "127.0.0.1:0", max_streams=1).start()
        client = StigmerClient(server.address, timeout=60)
        try:
            eid = client.create_agent("m", session_id="s").metadata.id
            disk_back = threading.Event()
            real_commit = engine.core.store.commit

            def stalled_commit(*args, **kwargs):
                assert disk_back.wait(timeout=60)
                return real_commit(*args, **kwargs)

            monkeypatch.setattr(engine.core.store, "commit", stalled_commit)
            stub = client._command[AGENT]
            calls = [
                stub.updateStatus.future(
                    wire.agent_io.AgentExecutionUpdateStatusInput(
                        execution_id=eid, status=wire.AgentExecutionStatus(error=str(i))
                    ),
                    timeout=60,
                )
                for i in range(storm)
            ]
            refused_by_now = threading.Semaphore(0)
            for call in calls:
                call.add_done_callback(lambda _: refused_by_now.release())
            for _ in range(storm - bound):  # only refusals can finish while the disk stalls
                assert refused_by_now.acquire(timeout=30), "calls queued instead of refused"
            disk_back.set()
            accepted, refused = [], 0
            for call in calls:
                try:
                    accepted.append(call.result().status.version)
                except grpc.RpcError as error:
                    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error
                    refused += 1
            print(f"\n{storm} updates at once on a stalled disk, bound {bound}: "
                  f"{len(accepted)} held and applied, {refused} refused at once")
            assert refused >= storm - bound and len(accepted) <= bound
            assert sorted(accepted) == list(range(2, 2 + len(accepted)))
            assert client.get(eid).status.version == 1 + len(accepted)
        finally:
            client.close()
            server.stop(grace=1)
