"""The README's embedding example runs as shown and prints what its comments say."""

from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


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
        assert denied.returncode == 2 and denied.stderr.startswith("PERMISSION_DENIED: key 'worker-1' has role runner")
    finally:
        assert daemon.terminate() == 0
