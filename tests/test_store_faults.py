"""A store write fault that passes leaves the daemon serving, against the real daemon.

Each fault is injected for real in a ``serve`` subprocess: its open-file limit lowered
under it (``prlimit``) as if idle connections had taken every descriptor, its RocksDB
directory made unwritable (``chmod``, or ``chattr +i`` as root, whom modes do not stop),
or its disk, a small tmpfs (root only), filled up.
RocksDB only opens a new file when a memtable fills (16 MiB), so the tests write ~2.5 MB
statuses until one fails. While the fault lasts, writes get UNAVAILABLE naming the cause
and the health service says NOT_SERVING; once it is gone the store recovers by itself,
every acknowledged update is still there (also after a restart), and SIGTERM exits 0
without a traceback whatever the store's state.
"""

from __future__ import annotations

import os
import resource
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from stigmer_actors import wire
from stigmer_actors.client import StigmerClient
from stigmer_actors.contract import AGENT_WIRE
from tests.daemon import Daemon

BIG = 2_500_000
"""Bytes of one status: 7 of them fill a 16 MiB memtable, under the 4 MiB message limit."""
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class Writer:
    """Big updates to one execution, remembering the last one the daemon acknowledged."""

    def __init__(self, client: StigmerClient) -> None:
        self.client = client
        self.eid = client.create_agent("m", session_id="s").metadata.id
        self.acked = (1, "")  # (version, error text) of the last acknowledged update
        self.sent = 0

    def update(self) -> None:
        self.sent += 1
        error = f"{self.sent:04d}" + "x" * BIG
        version = self.client.update_status(self.eid, wire.AgentExecutionStatus(error=error)).status.version
        self.acked = (version, error)

    def until_refused(self, limit: int = 30) -> grpc.RpcError:
        """Update until the store refuses one (a memtable switch needs a new file)."""
        for _ in range(limit):
            try:
                self.update()
            except grpc.RpcError as error:
                return error
        raise AssertionError(f"{limit} updates of {BIG:,} bytes and none was refused")

    def check_kept(self, client: StigmerClient | None = None) -> None:
        stored = (client or self.client).get(self.eid).status
        assert (stored.version, stored.error) == self.acked


def health_of(channel: grpc.Channel, service: str = "") -> int:
    stub = health_pb2_grpc.HealthStub(channel)
    return stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10).status


def wait_serving(channel: grpc.Channel, timeout: float = 30) -> float:
    """Seconds until the health service says SERVING again (fails after ``timeout``)."""
    t0 = time.monotonic()
    while health_of(channel) != SERVING:
        assert time.monotonic() - t0 < timeout, "the store did not recover"
        time.sleep(0.02)  # polling a condition with a deadline
    return time.monotonic() - t0


def assert_kept_after_restart(data_dir: Path, writer: Writer) -> None:
    """A new daemon on ``data_dir`` serves every update ``writer`` had acknowledged."""
    again = Daemon(data_dir, "--pending-timeout", "0")
    try:
        with StigmerClient(again.address, timeout=30) as client:
            writer.check_kept(client)
    finally:
        assert_clean_exit(again)


def assert_clean_exit(daemon: Daemon) -> None:
    code = daemon.terminate(timeout=20)
    log = "".join(daemon.log)
    assert code == 0, log
    assert "Traceback" not in log, log


@contextmanager
def unwritable(directory: Path) -> Iterator[str]:
    """``directory`` refuses new files while inside; yields how (for messages)."""
    if os.geteuid() != 0:
        directory.chmod(0o555)
        try:
            yield "Permission denied"
        finally:
            directory.chmod(0o755)
        return
    if shutil.which("chattr") is None:
        pytest.skip("running as root without chattr: no way to make a directory unwritable")
    made = subprocess.run(["chattr", "+i", str(directory)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"chattr +i is not supported here: {made.stderr.strip()}")
    try:
        yield "Operation not permitted"
    finally:
        subprocess.run(["chattr", "-i", str(directory)], check=True)


def test_store_recovers_after_the_process_ran_out_of_file_descriptors(data_dir: Path) -> None:
    daemon = Daemon(data_dir, "--pending-timeout", "0")
    client = StigmerClient(daemon.address, timeout=30)
    try:
        writer = Writer(client)
        assert health_of(client._channel) == SERVING
        limits = resource.prlimit(daemon.proc.pid, resource.RLIMIT_NOFILE)
        # Only descriptors 0-2 are allowed now, and they are taken: every open fails EMFILE.
        resource.prlimit(daemon.proc.pid, resource.RLIMIT_NOFILE, (3, limits[1]))
        try:
            refused = writer.until_refused()
            assert refused.code() == grpc.StatusCode.UNAVAILABLE
            assert refused.details().startswith("the store cannot write now (IO error: ")
            assert "Too many open files" in refused.details()
            assert health_of(client._channel) == NOT_SERVING
            assert health_of(client._channel, AGENT_WIRE.command_service) == NOT_SERVING
            again = writer.until_refused(limit=1)  # refused at once, the cause named
            assert again.code() == grpc.StatusCode.UNAVAILABLE and "Too many open files" in again.details()
            writer.check_kept()  # reads go on meanwhile
            time.sleep(1.5)  # the fault lasts a while: several recovery attempts fail first
            assert health_of(client._channel) == NOT_SERVING
        finally:
            resource.prlimit(daemon.proc.pid, resource.RLIMIT_NOFILE, limits)
        took = wait_serving(client._channel)
        print(f"\nrecovered {took:.2f} s after descriptors were available again")
        writer.update()
        writer.update()
        writer.check_kept()
    finally:
        client.close()
    assert_clean_exit(daemon)
    assert_kept_after_restart(data_dir, writer)


def test_store_recovers_after_its_directory_was_not_writable(data_dir: Path) -> None:
    daemon = Daemon(data_dir, "--pending-timeout", "0")
    client = StigmerClient(daemon.address, timeout=30)
    try:
        writer = Writer(client)
        with unwritable(data_dir / "executions.rocksdb") as reason:
            refused = writer.until_refused()
            assert refused.code() == grpc.StatusCode.UNAVAILABLE
            assert refused.details().startswith("the store cannot write now (IO error: ")
            assert reason in refused.details()
            assert health_of(client._channel) == NOT_SERVING
            time.sleep(1.5)  # the fault lasts a while: several recovery attempts fail first
            assert health_of(client._channel) == NOT_SERVING
        took = wait_serving(client._channel)
        print(f"\nrecovered {took:.2f} s after the directory was writable again")
        writer.update()
        writer.check_kept()
    finally:
        client.close()
    assert_clean_exit(daemon)
    assert_kept_after_restart(data_dir, writer)


@contextmanager
def small_tmpfs(path: Path, megabytes: int) -> Iterator[Path]:
    """A tmpfs of ``megabytes`` mounted at ``path`` (skips the test where mounting is not
    allowed: it needs root and CAP_SYS_ADMIN)."""
    path.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)]).returncode != 0:
            subprocess.run(["umount", "-l", str(path)])


def test_store_recovers_after_the_disk_was_full(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "disk", 48) as disk:
        data_dir = disk / "data"
        daemon = Daemon(data_dir, "--pending-timeout", "0")
        client = StigmerClient(daemon.address, timeout=30)
        try:
            writer = Writer(client)
            stat = os.statvfs(disk)
            filler = disk / "filler"
            filler.write_bytes(b"\0" * (stat.f_bavail * stat.f_frsize - 6_000_000))
            refused = writer.until_refused()
            assert refused.code() == grpc.StatusCode.UNAVAILABLE
            assert refused.details().startswith("the store cannot write now (IO error: No space left on device")
            assert health_of(client._channel) == NOT_SERVING
            time.sleep(1.5)  # the disk stays full a while: several recovery attempts fail first
            assert health_of(client._channel) == NOT_SERVING
            filler.unlink()
            took = wait_serving(client._channel)
            print(f"\nrecovered {took:.2f} s after space was freed")
            writer.update()
            writer.check_kept()
        finally:
            client.close()
        assert_clean_exit(daemon)
        assert_kept_after_restart(data_dir, writer)


def test_sigterm_while_the_store_cannot_write_exits_cleanly_and_keeps_acked_updates(
    data_dir: Path,
) -> None:
    daemon = Daemon(data_dir, "--pending-timeout", "0")  # with its workflow runner, as deployed
    client = StigmerClient(daemon.address, timeout=30)
    with unwritable(data_dir / "executions.rocksdb"):
        try:
            writer = Writer(client)
            assert writer.until_refused().code() == grpc.StatusCode.UNAVAILABLE
        finally:
            client.close()
        assert_clean_exit(daemon)  # the store cannot flush: it closes anyway
        assert "store closed without its final flush" in "".join(daemon.log)
    again = Daemon(data_dir, "--pending-timeout", "0")
    try:
        with StigmerClient(again.address, timeout=30) as c2:
            writer.check_kept(c2)
            assert health_of(c2._channel) == SERVING
    finally:
        assert_clean_exit(again)


def test_idle_connections_cannot_take_the_descriptors_the_store_needs(data_dir: Path) -> None:
    """1,100 idle connections against a daemon allowed 1,024 descriptors (hard limit too,
    so it cannot raise it): it keeps at most half of them for connections and closes the
    rest at once, so writes that need new files still succeed."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))

    daemon = Daemon(data_dir, "--pending-timeout", "0", preexec_fn=limit)
    client = StigmerClient(daemon.address, timeout=30)
    host, port = daemon.address.rsplit(":", 1)
    idle: list[socket.socket] = []
    try:
        writer = Writer(client)
        for _ in range(1100):
            idle.append(socket.create_connection((host, int(port)), timeout=10))
        deadline = time.monotonic() + 30
        while sum(map(_closed_by_peer, idle)) < 1100 - 512:
            assert time.monotonic() < deadline, "the daemon kept more connections than its bound"
            time.sleep(0.1)  # polling a condition with a deadline
        held = _sockets_of(daemon.proc.pid)
        print(f"\n1,100 idle connections: the daemon holds {held} sockets")
        assert held <= 512 + 16  # the bound, plus its listening and loopback sockets
        for _ in range(10):  # 25 MB: at least one memtable switch, which opens new files
            writer.update()
        writer.check_kept()
        assert health_of(client._channel) == SERVING
    finally:
        for s in idle:
            s.close()
        client.close()
    with StigmerClient(daemon.address, timeout=30) as fresh:  # a new connection is taken
        writer.check_kept(fresh)
    assert_clean_exit(daemon)


def _closed_by_peer(s: socket.socket) -> bool:
    """Whether the other end closed ``s`` (reading would hit end of file or a reset)."""
    try:
        return s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except ConnectionError:
        return True


def _sockets_of(pid: int) -> int:
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            count += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
        except OSError:
            pass  # closed while we looked
    return count
