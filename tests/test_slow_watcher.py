"""A watcher slower than the updates gets the newest state and the terminal one promptly:
intermediate states are coalesced on the server, not queued in the connection."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from stigmer_actors import Engine, wire
from stigmer_actors.client import StigmerClient
from stigmer_actors.domain import phases
from stigmer_actors.grpc_edge import fresh_states
from tests.conftest import workflow
from tests.daemon import Daemon

RATE = 100  # updates per second, at most
WRITE_FOR = 6.0  # seconds of updates before the terminal one
READ_EVERY = 0.5  # seconds the reader spends on each state
STATE_BYTES = 8000


def test_a_slow_watcher_through_our_client_stays_near_the_newest_state(tmp_path: Path) -> None:
    """~100 updates/s of ~8 KB states, a reader taking one every 0.5 s. With grpc's default
    read-ahead it fell 1,000+ versions behind and got the terminal state minutes late; the
    reader now gets the state the server had when it asked for the previous one (~50
    versions at this rate), and the terminal one within a read or two."""
    d = Daemon(tmp_path / "data", "--no-runner", "--pending-timeout", "0", "--heartbeat-timeout", "0")
    writer, reader = StigmerClient(d.address), StigmerClient(d.address)
    try:
        eid = writer.create_workflow(workflow_id="wf-slow").metadata.id
        acked = {"version": 1, "error": "", "terminal_at": 0.0}

        def write() -> None:
            i, started = 0, time.monotonic()
            while time.monotonic() - started < WRITE_FOR:
                i += 1
                error = f"{i:08d}" + "x" * STATE_BYTES
                reply = writer.update_status(eid, wire.WorkflowExecutionStatus(phase=phases.IN_PROGRESS, error=error))
                acked.update(version=reply.status.version, error=error)
                time.sleep(1 / RATE)  # the writer's pace: at most RATE updates a second
            reply = writer.update_status(eid, wire.WorkflowExecutionStatus(phase=phases.COMPLETED))
            acked.update(version=reply.status.version, terminal_at=time.monotonic())

        stream = reader.watch(eid)
        first = next(stream)
        assert first.status.version == 1
        thread = threading.Thread(target=write, daemon=True)
        thread.start()
        # One read period of updates (~50) is the floor: the reader gets the state the
        # server held when it asked for the previous one. grpc's default read-ahead: 1,000+.
        max_lag = 3 * RATE * READ_EVERY
        reads: list[tuple[int, int]] = []  # (version read, newest acknowledged then)
        last, arrived = first, 0.0
        for last in stream:
            reads.append((last.status.version, acked["version"]))
            if last.status.phase == phases.COMPLETED:
                arrived = time.monotonic()
                break
            overdue = acked["terminal_at"] and time.monotonic() - acked["terminal_at"] > 10
            if acked["version"] - last.status.version > max_lag or overdue:
                break  # failed: stop reading a backlog that could take minutes
            time.sleep(READ_EVERY)  # the slow reader: the test's subject, not a synchronization
        thread.join(timeout=30)

        versions = [v for v, _ in reads]
        lags = [newest - version for version, newest in reads]
        late = f"{arrived - acked['terminal_at']:.2f} s after it was acknowledged" if arrived else "never"
        print(f"\n{len(reads)} states read of {acked['version']} versions; lag per read {lags}; terminal {late}")
        assert versions == sorted(set(versions))
        assert max(lags) <= max_lag, lags
        assert last.status.phase == phases.COMPLETED, "the terminal state did not arrive"
        assert arrived - acked["terminal_at"] < 5.0
        assert reader.stats().states_coalesced > 0

        # Nothing acknowledged was lost, and the daemon keeps serving.
        final = writer.get(eid)
        assert last.status.version == final.status.version == acked["version"]
        assert final.status.error == acked["error"] == last.status.error
        assert [s.status.version for s in reader.watch(eid)] == [acked["version"]]
    finally:
        writer.close()
        reader.close()
        code = d.terminate()
    assert code == 0


def test_after_a_slow_hand_off_the_stream_sends_the_newest_state(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The state a subscription holds after its consumer was slow is as old as the wait;
    the stream sends the newest instead (and counts the one it dropped)."""
    monkeypatch.setattr(fresh_states, "FRESH_WAIT", 30.0)  # the newest comes in ms: never time out here
    eid = engine.create(workflow()).metadata.id
    dropped = []
    with engine.subscribe(eid) as subscription:
        sent = fresh_states.fresh_states(subscription, lambda: dropped.append(1))
        assert next(sent).version == 1
        # The hand-off of version 1 "waits for the client" while versions 2..10 are written:
        # the subscription holds version 2 and has held back the rest.
        for i in range(9):
            engine.update_status(eid, wire.WorkflowExecutionStatus(error=str(i)))
        time.sleep(fresh_states.SLOW_HAND_OFF * 2)  # the slow hand-off being simulated
        assert next(sent).version == 10
        assert dropped == [1]
        # The terminal state goes out as it is, and the stream ends.
        engine.update_status(eid, wire.WorkflowExecutionStatus(phase=phases.COMPLETED))
        assert next(sent).version == 11
        assert next(sent, None) is None
