"""What makes the CLI pleasant to use, through the real program: ``--version``, defaults in
every help, shell completion, phase names in either form everywhere, ``--json`` meaning
output only, ``cancel``, and ``--log-format json``."""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stigmer_actors.cli import main as cli_main
from stigmer_actors.cli.parsing import is_leaf, subparsers
from stigmer_actors.client import StigmerClient
from stigmer_actors.domain import phases
from tests.daemon import CLI, Daemon

WIDE = {**os.environ, "COLUMNS": "400"}  # argparse wraps help at the terminal's width


def run_cli(*args: str, stdin: str = "", env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([*CLI, *args], input=stdin, capture_output=True, text=True, timeout=60, env=env)
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return result


def ok(*args: str, stdin: str = "") -> str:
    result = run_cli(*args, stdin=stdin)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def daemon(data_dir: Path) -> Iterator[Daemon]:
    d = Daemon(data_dir, "--pending-timeout", "0")
    yield d
    if d.proc.poll() is None:
        assert d.terminate() == 0


def test_version_is_the_installed_distributions() -> None:
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"stigmer-actors {importlib.metadata.version('stigmer-actors')}"


def test_every_argument_has_help_and_every_meaningful_default_is_shown() -> None:
    top = cli_main.parser()
    checked = 0
    for command in [top, *subparsers(top)]:
        text = command.format_help()
        for action in command._actions:
            if isinstance(action, (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)):
                continue
            assert action.help, f"{command.prog} {action.dest} has no help"
            default = action.default
            if default is None or default is False or default in ("", []) or "default" in action.help.lower():
                continue
            assert f"(default: {default})" in " ".join(text.split()), (command.prog, action.dest)
            checked += 1
    assert checked >= 15  # serve's, runner's and the clients' defaults are all in there


def test_help_reads_the_same_whether_or_not_the_server_modules_are_loaded() -> None:
    """Client commands build the parser without serve's and runner's modules (they need the
    server extra); the top-level help must not change with that."""
    assert cli_main.parser(with_server=False).format_help() == cli_main.parser(with_server=True).format_help()
    leaves = {p.prog for p in subparsers(cli_main.parser()) if is_leaf(p)}
    assert {"stigmer-actors serve", "stigmer-actors runner", "stigmer-actors cancel"} <= leaves


def test_help_texts_show_defaults_through_the_program() -> None:
    serve = run_cli("serve", "--help", env=WIDE).stdout
    assert "--address ADDRESS HOST:PORT to listen on (default: 127.0.0.1:50051)" in " ".join(serve.split())
    assert "fail executions no runner picked up in this time (0: never; at most 30 days) (default: 60.0)" in serve
    assert "--log-format {text,json}" in serve and "(default: text)" in serve
    watch = run_cli("watch", "--help", env=WIDE).stdout
    assert "try to reconnect for this long (0 to 3,600) (default: 30.0)" in watch


def _complete(script: Path, *words: str) -> list[str]:
    """What bash offers for the command line ``words`` (the last one being completed)."""
    probe = f"""
source {script}
function=$(complete -p stigmer-actors | sed -E 's/.* -F ([^ ]+) .*/\\1/')
COMP_WORDS=({' '.join(repr(w) for w in words)})
COMP_CWORD={len(words) - 1}
COMP_LINE="${{COMP_WORDS[*]}}"
COMP_POINT=${{#COMP_LINE}}
"$function" stigmer-actors "${{COMP_WORDS[-1]}}" "${{COMP_WORDS[-2]}}"
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    done = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_bash_completion_completes_commands_flags_and_choices(tmp_path: Path) -> None:
    script = tmp_path / "stigmer-actors.bash"
    script.write_text(ok("completion", "bash"))
    assert _complete(script, "stigmer-actors", "wat") == ["watch"]
    assert _complete(script, "stigmer-actors", "ca") == ["cancel"]
    assert _complete(script, "stigmer-actors", "serve", "--dur") == ["--durability"]
    assert _complete(script, "stigmer-actors", "serve", "--durability", "") == ["wal", "sync"]
    assert _complete(script, "stigmer-actors", "update-status", "x", "--st") == ["--status"]
    assert _complete(script, "stigmer-actors", "serve", "--log-format", "") == ["text", "json"]
    assert _complete(script, "stigmer-actors", "workflow", "") == ["apply", "list", "get", "delete"]


@pytest.mark.parametrize(("shell", "marker"), [("zsh", "#compdef stigmer-actors"), ("tcsh", "complete stigmer-actors")])
def test_zsh_and_tcsh_scripts(shell: str, marker: str) -> None:
    script = ok("completion", shell)
    assert marker in script and "reconnect-for" in script and "log-format" in script


def test_phase_names_in_either_form_on_flags_and_in_status_json(daemon: Daemon) -> None:
    a = daemon.address
    with StigmerClient(a) as client:
        moved = client.create_agent("m", session_id="s").metadata.id
        still = client.create_agent("m", session_id="s").metadata.id
    assert "EXECUTION_IN_PROGRESS" in ok("update-status", moved, "--phase", "execution_in_progress", "--address", a)
    for name in ("IN_PROGRESS", "in_progress", "EXECUTION_IN_PROGRESS", "Execution_In_Progress"):
        listed = ok("list", "--phase", name, "--address", a).split()
        assert moved in listed and still not in listed, name
    assert still in ok("list", "--phase", "pending", "--address", a)

    wf = json.loads(ok("create", "workflow", "--workflow-id", "not-defined", "--address", a, "--json"))
    wid = wf["metadata"]["id"]
    short = {"phase": "in_progress", "tasks": [{"taskId": "t1", "status": "completed", "taskType": "transform"}]}
    out = json.loads(ok("update-status", wid, "--status", json.dumps(short), "--address", a, "--json"))
    assert out["status"]["phase"] == "EXECUTION_IN_PROGRESS"
    assert out["status"]["tasks"] == [
        {"taskId": "t1", "taskType": "WORKFLOW_TASK_TRANSFORM", "status": "WORKFLOW_TASK_COMPLETED"}]
    full = {"phase": "EXECUTION_COMPLETED", "tasks": [{"taskId": "t1", "status": "WORKFLOW_TASK_COMPLETED"}]}
    out = json.loads(ok("update-status", wid, "--status", "-", "--address", a, "--json", stdin=json.dumps(full)))
    assert out["status"]["phase"] == "EXECUTION_COMPLETED" and out["status"]["version"] == "3"

    agent_status = {"phase": "IN_PROGRESS", "toolCalls": [{"id": "c1", "status": "running"}],
                    "todos": {"x": {"content": "write", "status": "Pending"}}}
    ok("update-status", still, "--status", json.dumps(agent_status), "--address", a)
    with StigmerClient(a) as client:
        stored = client.get(still).status
    assert stored.phase == phases.IN_PROGRESS and stored.tool_calls[0].status == 2 and stored.todos["x"].status == 1


def test_json_asks_for_json_output_only(daemon: Daemon) -> None:
    a = daemon.address
    with StigmerClient(a) as client:
        eid = client.create_agent("m", session_id="s").metadata.id
    text = ok("update-status", eid, "--error", "e1", "--address", a)
    assert text.startswith(f"{eid}  AgentExecution  EXECUTION_PENDING  v2  error: e1")
    as_json = json.loads(ok("update-status", eid, "--error", "e2", "--json", "--address", a))
    assert as_json["status"]["error"] == "e2" and as_json["status"]["version"] == "3"


def test_cancel_sets_cancelled_and_the_watcher_ends_with_3(daemon: Daemon) -> None:
    a = daemon.address
    with StigmerClient(a) as client:
        eid = client.create_agent("m", session_id="s").metadata.id
        done = client.create_agent("m", session_id="s").metadata.id
    watcher = subprocess.Popen([*CLI, "watch", eid, "--address", a], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    assert watcher.stdout is not None
    assert eid in watcher.stdout.readline()  # watching
    cancelled = json.loads(ok("cancel", eid, "--reason", "not needed any more", "--address", a, "--json"))
    assert cancelled["status"]["phase"] == "EXECUTION_CANCELLED" and cancelled["status"]["completedAt"]
    assert cancelled["status"]["error"] == "not needed any more"
    out, err = watcher.communicate(timeout=30)
    assert watcher.returncode == 3 and "EXECUTION_CANCELLED" in out
    assert "error: not needed any more" in err

    again = json.loads(ok("cancel", eid, "--address", a, "--json"))  # already cancelled: left as it is
    assert again["status"] == cancelled["status"]
    ok("update-status", done, "--phase", "completed", "--address", a)
    refused = run_cli("cancel", done, "--address", a)
    assert refused.returncode == 10
    assert refused.stderr.strip() == (f"FAILED_PRECONDITION: execution {done} is already EXECUTION_COMPLETED; "
                                      "it cannot become EXECUTION_CANCELLED")


FLOW = """name: slow
nodes:
  - {id: start, type: noop}
  - {id: pause, type: wait, with: {for: 10m}}
edges:
  - {from: start, to: pause}
"""


def test_cancel_stops_a_workflow_run(daemon: Daemon, tmp_path: Path) -> None:
    """Like Temporal's ``workflow cancel``: the daemon's runner stops the run, and ``run``
    watching it ends with 3."""
    source = tmp_path / "slow.yaml"
    source.write_text(FLOW)
    running = subprocess.Popen([*CLI, "run", str(source), "--address", daemon.address],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert running.stdout is not None
    eid = running.stdout.readline().split(":")[0]
    with StigmerClient(daemon.address) as client:
        deadline = time.monotonic() + 60
        while not _waiting_in_pause(client.get(eid)):
            assert time.monotonic() < deadline, client.get(eid)
            time.sleep(0.05)  # polling a condition with a deadline
        ok("cancel", eid, "--address", daemon.address)
        out, err = running.communicate(timeout=60)
        assert running.returncode == 3, out + err
        assert client.get(eid).status.phase == phases.CANCELLED
        assert not [r for r in client.runners().runners if eid in r.holding]


def _waiting_in_pause(execution: Any) -> bool:
    return any(t.task_id == "pause#0" and t.status == 2 for t in execution.status.tasks)


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    assert len(keys) == len(set(keys)), f"a key twice: {keys}"
    return dict(pairs)


def test_json_logs_hold_each_field_once(data_dir: Path) -> None:
    daemon = Daemon(data_dir, "--log-format", "json", "--log-level", "debug")
    with StigmerClient(daemon.address) as client:
        client.create_agent("m", session_id="s")
    assert daemon.terminate() == 0
    entries = [json.loads(line, object_pairs_hook=_no_duplicate_keys) for line in daemon.log]
    assert len(entries) >= 4 and all(isinstance(e, dict) for e in entries)
    listening = next(e for e in entries if e["message"].startswith("listening on "))
    assert set(listening) == {"time", "level", "logger", "message", "address", "data_dir", "durability"}
    assert listening["address"] == daemon.address and listening["data_dir"] == str(data_dir)
    assert listening["level"] == "INFO" and listening["logger"] == "stigmer_actors.cli.serve"
    assert any(e["level"] == "DEBUG" for e in entries)
    assert entries[-1]["message"] == "stopped; store flushed"


def test_json_log_fields_never_hide_the_standard_keys_and_an_exception_is_one_field(
    capfd: pytest.CaptureFixture[str],
) -> None:
    from loguru import logger

    from stigmer_actors import logs

    logs.configure("INFO", "json")
    try:
        logger.bind(message="a field named message").info("the {what}", what="event", level="x")
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("it failed")
    finally:
        logger.remove()
        logger.disable("stigmer_actors")
    lines = capfd.readouterr().err.strip().splitlines()
    first, second = (json.loads(line, object_pairs_hook=_no_duplicate_keys) for line in lines)
    assert first["message"] == "the event" and first["field_message"] == "a field named message"
    assert first["level"] == "INFO" and first["field_level"] == "x" and first["what"] == "event"
    assert second["message"] == "it failed" and "ValueError: boom" in second["exception"]
