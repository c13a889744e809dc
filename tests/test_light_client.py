"""The base install is all a runner needs, and loads nothing of the server.

A fresh virtualenv gets only ``pip install <this project>`` (no extras); from it a runner
reports a status with StatusBuilder to a real daemon (run by the suite's own Python, which
has the ``server`` extra) that asks for API keys, with a runner key from
``STIGMER_API_KEY``, and the modules it loaded are checked.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stigmer_actors.client import Credentials, StigmerClient
from stigmer_actors.domain import phases
from stigmer_actors.security import keys
from tests.daemon import Daemon

ROOT = Path(__file__).resolve().parents[1]

HEAVY = ("rocksdict", "celpy", "yaml", "prometheus_client", "rich", "loguru", "pykka")
"""The server's dependencies (celpy is cel-python's module)."""
SERVER_PARTS = (
    "stigmer_actors.engine",
    "stigmer_actors.core",
    "stigmer_actors.actors",
    "stigmer_actors.store",
    "stigmer_actors.runner",
    "stigmer_actors.grpc_edge",
    "stigmer_actors.observability",
    "stigmer_actors.subscription",
    "stigmer_actors.messages",
    "stigmer_actors.cli",
    "stigmer_actors.security",
)
SERVER_DISTRIBUTIONS = {
    "rocksdict", "cel-python", "pyyaml", "prometheus-client", "rich", "loguru", "pykka",
    "grpcio-health-checking", "grpcio-reflection",
}  # fmt: skip

REPORT = r"""
import json, sys
from stigmer_actors.client import StatusBuilder, StigmerClient

address, execution_id = sys.argv[1:3]
with StigmerClient(address) as client:
    with StatusBuilder(client, execution_id) as status:
        status.start()
        status.set_task("fetch", task_name="fetch", status=2)
        status.set_task("fetch", status=3)
        status.complete()
modules = sorted(sys.modules)

import importlib.metadata, google.protobuf, stigmer_actors
try:
    from stigmer_actors import Engine
    engine_error = ""
except ImportError as error:
    engine_error = str(error)
print(json.dumps({
    "modules": modules,
    "distributions": sorted(d.metadata["Name"].lower() for d in importlib.metadata.distributions()),
    "package": stigmer_actors.__file__,
    "protobuf": google.protobuf.__version__,
    "engine_error": engine_error,
}))
"""


def _outside_env() -> dict[str, str]:
    """The environment without anything that would let the venv see this checkout."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONPYCACHEPREFIX")}


@pytest.fixture(scope="module")
def light_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the base install (no extras) of this checkout: its python."""
    root = tmp_path_factory.mktemp("light-venv")
    # Build from a copy: an in-tree build would leave build/ behind, and a stale build/
    # could put deleted modules into the wheel.
    source = root / "source"
    shutil.copytree(
        ROOT / "stigmer_actors", source / "stigmer_actors", ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "venv", str(root / "venv")], check=True, timeout=120)
    python = root / "venv" / "bin" / "python"
    pip = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", str(source)],
        capture_output=True, text=True, timeout=900, env=_outside_env(), cwd=root,
    )  # fmt: skip
    assert pip.returncode == 0, pip.stdout + pip.stderr
    return python


def test_a_runner_reports_through_the_base_install_without_loading_the_server(
    light_python: Path, tmp_path: Path
) -> None:
    admin = keys.create(tmp_path / "api-keys", "ops", "admin")[1]
    runner_key = keys.create(tmp_path / "api-keys", "light-runner", "runner")[1]
    daemon = Daemon(tmp_path / "data", "--no-runner", "--api-keys", str(tmp_path / "api-keys"))
    try:
        with StigmerClient(daemon.address, credentials=Credentials(api_key=admin)) as client:
            run = client.create_workflow(workflow_id="wf-light")
            report = subprocess.run(
                [str(light_python), "-c", REPORT, daemon.address, run.metadata.id],
                capture_output=True, text=True, timeout=120, cwd=tmp_path,
                env={**_outside_env(), "STIGMER_API_KEY": runner_key},
            )  # fmt: skip
            assert report.returncode == 0, report.stderr
            seen = json.loads(report.stdout)
            stored = client.get(run.metadata.id)
    finally:
        assert daemon.terminate() == 0

    assert stored.status.phase == phases.COMPLETED
    assert [(t.task_id, t.task_name, t.status) for t in stored.status.tasks] == [("fetch", "fetch", 3)]

    assert Path(seen["package"]).is_relative_to(light_python.parents[1]), "imported this checkout, not the venv's"
    modules = set(seen["modules"])
    assert "grpc" in modules and "stigmer_actors.client" in modules  # the check sees real imports
    assert not {m for m in modules if m.split(".")[0] in HEAVY}
    assert not {m for m in modules if m in SERVER_PARTS or m.startswith(tuple(f"{p}." for p in SERVER_PARTS))}
    assert not SERVER_DISTRIBUTIONS & set(seen["distributions"])
    # The server's names point at the extra instead of failing on some missing module.
    assert "pip install 'stigmer-actors[server]'" in seen["engine_error"]


def test_the_cli_of_the_base_install(light_python: Path, tmp_path: Path) -> None:
    """The ``stigmer-actors`` program of the base install: the client commands work (``watch``
    without rich prints a line per state), and ``serve``, ``runner`` and ``completion``
    say in one line which extra they need. No traceback anywhere."""
    program = light_python.parent / "stigmer-actors"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([str(program), *args], capture_output=True, text=True, timeout=120,
                              env=_outside_env(), cwd=tmp_path)
        assert "Traceback" not in done.stdout + done.stderr, done.stderr
        return done

    version = run("--version")
    assert version.returncode == 0 and version.stdout.startswith("stigmer-actors ")
    assert "serve" in run("--help").stdout
    for needs_server in (["serve"], ["serve", "--help"], ["runner", "--address", "127.0.0.1:1"]):
        refused = run(*needs_server)
        assert refused.returncode == 2
        assert refused.stderr.strip().startswith(f"stigmer-actors {needs_server[0]} needs the server's dependencies (")
        assert refused.stderr.strip().endswith("is missing): pip install 'stigmer-actors[server]'")
    completion = run("completion", "bash")
    assert completion.returncode == 2
    assert completion.stderr.strip() == (
        "stigmer-actors completion: error: shell completion needs shtab: pip install 'stigmer-actors[server]'")

    daemon = Daemon(tmp_path / "data", "--no-runner", "--pending-timeout", "0")
    try:
        a = daemon.address
        created = run("create", "agent", "--message", "m", "--session-id", "s", "--address", a, "--json")
        assert created.returncode == 0, created.stderr
        eid = json.loads(created.stdout)["metadata"]["id"]
        watcher = subprocess.Popen([str(program), "watch", eid, "--address", a], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, env=_outside_env(), cwd=tmp_path)
        assert watcher.stdout is not None
        assert watcher.stdout.readline().startswith(f"{eid}  AgentExecution  EXECUTION_PENDING  v1")
        moved = run("update-status", eid, "--status", '{"phase": "in_progress"}', "--address", a)
        assert moved.returncode == 0 and "EXECUTION_IN_PROGRESS  v2" in moved.stdout
        assert run("cancel", eid, "--address", a).returncode == 0
        out, err = watcher.communicate(timeout=60)
        assert watcher.returncode == 3, err
        assert "EXECUTION_CANCELLED" in out and "Traceback" not in err
        assert eid in run("list", "--phase", "cancelled", "--address", a).stdout
        missing = run("get", "aex-missing", "--address", a)
        assert missing.returncode == 10
        assert missing.stderr.strip() == "NOT_FOUND: agent execution aex-missing does not exist"
    finally:
        assert daemon.terminate() == 0
    down = run("get", eid, "--address", a)
    assert down.returncode == 11 and down.stderr.startswith(f"cannot reach the daemon at {a} (")
