"""``serve`` refuses to start with one line saying what is wrong and what to do, and an exit
code per sort of problem (``cli/startup.py``), never a traceback: the real CLI, each fault
made for real on disk."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from stigmer_actors.cli.startup import (
    EXIT_CANNOT_LISTEN,
    EXIT_DAMAGED,
    EXIT_IN_USE,
    EXIT_NOT_WRITABLE,
    EXIT_SECURITY_FILE,
    EXIT_UNGUARDED,
)
from stigmer_actors.client import Credentials, StigmerClient
from stigmer_actors.security import keys
from tests.certs import make_pki
from tests.daemon import Daemon, cli


def serve(data_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    return cli("serve", "--address", "127.0.0.1:0", "--data-dir", str(data_dir), *extra)


def refusal(result: subprocess.CompletedProcess, code: int) -> str:
    """The one line ``serve`` printed, after checking its exit code and the absence of a trace."""
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert " ERROR " in line, line
    return line


def made_store(data_dir: Path) -> Path:
    """A real store with one execution, the daemon stopped; returns its RocksDB directory."""
    daemon = Daemon(data_dir)
    assert daemon.terminate() == 0
    return data_dir / "executions.rocksdb"


def test_a_second_daemon_on_the_same_directory_names_the_first(data_dir: Path) -> None:
    first = Daemon(data_dir)
    try:
        line = refusal(serve(data_dir), EXIT_IN_USE)
        assert f"data directory {data_dir} is in use by process {first.proc.pid} (" in line
        assert "stigmer_actors.cli.main serve" in line
        assert line.endswith("stop it, or give this one another --data-dir")
    finally:
        assert first.terminate() == 0


def test_a_corrupt_current_file(data_dir: Path) -> None:
    (made_store(data_dir) / "CURRENT").write_text("MANIFEST-999999-garbage")
    line = refusal(serve(data_dir), EXIT_DAMAGED)
    assert f"the store in {data_dir} is damaged (Corruption: " in line
    assert "restore the directory from a backup, or move it aside" in line


def test_a_corrupt_manifest(data_dir: Path) -> None:
    rocks = made_store(data_dir)
    [manifest] = rocks.glob("MANIFEST-*")
    with manifest.open("r+b") as f:
        f.write(b"\xff" * 64)
    line = refusal(serve(data_dir), EXIT_DAMAGED)
    assert f"the store in {data_dir} is damaged (" in line and "MANIFEST" in line


def test_a_data_dir_under_a_regular_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    data_dir = tmp_path / "file" / "data"
    line = refusal(serve(data_dir), EXIT_NOT_WRITABLE)
    assert f"cannot write the data directory {data_dir} (" in line
    assert "Not a directory" in line and line.endswith("or give another --data-dir")


def test_an_existing_data_dir_that_cannot_be_written(data_dir: Path) -> None:
    data_dir.mkdir()
    if os.geteuid() != 0:
        data_dir.chmod(0o555)
        undo = ["chmod", "755", str(data_dir)]
    else:
        if shutil.which("chattr") is None:
            pytest.skip("running as root without chattr: no way to make a directory unwritable")
        made = subprocess.run(["chattr", "+i", str(data_dir)], capture_output=True, text=True)
        if made.returncode != 0:
            pytest.skip(f"chattr +i is not supported here: {made.stderr.strip()}")
        undo = ["chattr", "-i", str(data_dir)]
    try:
        line = refusal(serve(data_dir), EXIT_NOT_WRITABLE)
    finally:
        subprocess.run(undo, check=True)
    assert f"cannot write the data directory {data_dir} (" in line


def test_an_address_already_taken(data_dir: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli("serve", "--address", f"127.0.0.1:{port}", "--data-dir", str(data_dir))
    line = refusal(result, EXIT_CANNOT_LISTEN)
    assert f"cannot serve: could not listen on 127.0.0.1:{port} (Address already in use)" in line


@pytest.mark.parametrize("flag,value,bound", [
    ("--pending-timeout", "1e10", "from 0 to 2,592,000 seconds (30 days)"),
    ("--heartbeat-timeout", "-1", "from 0 to 2,592,000 seconds (30 days)"),
    ("--max-streams", "100000", "from 1 to 10,000"),
    ("--inactivity-timeout", "0", "more than 0 and at most 2,592,000 seconds (30 days)"),
])
def test_flags_out_of_bounds_are_refused_naming_the_bound(
    data_dir: Path, flag: str, value: str, bound: str
) -> None:
    result = serve(data_dir, flag, value)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"stigmer-actors serve: error: argument {flag}: {value} is out of bounds: it must be {bound}"
    )
    assert not data_dir.exists()  # refused before anything was opened


def test_a_network_address_without_keys_or_mutual_tls_is_refused(data_dir: Path, tmp_path: Path) -> None:
    line = refusal(serve(data_dir, "--address", "0.0.0.0:0"), EXIT_UNGUARDED)
    assert line.endswith(
        "refusing to serve 0.0.0.0:0 unguarded: it is reachable from other hosts, and without API keys "
        "or mutual TLS anyone who reaches it can read, change and delete every execution; give "
        "--api-keys FILE (stigmer-actors keys create) or --tls-client-ca FILE (with --tls-cert and "
        "--tls-key), or --insecure to serve it anyway")
    assert not data_dir.exists()  # refused before anything was opened
    pki = make_pki(tmp_path / "pki")  # server TLS alone does not say who the client is
    tls = ("--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key))
    assert refusal(serve(data_dir, "--address", "0.0.0.0:0", *tls), EXIT_UNGUARDED).endswith(
        "or --insecure to serve it anyway")


def test_insecure_serves_a_network_address_and_warns(data_dir: Path) -> None:
    daemon = Daemon(data_dir, "--address", "0.0.0.0:0", "--insecure")
    try:
        port = daemon.address.rsplit(":", 1)[1]
        with StigmerClient(f"127.0.0.1:{port}") as client:
            assert client.stats().uptime_seconds >= 0
    finally:
        assert daemon.terminate() == 0
    warnings = [line for line in daemon.log if " WARNING " in line]
    assert len(warnings) == 1 and "serving 0.0.0.0:0 with no API keys and no mutual TLS (--insecure): " \
        "anyone who reaches it can read, change and delete every execution" in warnings[0]


def test_a_network_address_with_keys_or_mutual_tls_starts(data_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "api-keys"
    key = keys.create(path, "ops", "admin")[1]
    daemon = Daemon(data_dir, "--address", "0.0.0.0:0", "--api-keys", str(path))
    try:
        port = daemon.address.rsplit(":", 1)[1]
        with StigmerClient(f"127.0.0.1:{port}", credentials=Credentials(api_key=key)) as client:
            assert client.stats().uptime_seconds >= 0
    finally:
        assert daemon.terminate() == 0
    assert any(" WARNING " in line and "API keys travel in clear text" in line for line in daemon.log)
    pki = make_pki(tmp_path / "pki")
    daemon = Daemon(data_dir, "--address", "0.0.0.0:0", "--tls-cert", str(pki.server_cert), "--tls-key",
                    str(pki.server_key), "--tls-client-ca", str(pki.ca))
    try:
        assert any("security: mutual TLS, no API keys" in line for line in daemon.log)
    finally:
        assert daemon.terminate() == 0
    assert not any(" WARNING " in line for line in daemon.log)


def test_security_files_that_cannot_be_used(data_dir: Path, tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    missing = tmp_path / "missing.pem"
    line = refusal(serve(data_dir, "--tls-cert", str(missing), "--tls-key", str(pki.server_key)), EXIT_SECURITY_FILE)
    assert line.endswith(f"cannot read --tls-cert {missing} (No such file or directory)")
    line = refusal(serve(data_dir, "--tls-cert", str(pki.server_cert), "--tls-key", str(pki.client_key)),
                   EXIT_SECURITY_FILE)
    assert f"--tls-cert {pki.server_cert} and --tls-key {pki.client_key} are not a PEM certificate and its " \
           "private key (" in line
    line = refusal(serve(data_dir, "--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key),
                         "--tls-client-ca", str(pki.server_key)), EXIT_SECURITY_FILE)
    assert f"--tls-client-ca {pki.server_key} is not a PEM CA certificate (" in line
    bad_keys = tmp_path / "api-keys"
    bad_keys.write_text("ops admin not-a-hash\n")
    line = refusal(serve(data_dir, "--api-keys", str(bad_keys)), EXIT_SECURITY_FILE)
    assert line.endswith(f"the API keys file {bad_keys} has 1 bad line(s): line 1: the hash must be sha256: and "
                         "64 hex digits: fix or remove them (stigmer-actors keys create writes good ones)")
    line = refusal(serve(data_dir, "--api-keys", str(tmp_path / "nope")), EXIT_SECURITY_FILE)
    assert line.endswith(f"cannot read the API keys file {tmp_path / 'nope'} (No such file or directory)")
    line = refusal(serve(data_dir, "--tls-cert", str(pki.server_cert)), 2)
    assert line.endswith("--tls-cert and --tls-key go together: give both, or neither")
    line = refusal(serve(data_dir, "--tls-client-ca", str(pki.ca)), 2)
    assert line.endswith("--tls-client-ca needs TLS: give --tls-cert and --tls-key too")
    assert not data_dir.exists()  # every refusal came before the store was opened
