"""100,000 executions created and left idle: threads and memory come back down.

Every create spawns the execution's actor (a thread); idle eviction must stop them all, or
a busy day would leave one thread per execution ever touched.
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import psutil

from stigmer_actors import Engine, wire
from stigmer_actors.domain import phases
from tests.conftest import agent

COUNT = 100_000
WRITERS = 2


def _actor_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("ExecutionActor-")]


def test_100k_idle_executions_release_threads_and_memory(data_dir: Path) -> None:
    process = psutil.Process()
    baseline_threads = threading.active_count()
    before = {t.ident for t in threading.enumerate()}
    baseline_rss = process.memory_info().rss
    peak_threads = 0

    with Engine(data_dir, idle_timeout=0.25, pending_timeout=0) as engine:
        def writer(k: int) -> None:
            nonlocal peak_threads
            for i in range(k, COUNT, WRITERS):
                engine.create(agent(id=f"scale-{i:06d}", message=f"m{i}"))
                if i % 5000 == 0:
                    peak_threads = max(peak_threads, threading.active_count())

        t0 = time.perf_counter()
        writers = [threading.Thread(target=writer, args=(k,)) for k in range(WRITERS)]
        for t in writers:
            t.start()
        for t in writers:
            t.join()
        created_in = time.perf_counter() - t0

        assert engine.core.registry.wait_live_at_most(0, timeout=60)
        for t in _actor_threads():
            t.join(timeout=10)
        threads_after = threading.active_count()
        rss_after = process.memory_info().rss
        print(
            f"\n{COUNT} creates in {created_in:.1f} s ({COUNT / created_in:.0f}/s); "
            f"threads: {baseline_threads} before, peak {peak_threads}, {threads_after} after; "
            f"RSS {baseline_rss >> 20} MB before, {rss_after >> 20} MB after; "
            f"spawned {engine.core.registry.spawned}, evicted {engine.core.registry.evicted}"
        )
        # What may remain is the engine's fixed set: the dispatcher, the reaper, the watchdog
        # and its ticker.
        new = sorted(t.name.split("-")[0] for t in threading.enumerate() if t.ident not in before)
        assert new == ["DispatchActor", "WatchdogActor", "execution", "watchdog"], new
        assert rss_after - baseline_rss < 400 << 20
        assert engine.core.registry.evicted == COUNT

        # Any of them can still be read and updated (their actors reload from the store).
        for i in random.Random(7).sample(range(COUNT), 200):
            eid = f"scale-{i:06d}"
            assert engine.get(eid).spec.message == f"m{i}"
            updated = engine.update_status(eid, wire.AgentExecutionStatus(phase=phases.IN_PROGRESS))
            assert updated.status.version == 2 and updated.spec.message == f"m{i}"
        assert engine.list("agent", phase=phases.IN_PROGRESS, page_size=1000).total_pages == 1
        assert len(engine.list("agent", phase=phases.IN_PROGRESS, page_size=1000).entries) == 200
