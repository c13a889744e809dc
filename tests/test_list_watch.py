"""List-watch (watchExecutions) on a real gRPC server: the initial list then changes,
resuming from a token, filters, deletions, slow readers, the bounds, stale tokens."""

from __future__ import annotations

import threading
import time

import grpc
import pytest

from stigmer_actors import Engine, wire
from stigmer_actors.client import AGENT, WORKFLOW, StigmerClient
from stigmer_actors.domain import phases
from stigmer_actors.feed import memory, watcher
from stigmer_actors.grpc_edge.server import EdgeServer
from tests.conftest import agent

ADDED, MODIFIED, DELETED, BOOKMARK = (wire.watch.ADDED, wire.watch.MODIFIED, wire.watch.DELETED,
                                      wire.watch.BOOKMARK)
WAIT = 15.0  # seconds for "eventually" on a loaded machine


class Reader:
    """Reads a stream in its own thread, so a test can wait for events with a deadline."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.events: list = []
        self.error: grpc.RpcError | None = None
        self._cond = threading.Condition()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        try:
            for event in self.stream:
                with self._cond:
                    self.events.append(event)
                    self._cond.notify_all()
        except grpc.RpcError as error:
            with self._cond:
                self.error = error
                self._cond.notify_all()

    def wait(self, predicate, timeout: float = WAIT) -> list:
        with self._cond:
            assert self._cond.wait_for(lambda: predicate(self.events) or self.error is not None, timeout), (
                f"timed out; got {[(e.type, e.summary.id, e.summary.version) for e in self.events]}")
            if self.error is not None and not predicate(self.events):
                raise self.error
            return list(self.events)

    def wait_error(self, timeout: float = WAIT) -> grpc.RpcError:
        with self._cond:
            assert self._cond.wait_for(lambda: self.error is not None, timeout)
            return self.error

    def changes(self) -> list[tuple[int, str, int]]:
        return [(e.type, e.summary.id, e.summary.version) for e in self.events if e.type != BOOKMARK]


def synced(events: list) -> bool:
    return any(e.initial_list_done for e in events)


def status(phase: int = 0, **fields):
    return wire.AgentExecutionStatus(phase=phase, **fields)


def test_initial_list_then_changes(served) -> None:
    _, _, client = served
    first = client.create_agent("one", session_id="s").metadata.id
    second = client.create_workflow(workflow_id="wf").metadata.id
    client.update_status(first, status(phases.IN_PROGRESS))
    reader = Reader(client.watch_executions())
    events = reader.wait(synced)
    listed = [e for e in events if e.initial]
    assert {(e.type, e.summary.id, e.summary.version) for e in listed} == {(ADDED, first, 2), (ADDED, second, 1)}
    assert all(not e.resume_token for e in listed)  # resume from the BOOKMARK that ends the list
    done = events[-1]
    assert done.type == BOOKMARK and done.initial_list_done and done.resume_token
    assert {e.summary.kind for e in listed} == {wire.dispatch.AGENT, wire.dispatch.WORKFLOW}
    assert next(e for e in listed if e.summary.id == first).summary.session_id == "s"

    client.update_status(first, status(error="slow"))
    third = client.create_agent("three", session_id="s").metadata.id
    reader.wait(lambda ev: len(ev) >= len(events) + 2)
    assert reader.changes()[-2:] == [(MODIFIED, first, 3), (ADDED, third, 1)]
    assert reader.events[-2].summary.error == "slow"
    assert all(e.resume_token for e in reader.events[-2:])
    reader.stream.cancel()


def test_full_state_carries_the_execution(served) -> None:
    _, _, client = served
    eid = client.create_agent("hi", session_id="s").metadata.id
    reader = Reader(client.watch_executions(full_state=True))
    reader.wait(synced)
    client.update_status(eid, status(phases.IN_PROGRESS, messages=[{"content": "streamed"}]))
    event = reader.wait(lambda ev: ev[-1].type == MODIFIED)[-1]
    assert event.WhichOneof("execution") == "agent"
    assert event.agent.status.messages[0].content == "streamed" and event.agent.status.version == 2
    reader.stream.cancel()


def test_resume_from_a_token_loses_and_repeats_nothing(served) -> None:
    _, _, client = served
    ids = [client.create_agent(f"m{i}", session_id="s").metadata.id for i in range(5)]
    reader = Reader(client.watch_executions())
    reader.wait(synced)
    for i, eid in enumerate(ids):  # paced: each change read before the next is made
        client.update_status(eid, status(phases.IN_PROGRESS))
        reader.wait(lambda ev, n=i: sum(e.type == MODIFIED for e in ev) == n + 1)
    token = reader.events[-1].resume_token
    before = reader.changes()
    reader.stream.cancel()

    # While nobody watches: one change to each execution, one deleted, one created.
    for eid in ids[:4]:
        client.update_status(eid, status(error="while away"))
    client.delete(ids[4])
    new = client.create_agent("new", session_id="s").metadata.id

    resumed = Reader(client.watch_executions(since=token))
    resumed.wait(lambda ev: len([e for e in ev if e.type != BOOKMARK]) >= 6)
    after = resumed.changes()
    assert after == [(MODIFIED, eid, 3) for eid in ids[:4]] + [(DELETED, ids[4], 2), (ADDED, new, 1)]
    assert not set(before) & set(after)
    assert all(not e.initial for e in resumed.events)
    resumed.stream.cancel()


def test_filters_kind_phase_session_workflow_tags(served) -> None:
    _, _, client = served
    a1 = client.create_agent("a", session_id="s1", tags=["red", "big"]).metadata.id
    a2 = client.create_agent("b", session_id="s2", tags=["red"]).metadata.id
    w1 = client.create_workflow(workflow_id="wf-a", tags=["red", "big"]).metadata.id
    w2 = client.create_workflow(workflow_instance_id="wfi-b").metadata.id
    client.update_status(a2, status(phases.IN_PROGRESS))

    def listed(**query) -> set[str]:
        reader = Reader(client.watch_executions(**query))
        events = reader.wait(synced)
        reader.stream.cancel()
        return {e.summary.id for e in events if e.initial}

    assert listed(kind=AGENT) == {a1, a2}
    assert listed(kind=WORKFLOW) == {w1, w2}
    assert listed(phases=[phases.IN_PROGRESS]) == {a2}
    assert listed(phases=[phases.PENDING, phases.IN_PROGRESS]) == {a1, a2, w1, w2}
    assert listed(session_id="s1") == {a1}
    assert listed(workflow_id="wf-a") == {w1}
    assert listed(workflow_id="wfi-b") == {w2}
    assert listed(tags=["red"]) == {a1, a2, w1}
    assert listed(tags=["red", "big"]) == {a1, w1}
    assert listed(kind=AGENT, tags=["big"]) == {a1}
    assert listed(session_id="s1", workflow_id="wf-a") == set()  # no execution has both

    # Changes are filtered alike, and leaving the filter is a DELETED with left_filter.
    reader = Reader(client.watch_executions(phases=[phases.IN_PROGRESS], tags=["red"]))
    reader.wait(synced)
    client.update_status(a1, status(phases.IN_PROGRESS))      # enters: ADDED
    client.update_status(w2, wire.WorkflowExecutionStatus(phase=phases.IN_PROGRESS))  # no tag: nothing
    client.update_status(a2, status(phases.COMPLETED))        # leaves: DELETED, left_filter
    events = reader.wait(lambda ev: len([e for e in ev if e.type != BOOKMARK]) >= 3)
    changes = [e for e in events if e.type != BOOKMARK and not e.initial]
    assert [(e.type, e.summary.id, e.left_filter) for e in changes] == [(ADDED, a1, False), (DELETED, a2, True)]
    assert changes[1].summary.phase == phases.COMPLETED
    reader.stream.cancel()


def test_bad_filters_and_tokens_are_refused_precisely(served) -> None:
    _, _, client = served
    cases = [
        (dict(phases=[9]), grpc.StatusCode.INVALID_ARGUMENT, "filter.phases: 9"),
        (dict(tags=["a\x00b"]), grpc.StatusCode.INVALID_ARGUMENT, "filter.tags[0]"),
        (dict(since="not-a-token"), grpc.StatusCode.INVALID_ARGUMENT, "not a resume token"),
        (dict(since="x" * 500), grpc.StatusCode.INVALID_ARGUMENT, "at most 128"),
    ]
    for query, code, words in cases:
        with pytest.raises(grpc.RpcError) as info:
            next(client.watch_executions(**query))
        assert info.value.code() == code and words in info.value.details(), info.value.details()


def test_deletions_are_events_and_never_coalesced_away(served, data_dir) -> None:
    engine, _, client = served
    kept = client.create_agent("kept", session_id="s").metadata.id
    reader = Reader(client.watch_executions())
    reader.wait(synced)
    client.delete(kept)
    event = reader.wait(lambda ev: ev[-1].type == DELETED)[-1]
    assert (event.summary.id, event.summary.version, event.left_filter) == (kept, 1, False)
    reader.stream.cancel()

    # A reader that is not reading while an execution is deleted and created again under
    # the same id hears the deletion first, then the new one (embedded: the reader is
    # held for sure; the rules are the same code as the gRPC stream's). The feed hands
    # changes over on its own thread, so the new life may come as ADDED v1 + MODIFIED v2
    # or coalesced into ADDED v2; the deletion is never folded into it either way.
    eid = "aex-client-chosen-1"
    engine.create(agent(id=eid))
    with engine.watch_executions() as events:
        assert next(events).summary.id == eid
        assert next(events).initial_list_done
        engine.update_status(eid, status(phases.IN_PROGRESS))
        engine.delete(eid)
        engine.create(agent(id=eid))
        engine.update_status(eid, status(error="second life"))
        got = [next(events), next(events)]
        while got[-1].summary.version < 2:
            got.append(next(events))
    assert [(e.type, e.summary.version) for e in got[:2]] in (
        [(DELETED, 2), (ADDED, 2)], [(DELETED, 2), (ADDED, 1)])
    assert [e.type for e in got[2:]] in ([], [MODIFIED])
    assert got[-1].summary.error == "second life"


def test_a_slow_reader_gets_the_newest_state_of_each_execution(served) -> None:
    """100 KB states fill grpc's 64 KB window at once, so the server's side holds the rest:
    while the reader does not read, 300 updates of one execution and 50 of others become
    about one event each, in order, ending on each one's newest state."""
    engine, _, client = served
    hot = client.create_agent("hot", session_id="s").metadata.id
    others = [client.create_agent(f"o{i}", session_id="s").metadata.id for i in range(5)]
    stream = client.watch_executions(full_state=True)
    while not next(stream).initial_list_done:
        pass
    big = "x" * 100_000
    for i in range(300):
        client.update_status(hot, status(messages=[{"content": f"{i} {big}"}]))
        if i % 6 == 0:
            client.update_status(others[i % 5], status(error=f"e{i}"))
    final = {eid: client.get(eid).status.version for eid in [hot, *others]}
    seen: dict[str, list[int]] = {}
    count = 0
    deadline = time.monotonic() + WAIT
    while any(seen.get(eid, [0])[-1] < v for eid, v in final.items()):
        assert time.monotonic() < deadline, seen
        event = next(stream)
        if event.type == BOOKMARK:
            continue
        count += 1
        seen.setdefault(event.summary.id, []).append(event.summary.version)
    stream.cancel()
    print(f"\n350 changes read as {count} events; hot execution versions seen: {seen[hot]}")
    for eid, versions in seen.items():
        assert versions == sorted(set(versions)), (eid, versions)  # ordered, no repeats
    assert len(seen[hot]) <= 10  # coalesced: the reader got the newest, not each of 300
    assert seen[hot][-1] == final[hot] == 301
    deadline = time.monotonic() + WAIT
    while engine.core.feed.watchers:  # the cancel releases the server's side
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_a_reader_too_far_behind_is_aborted_and_resumes_from_its_token(served, monkeypatch) -> None:
    _, _, client = served
    monkeypatch.setattr(watcher, "MAX_PENDING_IDS", 20)
    stream = client.watch_executions(full_state=True)
    token = ""
    for event in stream:
        if event.initial_list_done:
            token = event.resume_token
            break
    big = "y" * 100_000  # fills the transport's window at once: the rest waits in the box
    created = [client.create_agent(f"{i} {big}", session_id="s").metadata.id for i in range(40)]
    with pytest.raises(grpc.RpcError) as info:
        for event in stream:
            if event.resume_token:
                token = event.resume_token
    assert info.value.code() == grpc.StatusCode.ABORTED
    assert "resume from your last resume token" in info.value.details()
    monkeypatch.setattr(watcher, "MAX_PENDING_IDS", 10_000)
    resumed = Reader(client.watch_executions(since=token))
    resumed.wait(lambda ev: created[-1] in {e.summary.id for e in ev})
    ids = [e.summary.id for e in resumed.events if e.type == ADDED]
    assert len(ids) == len(set(ids)) and set(created) - set(ids) <= set(created[:3])
    resumed.stream.cancel()


def test_watch_streams_count_against_the_stream_bound(data_dir) -> None:
    with Engine(data_dir, pending_timeout=0, heartbeat_timeout=0) as engine:
        server = EdgeServer(engine, "127.0.0.1:0", max_streams=3).start()
        client = StigmerClient(server.address)
        try:
            eid = client.create_agent("m", session_id="s").metadata.id
            watches = [client.watch_executions() for _ in range(2)]
            for w in watches:
                next(w)
            subscription = client.watch(eid)
            next(subscription)
            for extra in (client.watch_executions(), client.watch(eid)):
                with pytest.raises(grpc.RpcError) as info:
                    next(extra)
                assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                assert "allows 3" in info.value.details()
            watches[0].cancel()
            assert server.streams.wait_count_at_most(2, timeout=WAIT)
            again = client.watch_executions()
            assert next(again).summary.id == eid
            assert engine.core.feed.watchers == 2
            for stream in (again, watches[1], subscription):
                stream.cancel()
            assert server.streams.wait_count_at_most(0, timeout=WAIT)
        finally:
            client.close()
            server.stop(grace=1)


def test_a_token_older_than_the_ring_or_the_process_is_out_of_range(data_dir, monkeypatch) -> None:
    monkeypatch.setattr(memory, "RING_CHANGES", 50)
    monkeypatch.setattr(memory, "TRIM_STEP", 10)
    with Engine(data_dir, pending_timeout=0, heartbeat_timeout=0) as engine:
        server = EdgeServer(engine, "127.0.0.1:0").start()
        client = StigmerClient(server.address)
        try:
            eid = client.create_agent("m", session_id="s").metadata.id
            stream = client.watch_executions()
            token = next(e for e in stream if e.initial_list_done).resume_token
            stream.cancel()
            for _ in range(30):  # still within the ring: resumable
                client.update_status(eid, status(error="x"))
            assert next(client.watch_executions(since=token)).summary.version == 31
            for _ in range(100):
                client.update_status(eid, status(error="y"))
            with pytest.raises(grpc.RpcError) as info:
                next(client.watch_executions(since=token))
            assert info.value.code() == grpc.StatusCode.OUT_OF_RANGE
            assert info.value.details().startswith("resume token too old: list again")
        finally:
            client.close()
            server.stop(grace=1)
    with Engine(data_dir, pending_timeout=0, heartbeat_timeout=0) as engine:  # a restart
        server = EdgeServer(engine, "127.0.0.1:0").start()
        client = StigmerClient(server.address)
        try:
            with pytest.raises(grpc.RpcError) as info:
                next(client.watch_executions(since=token))
            assert info.value.code() == grpc.StatusCode.OUT_OF_RANGE
            assert "before the server restarted" in info.value.details()
        finally:
            client.close()
            server.stop(grace=1)


def test_stopping_the_server_ends_open_watches(data_dir) -> None:
    with Engine(data_dir, pending_timeout=0, heartbeat_timeout=0) as engine:
        server = EdgeServer(engine, "127.0.0.1:0").start()
        client = StigmerClient(server.address)
        reader = Reader(client.watch_executions())
        reader.wait(synced)
        server.stop(grace=1)
        with reader._cond:
            assert reader._cond.wait_for(lambda: reader.error is not None or reader.stream.done(), WAIT)
        client.close()


def test_a_feed_nobody_watches_keeps_nothing_and_a_mark_starts_keeping(data_dir, monkeypatch) -> None:
    from stigmer_actors.errors import OutOfRange

    monkeypatch.setattr(memory, "RETAIN_IDLE", 0.0)  # stop keeping at the first change unwatched
    with Engine(data_dir, pending_timeout=0, heartbeat_timeout=0) as engine:
        eid = engine.create(agent()).metadata.id
        feed = engine.core.feed
        assert feed.kept == 0  # never watched: nothing kept
        with engine.watch_executions() as events:
            token = next(e for e in events if e.initial_list_done).resume_token
            engine.update_status(eid, status(phases.IN_PROGRESS))
            assert next(events).summary.version == 2 and feed.kept == 1
        engine.update_status(eid, status(error="nobody watches"))
        assert feed.kept == 0
        with pytest.raises(OutOfRange, match="resume token too old: .* pause with nobody watching"):
            engine.watch_executions(since=token)

        monkeypatch.setattr(memory, "RETAIN_IDLE", 300.0)
        marked = feed.mark()  # what the dashboard's list page does before reading its list
        engine.update_status(eid, status(error="after the mark"))
        with engine.watch_executions(since=marked) as events:
            event = next(events)
        assert (event.type, event.summary.version, event.summary.error) == (MODIFIED, 4, "after the mark")
