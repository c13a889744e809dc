"""The secured daemon as a user runs it: ``serve --api-keys`` picking up key changes while
it runs, workflows running with keys and (mutual) TLS on, both in ``serve``'s own runner
and in a ``stigmer-actors runner`` process, and the CLI's TLS options."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import grpc
import pytest

from stigmer_actors.client import Credentials, StigmerClient
from stigmer_actors.domain import phases
from tests.certs import Pki, make_pki
from tests.daemon import ALLOW_HOOKS, CLI, Daemon, cli
from tests.test_api_keys import create

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def stats_code(address: str, key: str) -> grpc.StatusCode:
    with StigmerClient(address, credentials=Credentials(api_key=key)) as client:
        try:
            client.stats()
        except grpc.RpcError as error:
            return error.code()
    return grpc.StatusCode.OK


def eventually(check, want: grpc.StatusCode, seconds: float = 20.0) -> grpc.StatusCode:
    """Poll ``check()`` until it gives ``want`` or the deadline passes; the last result."""
    deadline = time.monotonic() + seconds
    while (got := check()) != want and time.monotonic() < deadline:
        time.sleep(0.1)  # polling a condition the daemon reaches by itself (its file watch)
    return got


def test_keys_created_and_revoked_while_the_daemon_runs(tmp_path: Path) -> None:
    path = tmp_path / "api-keys"
    doomed, kept = create(path, "doomed", "viewer"), create(path, "kept", "viewer")
    daemon = Daemon(tmp_path / "data", "--api-keys", str(path), "--no-runner")
    try:
        assert stats_code(daemon.address, doomed) == grpc.StatusCode.OK
        revoked = cli("keys", "revoke", "doomed", "--api-keys", str(path))
        assert revoked.returncode == 0, revoked.stderr
        assert eventually(lambda: stats_code(daemon.address, doomed), grpc.StatusCode.UNAUTHENTICATED) \
            == grpc.StatusCode.UNAUTHENTICATED
        assert stats_code(daemon.address, kept) == grpc.StatusCode.OK
        fresh = create(path, "fresh", "viewer")
        assert eventually(lambda: stats_code(daemon.address, fresh), grpc.StatusCode.OK) == grpc.StatusCode.OK
    finally:
        assert daemon.terminate() == 0
    assert any("API keys reloaded from" in line for line in daemon.log)
    assert not any(key in "".join(daemon.log) for key in (doomed, kept, fresh))


def _env(key: str) -> dict[str, str]:
    return {**os.environ, "STIGMER_API_KEY": key}


def test_serves_own_runner_runs_workflows_with_keys_and_mutual_tls(tmp_path: Path, pki: Pki) -> None:
    """``run`` with an admin key (it applies the definition) from the environment and a client
    certificate; the daemon's runner works over its private socket with its own key."""
    path = tmp_path / "api-keys"
    admin = create(path, "ops", "admin")
    daemon = Daemon(tmp_path / "data", "--api-keys", str(path), "--tls-cert", str(pki.server_cert),
                    "--tls-key", str(pki.server_key), "--tls-client-ca", str(pki.ca), *ALLOW_HOOKS)
    client_tls = ["--tls-ca", str(pki.ca), "--tls-cert", str(pki.client_cert), "--tls-key", str(pki.client_key)]
    try:
        done = subprocess.run([*CLI, "run", str(EXAMPLES / "retrying-loop.yaml"), "--address", daemon.address,
                               *client_tls], capture_output=True, text=True, timeout=120, env=_env(admin))
        assert done.returncode == 0, done.stdout + done.stderr
        assert "EXECUTION_COMPLETED" in done.stdout and "  finish#0  COMPLETED" in done.stdout.splitlines()
        # Without the key, or without the client certificate, the same command gets nowhere.
        refused = subprocess.run([*CLI, "list", "--address", daemon.address, *client_tls],
                                 capture_output=True, text=True, timeout=60, env=_env(""))
        assert refused.returncode == 10 and refused.stderr.startswith("UNAUTHENTICATED: ")
        refused = subprocess.run([*CLI, "list", "--address", daemon.address, "--tls-ca", str(pki.ca)],
                                 capture_output=True, text=True, timeout=60, env=_env(admin))
        assert refused.returncode == 11 and refused.stderr.startswith("cannot reach the daemon"), refused.stderr
    finally:
        assert daemon.terminate() == 0
    assert any("security: mutual TLS, API keys from" in line for line in daemon.log)


def test_a_runner_process_with_a_runner_key_over_tls(tmp_path: Path, pki: Pki) -> None:
    path = tmp_path / "api-keys"
    admin, runner_key = create(path, "ops", "admin"), create(path, "worker", "runner")
    daemon = Daemon(tmp_path / "data", "--api-keys", str(path), "--tls-cert", str(pki.server_cert),
                    "--tls-key", str(pki.server_key), "--no-runner", *ALLOW_HOOKS)
    log = (tmp_path / "runner.log").open("w")
    runner = subprocess.Popen([*CLI, "runner", "--address", daemon.address, "--tls-ca", str(pki.ca),
                               "--data-dir", str(tmp_path / "runner"), *ALLOW_HOOKS],
                              stderr=log, env=_env(runner_key))
    try:
        with StigmerClient(daemon.address, credentials=Credentials(api_key=admin, tls_ca=pki.ca)) as client:
            client.apply_workflow((EXAMPLES / "retrying-loop.yaml").read_text())
            run = client.create_workflow(workflow_id="retrying-loop")
            last = None
            for last in client.watch(run.metadata.id):
                pass
        assert last is not None and last.status.phase == phases.COMPLETED, last.status.error
        assert [r.runner_id for r in _runners(daemon.address, admin, pki)] == ["workflow-runner"]
    finally:
        runner.terminate()
        code = runner.wait(20)
        assert daemon.terminate() == 0
    assert code == 0, (tmp_path / "runner.log").read_text()[-4000:]


def _runners(address: str, key: str, pki: Pki) -> list:
    with StigmerClient(address, credentials=Credentials(api_key=key, tls_ca=pki.ca)) as client:
        return list(client.runners().runners)


def test_client_tls_options_that_cannot_be_used_are_one_line(tmp_path: Path, pki: Pki) -> None:
    missing = tmp_path / "nope.pem"
    done = cli("list", "--address", "127.0.0.1:1", "--tls-ca", str(missing))
    assert (done.returncode, done.stderr.strip()) == (
        2, f"stigmer-actors list: error: cannot read --tls-ca {missing} (No such file or directory)")
    done = cli("list", "--address", "127.0.0.1:1", "--tls-cert", str(pki.client_cert))
    assert (done.returncode, done.stderr.strip()) == (
        2, "stigmer-actors list: error: a client certificate needs both --tls-cert and --tls-key")
