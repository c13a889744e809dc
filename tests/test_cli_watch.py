"""``watch`` tells a daemon that went away from an execution that was deleted: it reconnects
(for ``--reconnect-for`` seconds) and goes on from the version it had, against the real
daemon stopped (SIGTERM) or killed (SIGKILL) and started again on the same address."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from stigmer_actors import wire
from stigmer_actors.client import StigmerClient
from stigmer_actors.domain import phases
from tests.daemon import CLI, Daemon


def free_address() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def watch(address: str, eid: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([*CLI, "watch", eid, "--address", address, *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def read_line(stream: object) -> str:
    line = stream.readline()  # type: ignore[attr-defined]
    assert line, "the watcher ended early"
    return str(line)


@pytest.mark.parametrize("stop", ["SIGTERM", "SIGKILL"])
def test_watch_reconnects_after_the_daemon_restarts_and_goes_on(data_dir: Path, stop: str) -> None:
    address = free_address()
    daemon = Daemon(data_dir, "--address", address, "--pending-timeout", "0", "--heartbeat-timeout", "0")
    with StigmerClient(address) as client:
        eid = client.create_agent("m", session_id="s").metadata.id
    watcher = watch(address, eid)
    assert watcher.stdout is not None and watcher.stderr is not None
    try:
        assert " v1" in read_line(watcher.stdout)
        with StigmerClient(address) as client:
            client.update_status(eid, wire.AgentExecutionStatus(phase=phases.IN_PROGRESS))
        assert "EXECUTION_IN_PROGRESS  v2" in read_line(watcher.stdout)
        if stop == "SIGTERM":
            assert daemon.terminate() == 0
        else:
            daemon.proc.kill()
            daemon.proc.wait(timeout=30)
        lost = read_line(watcher.stderr)
        assert lost.startswith(f"lost the daemon at {address} (") and "reconnecting for up to 30 s" in lost
        assert watcher.poll() is None  # still waiting for the daemon, not "deleted"

        daemon = Daemon(data_dir, "--address", address, "--pending-timeout", "0", "--heartbeat-timeout", "0")
        assert read_line(watcher.stderr).strip() == f"reconnected to the daemon at {address}"
        with StigmerClient(address) as client:
            client.update_status(eid, wire.AgentExecutionStatus(phase=phases.COMPLETED))
        out, err = watcher.communicate(timeout=60)
    finally:
        if watcher.poll() is None:
            watcher.kill()
        if daemon.proc.poll() is None:
            assert daemon.terminate() == 0
    assert watcher.returncode == 0, err
    # v2 is not shown twice: the stream it reconnected to starts at the version it had.
    assert [line.split()[2:] for line in out.splitlines()] == [["EXECUTION_COMPLETED", "v3"]]
    assert "Traceback" not in err and "deleted" not in err


def test_watch_gives_up_after_reconnect_for_with_the_unreachable_hint(data_dir: Path) -> None:
    daemon = Daemon(data_dir, "--pending-timeout", "0")
    with StigmerClient(daemon.address) as client:
        eid = client.create_agent("m", session_id="s").metadata.id
    watcher = watch(daemon.address, eid, "--reconnect-for", "2")
    assert watcher.stdout is not None
    assert eid in read_line(watcher.stdout)
    assert daemon.terminate() == 0
    out, err = watcher.communicate(timeout=60)
    assert watcher.returncode == 11, err
    lost, hint = err.strip().splitlines()
    assert lost.startswith(f"lost the daemon at {daemon.address} (") and lost.endswith("reconnecting for up to 2 s")
    assert hint.startswith(f"cannot reach the daemon at {daemon.address} (gone for 2 s: Connection refused): ")
    assert f"`stigmer-actors serve --address {daemon.address}`" in hint
    assert out == ""


def test_a_deletion_is_not_taken_for_a_lost_daemon(data_dir: Path) -> None:
    daemon = Daemon(data_dir, "--pending-timeout", "0")
    try:
        with StigmerClient(daemon.address) as client:
            eid = client.create_agent("m", session_id="s").metadata.id
            watcher = watch(daemon.address, eid)
            assert watcher.stdout is not None
            assert eid in read_line(watcher.stdout)
            client.delete(eid)
            _, err = watcher.communicate(timeout=60)
    finally:
        assert daemon.terminate() == 0
    assert watcher.returncode == 4
    assert err.strip() == f"{eid} was deleted while watched"  # and no "lost the daemon"
