"""Cluster mode: several `serve` nodes (real subprocesses) on one real PostgreSQL.

The promises of the single node, held across nodes: nothing acknowledged is lost, every
watcher sees increasing versions and ends on the stored final state, wherever it watches
and whichever node wrote; and when a node dies or the database restarts, the rest carries
on: watchers resume elsewhere, PENDING work a dead node held reaches another runner once
its lease lapses, a timer fires exactly once.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import grpc
import psycopg
import pytest
from google.protobuf.message import Message

from stigmer_actors import AGENT, WORKFLOW, wire
from stigmer_actors.client import StigmerClient
from stigmer_actors.domain import phases
from stigmer_actors.domain.timeouts import PENDING_ANNOTATION
from stigmer_actors.domain.transitions import apply_status
from tests.daemon import Daemon
from tests.postgres import PostgresServer
from tests.test_concurrency import _comparable, _status

NODES = 3
WRITERS = 32
LEASE = "2"


@pytest.fixture
def cluster_dsn(postgres_server: PostgresServer) -> Iterator[tuple[PostgresServer, str, str]]:
    name = postgres_server.create_database()
    try:
        yield postgres_server, name, postgres_server.dsn(name)
    finally:
        postgres_server.drop_database(name)


def start_nodes(dsn: str, count: int = NODES, *extra: str) -> list[Daemon]:
    return [Daemon(dsn, "--no-runner", "--heartbeat-timeout", "0", "--cluster-lease", LEASE,
                   *extra) for _ in range(count)]


def stop_nodes(nodes: list[Daemon]) -> None:
    for node in nodes:
        if node.proc.poll() is None:
            assert node.terminate(timeout=20) == 0, "".join(node.log[-20:])


@dataclass
class Watcher:
    """A subscriber on its own thread, recording every version it sees."""

    client: StigmerClient
    execution_id: str
    versions: list[int] = field(default_factory=list)
    last: Message | None = None
    error: BaseException | None = None

    def start(self) -> Watcher:
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def _run(self) -> None:
        try:
            for state in self.client.watch(self.execution_id, retry_for=60):
                self.versions.append(state.status.version)
                self.last = state
        except BaseException as error:  # asserted by the test
            self.error = error


def until_acked(call: Callable[[], Message], seconds: float = 60) -> Message:
    """A runner's way: retry what the cluster could not take now (UNAVAILABLE) until it is
    acknowledged. Each retry sends the same change, so a change applied without an answer
    (its node died after the commit) is applied again with the same values."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return call()
        except grpc.RpcError as error:
            if error.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED) \
                    or time.monotonic() > deadline:
                raise
            time.sleep(0.05)  # a pause between retries, as StatusBuilder makes


def storm(clients: list[StigmerClient], execution_id: str, calls: int, joiners: list[Watcher],
          watch_clients: list[StigmerClient], during: Callable[[int], None] = lambda _: None,
          ) -> list[tuple[int, Message, Message]]:
    """WRITERS threads, thread k writing through clients[k % len], its own field pattern;
    watchers join at random on every node. ``during(i)`` runs in writer 0 after call i."""
    results: list[tuple[int, Message, Message]] = []
    lock = threading.Lock()
    start = threading.Barrier(WRITERS)

    def writer(k: int) -> None:
        rng = random.Random(k)
        client = clients[k % len(clients)]
        mine = []
        start.wait()
        for call in range(calls):
            status = _status(k, call)
            reply = until_acked(lambda: client.update_status(execution_id, status))  # noqa: B023 - called here
            mine.append((reply.status.version, status, reply))
            if rng.random() < 0.02:
                watcher = Watcher(rng.choice(watch_clients), execution_id).start()
                with lock:
                    joiners.append(watcher)
            if k == 0:
                during(call)
        with lock:
            results.extend(mine)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not any(t.is_alive() for t in threads), "a writer hung"
    return results


def check_watchers(watchers: list[Watcher], final: Message) -> None:
    for watcher in watchers:
        watcher.thread.join(60)
        assert not watcher.thread.is_alive(), "a watcher hung after the terminal update"
        assert watcher.error is None, watcher.error
        assert watcher.versions == sorted(set(watcher.versions)), "versions not strictly increasing"
        assert watcher.last == final, "a watcher's last state differs from the stored one"


def replay(created: Message, results: list[tuple[int, Message, Message]], every: bool) -> Message:
    """The merge of every acknowledged change in version order; with ``every``, each reply
    must be exactly the state its version had."""
    state = _comparable(created)
    for version, status, reply in sorted(results, key=lambda r: r[0]):
        apply_status(AGENT, state, status)
        state.status.version = version
        if every:
            assert _comparable(reply) == _comparable(state), f"reply of version {version} differs"
    return _comparable(state)


def test_three_nodes_32_writers_on_one_execution_lose_nothing(cluster_dsn) -> None:
    _, _, dsn = cluster_dsn
    nodes = start_nodes(dsn)
    clients = [StigmerClient(n.address) for n in nodes]
    try:
        created = clients[0].create_agent("storm", session_id="s")
        eid = created.metadata.id
        early = [Watcher(c, eid).start() for c in clients]
        joiners: list[Watcher] = []
        t0 = time.perf_counter()
        results = storm(clients, eid, 40, joiners, clients)
        elapsed = time.perf_counter() - t0
        for c in clients:
            c.stats()  # every node still answers
        # Every acknowledged change got its own version, none lost, none given twice.
        versions = sorted(r[0] for r in results)
        assert versions == list(range(2, len(results) + 2))
        replay(created, results, every=True)
        terminal = clients[1].update_status(eid, wire.AgentExecutionStatus(phase=phases.COMPLETED))
        final = clients[2].get(eid)
        assert final == terminal
        check_watchers(early + joiners, final)
        assert len(joiners) > 10
        print(f"\n{len(results)} updates from {WRITERS} threads over {NODES} nodes on one execution "
              f"in {elapsed:.1f} s ({len(results) / elapsed:.0f}/s); {len(joiners)} watchers joined")
    finally:
        for c in clients:
            c.close()
        stop_nodes(nodes)


def test_a_node_killed_mid_storm_loses_nothing_and_its_work_moves_on(cluster_dsn) -> None:
    """SIGKILL one node while writers, watchers and runners use it: acknowledged updates
    all stay; its watchers resume on another node and end on the final state; the PENDING
    executions it held for a runner reach another runner once the lease lapses; a pending
    timeout armed before the kill fires exactly once."""
    _, _, dsn = cluster_dsn
    nodes = start_nodes(dsn, NODES, "--pending-timeout", "0")
    victim, survivors = nodes[0], nodes[1:]
    everywhere = ",".join(n.address for n in nodes)
    clients = [StigmerClient(everywhere) for _ in range(4)]
    on_victim = StigmerClient(victim.address)
    try:
        # A runner on the victim holds three PENDING executions (it never starts them).
        held = [on_victim.create_agent(f"held {i}", session_id="held").metadata.id for i in range(3)]
        victim_claims = on_victim.claim(AGENT, "victim-runner", capacity=3)
        taken = {next(victim_claims).metadata.id for _ in range(3)}
        assert taken == set(held)
        created = clients[0].create_agent("storm", session_id="s")  # the runner is full now
        eid = created.metadata.id
        # A workflow execution due to fail 4 s from now, its timer in the database.
        timed = on_victim.create(wire.WorkflowExecution(
            metadata={"annotations": {PENDING_ANNOTATION: "4"}}, spec={"workflow_id": "nobody-runs-it"}))
        watchers = [Watcher(StigmerClient(everywhere), eid).start() for _ in range(6)]
        killed = threading.Event()

        def kill_at(call: int) -> None:
            if call == 10:
                victim.kill()
                killed.set()

        joiners: list[Watcher] = []
        results = storm(clients, eid, 30, joiners, clients, during=kill_at)
        assert killed.is_set()
        # The writers went on through the survivors; every acknowledged change is in the
        # final state (a change applied by the dead node but not answered was sent again).
        assert len({r[0] for r in results}) == len(results), "two acknowledged changes share a version"
        expected = replay(created, results, every=False)
        until_acked(lambda: clients[1].update_status(
            eid, wire.AgentExecutionStatus(phase=phases.COMPLETED)))
        stored = _comparable(clients[2].get(eid))
        expected.status.phase = phases.COMPLETED
        expected.status.version = stored.status.version
        assert stored == expected
        check_watchers(watchers + joiners, clients[3].get(eid))
        # The victim's held executions reach a runner on a survivor after the lease.
        with StigmerClient(survivors[0].address) as on_survivor:
            began = time.monotonic()
            claims = on_survivor.claim(AGENT, "survivor-runner", capacity=3)
            moved = {next(claims).metadata.id for _ in range(3)}
            waited = time.monotonic() - began
            claims.cancel()
            assert moved == set(held)
            # The timer fired once: FAILED at version 2, nothing after.
            deadline = time.monotonic() + 30
            while on_survivor.get(timed.metadata.id).status.phase != phases.FAILED:
                assert time.monotonic() < deadline, "the timer armed before the kill never fired"
                time.sleep(0.1)  # polling a condition with a deadline
            failed = on_survivor.get(timed.metadata.id)
            assert failed.status.version == 2 and "no runner picked up" in failed.status.error
        fired = sum(StigmerClient(n.address).stats().watchdog_failures.get("pending", 0)
                    for n in survivors)
        assert fired == 1
        print(f"\nnode killed mid-storm: {len(results)} acknowledged updates kept, "
              f"{len(watchers) + len(joiners)} watchers ended on the final state, held work "
              f"moved to another runner {waited:.1f} s later")
    finally:
        for c in [*clients, on_victim]:
            c.close()
        stop_nodes(nodes)


def test_the_database_restarted_and_the_listener_killed_mid_storm(cluster_dsn) -> None:
    """PostgreSQL restarted mid-storm, and the nodes' LISTEN connections killed with
    pg_terminate_backend: the nodes answer UNAVAILABLE meanwhile and recover by themselves,
    no watcher misses the terminal state, nothing acknowledged is lost."""
    server, database, dsn = cluster_dsn
    nodes = start_nodes(dsn, 2)
    everywhere = ",".join(n.address for n in nodes)
    clients = [StigmerClient(n.address) for n in nodes]
    try:
        created = clients[0].create_agent("storm", session_id="s")
        eid = created.metadata.id
        watchers = [Watcher(c, eid).start() for c in clients for _ in range(3)]
        unavailable = threading.Event()

        def faults(call: int) -> None:
            if call == 5:
                assert server.terminate_backends(database, "stigmer-listener") == len(nodes)
            if call == 15:
                server.stop("fast")
                try:  # while it is down, a node answers at once, and precisely
                    clients[1].get(eid)
                except grpc.RpcError as error:
                    assert error.code() == grpc.StatusCode.UNAVAILABLE
                    assert "database" in error.details()
                    unavailable.set()
                server.start()

        joiners: list[Watcher] = []
        roaming = StigmerClient(everywhere)
        results = storm(clients, eid, 30, joiners, [roaming], during=faults)
        assert unavailable.is_set()
        assert len({r[0] for r in results}) == len(results)
        expected = replay(created, results, every=False)
        until_acked(lambda: clients[0].update_status(eid, wire.AgentExecutionStatus(phase=phases.FAILED)))
        final = clients[1].get(eid)
        stored = _comparable(final)
        expected.status.phase = phases.FAILED
        expected.status.version = stored.status.version
        assert stored == expected
        check_watchers(watchers + joiners, final)
    finally:
        for c in clients:
            c.close()
        stop_nodes(nodes)


CHAIN = """
name: slow-chain
nodes:
  - {id: first, type: wait, with: {for: 200ms}}
  - {id: second, type: wait, with: {for: 4s}}
  - {id: last, type: noop}
edges:
  - {from: first, to: second}
  - {from: second, to: last}
"""


def test_a_workflow_run_resumes_on_another_node_when_its_node_dies(cluster_dsn) -> None:
    """Definitions and a run's recorded progress are in the shared database: when the node
    running a run is SIGKILLed, another node's runner takes the run over once its lease
    lapses, and finishes it without running again what was recorded."""
    server, database, dsn = cluster_dsn
    nodes = [Daemon(dsn, "--heartbeat-timeout", "0", "--pending-timeout", "0", "--cluster-lease", LEASE)
             for _ in range(2)]
    everywhere = ",".join(n.address for n in nodes)
    try:
        with StigmerClient(everywhere) as client:
            client.apply_workflow(CHAIN)
            run = client.create_workflow(workflow_id="slow-chain")
            eid = run.metadata.id
            before = None
            for state in client.watch(eid, WORKFLOW):  # until `second` runs: `first` is recorded
                tasks = {t.task_id: t for t in state.status.tasks}
                if tasks.get("second#0") and tasks["second#0"].status == 2:  # IN_PROGRESS
                    before = tasks["first#0"]
                    break
            assert before is not None and before.status == 3  # first: COMPLETED
            with psycopg.connect(server.dsn(database)) as conn:
                owner = conn.execute("SELECT owner FROM leases WHERE name = %s",
                                     (f"run {eid}",)).fetchone()[0]
            pid = int(owner.split("@", 1)[1].split(":")[1])
            [holder] = [n for n in nodes if n.proc.pid == pid]
            [other] = [n for n in nodes if n is not holder]
            holder.kill()
            began = time.monotonic()
            with StigmerClient(other.address) as survivor:
                final = list(survivor.watch(eid, WORKFLOW, retry_for=60))[-1]
            took = time.monotonic() - began
        assert final.status.phase == phases.COMPLETED, final.status.error
        tasks = {t.task_id: t for t in final.status.tasks}
        assert [tasks[k].status for k in ("first#0", "second#0", "last#0")] == [3, 3, 3]
        assert tasks["first#0"].started_at == before.started_at  # recorded: not run again
        assert tasks["first#0"].completed_at == before.completed_at
        print(f"\nrun taken over by the surviving node and completed {took:.1f} s after the kill")
    finally:
        stop_nodes(nodes)
