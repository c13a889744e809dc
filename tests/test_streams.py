"""Stream lifecycle over gRPC: cancellation cleans up, the stream bound refuses at once."""

from __future__ import annotations

import threading
import time

import grpc
import pytest

from stigmer_actors import Engine, wire
from stigmer_actors.client import StatusBuilder, StigmerClient
from stigmer_actors.domain import phases
from stigmer_actors.grpc_edge.server import UNARY_WORKERS, EdgeServer
from tests.conftest import agent

BATCH = 100  # opening thousands at once can get some CANCELLED by the accept backlog


def _threads() -> tuple[int, int]:
    """The server's threads: (pool workers, the rest: actors and the reaper).

    The pool keeps its workers for reuse by design, so they are counted apart. Client-side
    grpc threads (a channel's spin thread comes and goes with its calls) are not counted.
    """
    names = [t.name for t in threading.enumerate()]
    pool = sum(n.startswith("grpc-worker") for n in names)
    own = sum(n.startswith(("ExecutionActor-", "execution-reaper")) for n in names)
    return pool, own


def _open_and_cancel(client: StigmerClient, eid: str, count: int) -> None:
    for _ in range(0, count, BATCH):
        streams = [client.watch(eid) for _ in range(BATCH)]
        for stream in streams:
            assert next(stream).metadata.id == eid  # the server has it registered
        for stream in streams:
            stream.cancel()


def test_1000_cancelled_streams_leave_nothing_behind(served) -> None:
    engine, server, client = served
    eid = client.create_agent("m", session_id="s").metadata.id
    registry = engine.core.registry

    _open_and_cancel(client, eid, BATCH)  # warm the server's thread pool up to its size
    assert registry.wait_subscribers_at_most(0, timeout=30)
    _, baseline = _threads()

    t0 = time.perf_counter()
    _open_and_cancel(client, eid, 1000)
    opened = time.perf_counter() - t0
    assert registry.wait_subscribers_at_most(0, timeout=30), f"{registry.subscribers()} left"
    # A slot is freed when its stream thread leaves the handler, just after unsubscribing.
    assert server.streams.wait_count_at_most(0, timeout=30), f"{server.streams.count} slots held"
    pool, after = _threads()
    print(f"\n1000 streams opened+cancelled in {opened:.1f} s; actor and reaper threads "
          f"{baseline} -> {after}, pool workers {pool}; subscribers {registry.subscribers()}; "
          f"open stream slots {server.streams.count}")
    assert after == baseline
    assert pool <= server.streams.limit + UNARY_WORKERS
    # The execution still works and has no stale subscribers to feed.
    assert client.update_status(eid, wire.AgentExecutionStatus(error="x")).status.version == 2


def test_stream_bound_refuses_at_once_and_unary_still_answers(data_dir) -> None:
    with Engine(data_dir) as engine:
        server = EdgeServer(engine, "127.0.0.1:0", max_streams=50).start()
        client = StigmerClient(server.address)
        try:
            eid = client.create_agent("m", session_id="s").metadata.id
            streams = [client.watch(eid) for _ in range(50)]
            for stream in streams:
                next(stream)
            t0 = time.perf_counter()
            extra = client.watch(eid)
            with pytest.raises(grpc.RpcError) as info:
                next(extra)
            refused_in = time.perf_counter() - t0
            print(f"\nthe 51st stream was refused in {refused_in * 1000:.1f} ms")
            assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "50" in info.value.details()
            assert refused_in < 3.0  # refused at once, not queued until a slot frees
            assert client.get(eid).metadata.id == eid
            assert client.update_status(eid, wire.AgentExecutionStatus(error="e")).status.version == 2
            for stream in streams:  # they still deliver
                assert next(stream).status.version == 2
            streams[0].cancel()
            assert engine.core.registry.wait_subscribers_at_most(49, timeout=10)
            assert server.streams.wait_count_at_most(49, timeout=10)
            again = client.watch(eid)
            assert next(again).status.version == 2  # a freed slot can be used again
            for stream in [*streams[1:], again]:
                stream.cancel()
        finally:
            client.close()
            server.stop(grace=1)


def test_status_builder_coalesces_and_delivers_the_final_state(served) -> None:
    _, _, client = served
    eid = client.create_workflow(workflow_id="wf").metadata.id
    seen = []
    watcher = threading.Thread(target=lambda: seen.extend(client.watch(eid)))
    watcher.start()
    with StatusBuilder(client, eid) as builder:
        builder.start()
        for i in range(10_000):
            builder.set_task(f"task-{i % 20}", task_name=f"n{i}", status=2 if i < 9_980 else 3)
        builder.complete()
    final = builder.status()
    print(f"\n{builder.changes} changes sent in {builder.rpcs} updateStatus RPCs")
    assert builder.changes == 10_002
    assert builder.rpcs < builder.changes / 10
    watcher.join(timeout=30)
    assert not watcher.is_alive()
    last = seen[-1].status
    assert last.phase == phases.COMPLETED
    assert list(last.tasks) == list(final.tasks) and last.completed_at == final.completed_at
    assert all(t.status == 3 for t in last.tasks)
    assert client.get(eid).status.tasks == final.tasks


def test_status_builder_rides_out_a_server_restart(data_dir) -> None:
    """Changes made while the server is down are delivered, newest first, once it is back."""
    engine = Engine(data_dir, pending_timeout=0, heartbeat_timeout=0)
    server = EdgeServer(engine, "127.0.0.1:0").start()
    address = server.address
    client = StigmerClient(address, timeout=2)
    try:
        eid = client.create_agent("m", session_id="s").metadata.id
        builder = StatusBuilder(client, eid, retry_for=30)
        builder.start()
        builder.flush()
        server.stop(grace=0)
        for i in range(50):  # while nobody listens
            builder.set_tool_call("c1", name="search", result=f"r{i}")
        with pytest.raises(TimeoutError):
            builder.flush(timeout=0.5)  # not delivered, and no error either: still trying
        server = EdgeServer(engine, address).start()  # back on the same port
        builder.complete()
        builder.close(timeout=30)
        stored = engine.get(eid).status
        assert stored.phase == phases.COMPLETED and stored.tool_calls[0].result == "r49"
        assert builder.rpcs <= 4  # start, then the newest state (maybe one retry overlapping)
    finally:
        client.close()
        server.stop(grace=0)
        engine.close()


def test_disconnected_client_is_unsubscribed(served) -> None:
    engine, server, client = served
    eid = client.create_agent("m", session_id="s").metadata.id
    other = StigmerClient(server.address)  # its own connection, closed under open streams
    _, before = _threads()
    streams = [other.watch(eid) for _ in range(50)]
    for stream in streams:
        next(stream)
    assert engine.core.registry.subscribers() == 50
    assert _threads()[1] == before  # subscribers run on their stream's thread, no thread each
    other.close()
    assert engine.core.registry.wait_subscribers_at_most(0, timeout=10)
    assert server.streams.wait_count_at_most(0, timeout=10)


class _Answer(grpc.RpcError):
    """A server's answer as the client sees it (for the one we cannot cause on demand)."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


def test_which_send_failures_are_retried_and_which_refuse_the_status(served) -> None:
    """Retried: the server away, slow, or at its concurrent-call bound. Refused for good: the
    status itself (too big, invalid) or its execution (ended, gone). Neither: INTERNAL or a
    cancelled call, which say nothing about the status (a runner keeps its progress)."""
    from stigmer_actors.client.status_builder import refused, transient

    _, server, client = served
    eid = client.create(agent()).metadata.id
    real = []
    for bad in (wire.AgentExecutionStatus(phase=42),  # INVALID_ARGUMENT
                wire.AgentExecutionStatus(phase=phases.COMPLETED),
                wire.AgentExecutionStatus(phase=phases.IN_PROGRESS)):  # FAILED_PRECONDITION: it ended
        try:
            client.update_status(eid, bad)
        except grpc.RpcError as error:
            real.append(error)
    assert [e.code() for e in real] == [grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION]
    limit = _Answer(grpc.StatusCode.RESOURCE_EXHAUSTED, "Concurrent RPC limit exceeded!")
    too_big = _Answer(grpc.StatusCode.RESOURCE_EXHAUSTED, "Received message larger than max (9 vs. 4)")
    cases = [*real, limit, too_big, _Answer(grpc.StatusCode.UNAVAILABLE, "down"),
             _Answer(grpc.StatusCode.INTERNAL, "handler failed"), _Answer(grpc.StatusCode.CANCELLED, "closed")]
    assert [(transient(e), refused(e)) for e in cases] == [
        (False, True), (False, True), (True, False), (False, True), (True, False), (False, False), (False, False)]
