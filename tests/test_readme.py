"""The README's embedding example runs as shown and prints what its comments say."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def test_embedding_example_runs(tmp_path: Path) -> None:
    code = re.search(r"## Embedding\n\n```python\n(.*?)```", README.read_text(), re.S).group(1)
    assert len(code.strip().splitlines()) <= 12
    expected = [re.search(r"# (\d[\d ]*)", line).group(1).strip()
                for line in code.splitlines() if "print(" in line]
    out = io.StringIO()
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(code, "README.md", "exec"), {})
    finally:
        os.chdir(cwd)
    assert out.getvalue().split("\n")[:-1] == expected
    assert (tmp_path / "data").is_dir()


QUICK_START = re.search(r"## Quick start.*?\n(?=## )", README.read_text(), re.S).group(0)


def _commands(section: str) -> list[str]:
    """The commands a reader types: the indented lines that start with a program."""
    return [line.strip() for line in section.splitlines()
            if line.startswith("    ") and line.strip().startswith(("python3 ", "stigmer-actors "))]


def test_the_quick_start_runs_an_agent_execution_to_completed(tmp_path: Path) -> None:
    """The quick start's commands, as typed, in a fresh copy of the checkout with its own
    virtualenv: the first installs and serves with the example agent runner under the
    daemon (on a free port, data under a temporary XDG_DATA_HOME); the second shows an
    agent execution go from PENDING to COMPLETED with its messages, as the README shows."""
    serve, watch, tests = _commands(QUICK_START)
    install, _, serve_command = serve.partition(" && ")
    assert install == "python3 -m pip install -e '.[server]'"
    assert serve_command.startswith("stigmer-actors serve --runner agents=")
    assert watch.startswith("stigmer-actors create agent ") and watch.endswith(" --watch")
    assert tests == "python3 -m pip install -e '.[test]' && python3 -m pytest -q"

    checkout = tmp_path / "checkout"  # a copy: the install leaves egg-info in the tree
    for name in ("stigmer_actors", "examples"):
        shutil.copytree(ROOT / name, checkout / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, checkout / name)
    venv = tmp_path / "venv"  # sees the suite's packages, so the install needs no download
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True, timeout=120)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "STIGMER_ADDR")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")

    installed = subprocess.run(["bash", "-c", install], cwd=checkout, env=env, capture_output=True,
                               text=True, timeout=600)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    where = subprocess.run(["python3", "-c", "import stigmer_actors; print(stigmer_actors.__file__)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert where.stdout.strip() == str(checkout / "stigmer_actors" / "__init__.py")  # what is tested
    daemon = subprocess.Popen([*shlex.split(serve_command), "--address", "127.0.0.1:0"], cwd=checkout,
                              env=env, stderr=subprocess.PIPE, text=True)
    log: list[str] = []
    listening = threading.Event()
    address = []

    def read() -> None:
        assert daemon.stderr is not None
        for line in daemon.stderr:
            log.append(line)
            found = re.search(r"listening on (\S+), data in (\S+)", line)
            if found:
                address.append(found.group(1))
                assert found.group(2) == str(tmp_path / "xdg" / "stigmer-actors")
                listening.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert listening.wait(60), "".join(log)
        shown = subprocess.run(["bash", "-c", watch], cwd=checkout, env={**env, "STIGMER_ADDR": address[0]},
                               capture_output=True, text=True, timeout=120)
    finally:
        daemon.terminate()
        code = daemon.wait(30)
        reader.join(10)
    assert shown.returncode == 0, shown.stdout + shown.stderr + "".join(log)
    assert code == 0, "".join(log)
    states = [line.split()[2] for line in shown.stdout.splitlines() if not line.startswith(" ")]
    assert states[0] == "EXECUTION_PENDING" and states[-1] == "EXECUTION_COMPLETED"
    changes = {line for line in shown.stdout.splitlines() if line.startswith("  ")}
    sample = re.search(r"piped, it prints.*?\n\n(.*?)\n\n", QUICK_START, re.S).group(1)
    promised = {line[4:] for line in sample.splitlines() if line.startswith("      ")}
    assert len(promised) == 8 and promised <= changes  # every line the README shows, shown
    assert any("[runner agents] answering aex-" in line for line in log)


def test_securing_the_daemon_setup_works_as_written(tmp_path: Path) -> None:
    """The copy-paste setup of "Securing the daemon": its commands run in bash as written
    (``stigmer-actors`` is this checkout's CLI; the daemon on a free port instead of 50051,
    started by the test, which waits for its "listening on" line)."""
    import shlex
    import subprocess
    import sys

    from tests.daemon import Daemon

    section = README.read_text().split("## Securing the daemon", 1)[1].split("\n## ", 1)[0]
    setup, client = re.findall(r"```sh\n(.*?)```", section, re.S)
    before, serve_line = setup.rsplit("\n", 2)[0], setup.strip().splitlines()[-1]
    cli = f"stigmer-actors() {{ {shlex.quote(sys.executable)} -m stigmer_actors.cli.main \"$@\"; }}\n"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(README.parent), os.environ.get("PYTHONPATH", "")])}
    made = subprocess.run(["bash", "-ec", cli + before + '\necho "ADMIN=$ADMIN"\necho "RUNNER=$RUNNER"\n'],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env)
    assert made.returncode == 0, made.stderr
    found = dict(line.split("=", 1) for line in made.stdout.splitlines() if line.startswith(("ADMIN=", "RUNNER=")))
    assert found["ADMIN"].startswith("sak_") and found["RUNNER"].startswith("sak_")
    assert (tmp_path / "api-keys").stat().st_mode & 0o777 == 0o600
    args = shlex.split(serve_line.removesuffix("&"))
    assert args[:2] == ["stigmer-actors", "serve"]
    args = [a.replace(":50051", ":0") for a in args[2:]]
    daemon = Daemon(tmp_path / "data", *args, cwd=tmp_path)  # its files are named relative to the setup's
    try:
        port = daemon.address.rsplit(":", 1)[1]
        line = client.strip().replace("$ADMIN", found["ADMIN"]).replace(":50051", f":{port}")
        shown = subprocess.run(["bash", "-ec", cli + line], cwd=tmp_path, capture_output=True, text=True,
                               timeout=60, env=env)
        assert shown.returncode == 0, shown.stderr
        assert shown.stdout.startswith("uptime")
        denied = subprocess.run(["bash", "-ec", cli + line.replace(found["ADMIN"], found["RUNNER"]).replace(
            "stats", "workflow delete nothing")], cwd=tmp_path, capture_output=True, text=True, timeout=60, env=env)
        assert denied.returncode == 10 and denied.stderr.startswith("PERMISSION_DENIED: key 'worker-1' has role runner")
    finally:
        assert daemon.terminate() == 0
