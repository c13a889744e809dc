"""List-watch in a cluster: a node's list-watches hear what other nodes change, through
both paths (``cluster/feed.py``): the executions live on the watching node (their actor
publishes what its Refresh brought) and those that are not (the feed loop publishes them).
Two engines on one real PostgreSQL database, in one process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from stigmer_actors import Engine
from stigmer_actors.domain import phases
from tests.conftest import agent
from tests.test_list_watch import ADDED, DELETED, MODIFIED, Reader

pytestmark = pytest.mark.timeout(120)


def status(phase: int = phases.UNSPECIFIED, error: str = ""):
    from stigmer_actors import wire

    return wire.AgentExecutionStatus(phase=phase, error=error)


@pytest.fixture
def nodes(pg_dsn: str) -> Iterator[tuple[Engine, Engine]]:
    with Engine(store=pg_dsn, pending_timeout=0, heartbeat_timeout=0) as a, \
            Engine(store=pg_dsn, pending_timeout=0, heartbeat_timeout=0) as b:
        yield a, b


def _synced(events: list) -> bool:
    return any(e.initial_list_done for e in events)


def _of(events: list, execution_id: str) -> list[tuple[int, int, int, bool]]:
    return [(e.type, e.summary.version, e.summary.phase, e.left_filter)
            for e in events if e.summary.id == execution_id]


@pytest.mark.parametrize("live_on_watcher", [False, True], ids=["not-live", "live"])
def test_changes_made_on_another_node_reach_a_list_watch(nodes, live_on_watcher: bool) -> None:
    a, b = nodes
    listed = a.create(agent(session_id="s-list")).metadata.id
    everything = Reader(b.watch_executions())
    running = Reader(b.watch_executions(phases=[phases.IN_PROGRESS]))
    try:
        everything.wait(_synced)
        running.wait(_synced)
        created = a.create(agent(session_id="s-cluster")).metadata.id
        seen = everything.wait(lambda ev: _of(ev, created))
        assert _of(seen, created)[0][:2] == (ADDED, 1)
        if live_on_watcher:
            b.get(created)  # an actor for it on the watching node: the Refresh path

        a.update_status(created, status(phases.IN_PROGRESS))
        got = running.wait(lambda ev: _of(ev, created))
        assert _of(got, created) == [(ADDED, 2, phases.IN_PROGRESS, False)]

        # Leaving the filter is heard too: the state before is known on both paths.
        a.update_status(created, status(phases.COMPLETED))
        got = running.wait(lambda ev: len(_of(ev, created)) == 2)
        assert _of(got, created)[1] == (DELETED, 3, phases.COMPLETED, True)

        a.update_status(listed, status(phases.IN_PROGRESS))  # listed at the start, never changed here
        a.delete(created)
        seen = everything.wait(lambda ev: _of(ev, created)[-1][0] == DELETED
                               and any(t == MODIFIED for t, *_ in _of(ev, listed)))
        mine = _of(seen, created)
        versions = [v for _, v, _, _ in mine]
        assert versions == sorted(versions) and mine[-1][:2] == (DELETED, 3)
        assert [t for t, *_ in mine[1:-1]] == [MODIFIED] * (len(mine) - 2)
        assert _of(seen, listed)[-1][:3] == (MODIFIED, 2, phases.IN_PROGRESS)
    finally:
        everything.stream.close()
        running.stream.close()

