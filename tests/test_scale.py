"""100,000 live executions, 10,000 of them watched: a bounded number of threads whatever the
number of live actors, and memory that comes back down once they are idle.

Actors own no thread (they take turns on the engine's pool, or in their callers), so the
process's thread count must not follow the number of executions in use; idle eviction
must then retire them all, or a busy day would keep the memory of every execution touched.
"""

from __future__ import annotations

import gc
import random
import threading
import time
from pathlib import Path

import psutil

from stigmer_actors import Engine, wire
from stigmer_actors.actors.execution import ExecutionActor
from stigmer_actors.domain import phases
from tests.conftest import agent

COUNT = 100_000
WATCHED = 10_000
WRITERS = 4
MAX_THREADS = 64


class ThreadSampler:
    """The process's OS thread count (RocksDB's own threads included), every 20 ms."""

    def __init__(self) -> None:
        self.process = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.process.num_threads())

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return max(self.peak, self.process.num_threads())


def test_100k_live_executions_10k_watched_take_bounded_threads_then_memory_comes_back(
    data_dir: Path,
) -> None:
    process = psutil.Process()
    baseline_rss = process.memory_info().rss
    before = {t.ident for t in threading.enumerate()}
    sampler = ThreadSampler()
    with Engine(data_dir, idle_timeout=600, pending_timeout=0) as engine:
        def each(work, k: int) -> None:
            for i in range(k, COUNT, WRITERS):
                work(i)

        def run(work) -> float:
            t0 = time.perf_counter()
            threads = [threading.Thread(target=each, args=(work, k)) for k in range(WRITERS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            return time.perf_counter() - t0

        created_in = run(lambda i: engine.create(agent(id=f"scale-{i:06d}", message=f"m{i}")))
        watches = [engine.subscribe(f"scale-{i:06d}") for i in range(0, COUNT, COUNT // WATCHED)]
        updated_in = run(lambda i: engine.update_status(
            f"scale-{i:06d}", wire.AgentExecutionStatus(phase=phases.IN_PROGRESS)))
        live = engine.core.registry.live()
        peak_threads = sampler.stop()
        live_rss = process.memory_info().rss

        # Every watch got the current state and then the update, nothing else.
        for watch in watches[:: WATCHED // 100]:
            assert watch.get(timeout=10).status.version == 1
            assert watch.get(timeout=10).status.phase == phases.IN_PROGRESS
        print(
            f"\n{COUNT} creates in {created_in:.1f} s ({COUNT / created_in:.0f}/s), {COUNT} updates "
            f"in {updated_in:.1f} s ({COUNT / updated_in:.0f}/s) with {len(watches)} watched; "
            f"{live} live actors, peak {peak_threads} OS threads; RSS {baseline_rss >> 20} MB "
            f"before, {live_rss >> 20} MB live (+{(live_rss - baseline_rss) >> 20} MB)"
        )
        assert live == COUNT
        assert peak_threads <= MAX_THREADS

        # Once unwatched and idle, every actor is retired and the memory comes back down.
        for watch in watches:
            watch.close()
        assert engine.core.registry.wait_subscribers_at_most(0, timeout=30)
        engine.core.registry.idle_timeout = 0.05
        assert engine.core.registry.wait_live_at_most(0, timeout=60)
        idle_rss = process.memory_info().rss
        print(f"all {engine.core.registry.evicted} retired when idle: RSS {idle_rss >> 20} MB "
              "(CPython keeps freed memory for reuse)")
        assert engine.core.registry.evicted == COUNT
        del watches
        gc.collect()
        lingering = sum(isinstance(o, ExecutionActor) for o in gc.get_objects())
        assert lingering == 0, f"{lingering} retired actors are still referenced"
        # What remains is the engine's fixed set: its pool's workers, the reaper and the
        # watchdog's ticker.
        new = [t.name for t in threading.enumerate() if t.ident not in before]
        assert {name.split("-")[0] for name in new} <= {"engine", "execution", "watchdog"}, new

        # Any of them can still be read and updated (their actors reload from the store).
        for i in random.Random(7).sample(range(COUNT), 200):
            eid = f"scale-{i:06d}"
            assert engine.get(eid).spec.message == f"m{i}"
            updated = engine.update_status(eid, wire.AgentExecutionStatus(error="again"))
            assert updated.status.version == 3 and updated.spec.message == f"m{i}"
        assert engine.list("agent", phase=phases.IN_PROGRESS, page_size=1000).total_pages == 100


def test_requests_for_missing_ids_leave_nothing_behind(tmp_path: Path) -> None:
    """3,000 updateStatus calls for ids that do not exist, over gRPC to a daemon in its own
    process: each is NOT_FOUND, no actor stays live (not even until the idle timeout), the
    daemon's thread count does not move, and a create right after works."""
    import grpc

    from stigmer_actors.client import StigmerClient
    from tests.daemon import Daemon

    daemon = Daemon(tmp_path / "data", "--no-runner", "--pending-timeout", "0")
    server = psutil.Process(daemon.proc.pid)
    try:
        with StigmerClient(daemon.address) as client:
            client.create_agent("warm-up", session_id="s")
            threads_before = server.num_threads()
            rss_before = server.memory_info().rss
            for i in range(3000):
                try:
                    client.update_status(f"aex-missing-{i}", wire.AgentExecutionStatus(error="x"))
                except grpc.RpcError as error:
                    assert error.code() == grpc.StatusCode.NOT_FOUND
                    assert f"aex-missing-{i} does not exist" in error.details()
                else:
                    raise AssertionError("an update of a missing id was accepted")
            stats = client.stats()
            threads_after = server.num_threads()
            rss_after = server.memory_info().rss
            created = client.create_agent("after the misses", session_id="s")
            assert created.status.phase == phases.PENDING
        print(f"\n3,000 misses: daemon threads {threads_before} -> {threads_after}, "
              f"RSS {rss_before >> 20} -> {rss_after >> 20} MB, live actors {stats.live_actors}")
        assert threads_after <= threads_before + 2  # grpc may start a poller; never one per miss
        assert stats.live_actors <= 1  # the warm-up execution's actor at most
    finally:
        assert daemon.terminate() == 0
