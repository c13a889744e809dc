"""The CLI's error boundary, through the real program: no traceback for any user error or
unreachable daemon, and an exit code per sort of failure (README, "Exit codes"): 2 for the
command line, 10 for the daemon's refusal, 11 when no daemon answers (with a hint naming
the address and how to start one), 141 when the reader of the output went away."""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from stigmer_actors.client import StigmerClient
from tests.daemon import CLI, Daemon
from tests.test_store_faults import Writer, unwritable

USAGE, REFUSED, UNREACHABLE, OUTPUT_CLOSED = 2, 10, 11, 141


def run_cli(*args: str, stdin: str = "", timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], input=stdin, capture_output=True, text=True, timeout=timeout)


def last_line(result: subprocess.CompletedProcess[str], code: int) -> str:
    """The line the program ended with on stderr, after checking its exit code and that
    nothing anywhere is a traceback."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return result.stderr.strip().splitlines()[-1]


@pytest.fixture
def nowhere() -> Iterator[str]:
    """An address where nothing listens: the port is bound but never listened on, so every
    connection is refused and no other process can take it meanwhile."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield f"127.0.0.1:{held.getsockname()[1]}"


@pytest.fixture
def daemon(data_dir: Path) -> Iterator[Daemon]:
    d = Daemon(data_dir, "--no-runner", "--pending-timeout", "0")
    yield d
    if d.proc.poll() is None:
        assert d.terminate() == 0


WORKFLOW = "name: w\nnodes:\n  - {id: a, type: noop}\n"
CLIENT_COMMANDS = [
    ["get", "aex-1"],
    ["get", "no-prefix"],
    ["list"],
    ["list", "--kind", "agent", "--phase", "pending"],
    ["create", "agent", "--message", "m", "--session-id", "s"],
    ["create", "workflow", "--workflow-id", "w"],
    ["update-status", "aex-1", "--phase", "in_progress"],
    ["update-status", "wex-1", "--status", '{"tasks": [{"taskId": "t", "status": "completed"}]}'],
    ["cancel", "aex-1"],
    ["delete", "wex-1"],
    ["watch", "aex-1"],
    ["runners"],
    ["stats", "--json"],
    ["workflow", "apply", "{file}"],
    ["workflow", "list"],
    ["workflow", "get", "w"],
    ["workflow", "delete", "w"],
    ["run", "{file}", "--input", "k=v"],
]


@pytest.mark.parametrize("command", CLIENT_COMMANDS, ids=" ".join)
def test_with_the_daemon_down_every_command_says_where_and_how_to_start_it(
    command: list[str], nowhere: str, tmp_path: Path
) -> None:
    (tmp_path / "w.yaml").write_text(WORKFLOW)
    args = [word.replace("{file}", str(tmp_path / "w.yaml")) for word in command]
    result = run_cli(*args, "--address", nowhere)
    line = last_line(result, UNREACHABLE)
    assert result.stderr.strip() == line  # one line, nothing else
    assert line == (f"cannot reach the daemon at {nowhere} (Connection refused): is it running? Start it "
                    f"with `stigmer-actors serve --address {nowhere}`, or give --address HOST:PORT of a running one")
    assert result.stdout == ""


def test_a_peer_that_never_answers_is_unreachable_too(tmp_path: Path) -> None:
    """A port that accepts connections but never speaks HTTP/2 (a hung process, something
    else on the port): the call runs out of time (10 s) and the connection never became
    ready, so it is the daemon that is missing, not an answer from it."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        address = f"127.0.0.1:{silent.getsockname()[1]}"
        result = run_cli("get", "aex-1", "--address", address)
    line = last_line(result, UNREACHABLE)
    assert line.startswith(f"cannot reach the daemon at {address} (no answer within 10 s): is it running?")


def test_the_default_address_hint_is_plain_serve() -> None:
    from stigmer_actors.cli.boundary import unreachable_line
    from stigmer_actors.contract import DEFAULT_ADDRESS

    line = unreachable_line(DEFAULT_ADDRESS, "Connection refused")
    assert "Start it with `stigmer-actors serve`," in line and "--address 127" not in line


USAGE_ERRORS = [
    (["run", "{missing}"], "stigmer-actors run: error: cannot read {missing}: No such file or directory"),
    (["workflow", "apply", "{missing}"],
     "stigmer-actors workflow apply: error: cannot read {missing}: No such file or directory"),
    (["run", "{binary}"],
     "stigmer-actors run: error: cannot read {binary}: not UTF-8 text (invalid start byte at byte 0)"),
    (["run", "{file}", "--input", "novalue"], "stigmer-actors run: error: --input 'novalue': expected KEY=VALUE"),
    (["update-status", "aex-1", "--status", "{not json"],
     "stigmer-actors update-status: error: --status is not a valid AgentExecutionStatus: not JSON "
     "(Expecting property name enclosed in double quotes: line 1 column 2 (char 1))"),
    (["update-status", "aex-1", "--status", "[1]"],
     'stigmer-actors update-status: error: --status is not a valid AgentExecutionStatus: give a JSON object, '
     'e.g. {"phase": "IN_PROGRESS"}'),
    (["update-status", "wex-1", "--status", '{"tasks": [{"status": "done"}]}'],
     "stigmer-actors update-status: error: --status is not a valid WorkflowExecutionStatus: tasks[0].status: "
     "unknown value 'done'; one of STATUS_UNSPECIFIED, PENDING, IN_PROGRESS, COMPLETED, FAILED, SKIPPED"),
    (["update-status", "aex-1", "--status", '{"phase": "running"}'],
     "stigmer-actors update-status: error: --status is not a valid AgentExecutionStatus: phase: unknown value "
     "'running'; one of PHASE_UNSPECIFIED, PENDING, IN_PROGRESS, COMPLETED, FAILED, CANCELLED"),
    (["update-status", "aex-1", "--status", '{"nope": 1}'],
     'stigmer-actors update-status: error: --status is not a valid AgentExecutionStatus: Message type '
     '"ai.stigmer.agentic.agentexecution.v1.AgentExecutionStatus" has no field named "nope" at '
     '"AgentExecutionStatus". Available Fields(except extensions): '),
    # --json is output only now: a status given to it is not taken for one.
    (["update-status", "aex-1", "--json", '{"phase": "IN_PROGRESS"}'],
     "stigmer-actors: error: unrecognized arguments: {\"phase\": \"IN_PROGRESS\"}"),
    (["list", "--phase", "running"],
     "stigmer-actors list: error: argument --phase: unknown phase 'running'; "
     "one of PENDING, IN_PROGRESS, COMPLETED, FAILED, CANCELLED"),
    (["get", "x", "--address", "nohost"],
     "stigmer-actors get: error: argument --address: 'nohost' is not HOST:PORT (e.g. 127.0.0.1:50051, or "
     "10.0.0.1:50051,10.0.0.2:50051)"),
    (["get", "x", "--address", "127.0.0.1:99999"],
     "stigmer-actors get: error: argument --address: '127.0.0.1:99999': the port must be a number from 1 to 65535"),
    (["get", "x", "--address", "::1:5"],
     "stigmer-actors get: error: argument --address: '::1:5': write an IPv6 host in brackets, e.g. [::1]:50051"),
    (["watch", "aex-1", "--reconnect-for", "-1"],
     "stigmer-actors watch: error: argument --reconnect-for: -1 is out of bounds: it must be from 0 to 3,600 seconds"),
    (["completion", "fish"], "stigmer-actors completion: error: argument shell: invalid choice: 'fish'"),
    ([], "stigmer-actors: error: the following arguments are required: "),
]


@pytest.mark.parametrize(("command", "expected"), USAGE_ERRORS,
                         ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_usage_errors_are_one_line_and_exit_2_before_any_call(
    command: list[str], expected: str, nowhere: str, tmp_path: Path
) -> None:
    """The daemon is unreachable here: a command that called it would exit 11, so exit 2
    also shows each check runs before anything is sent."""
    paths = {"{missing}": tmp_path / "missing.yaml", "{binary}": tmp_path / "binary.yaml",
             "{file}": tmp_path / "w.yaml"}
    paths["{binary}"].write_bytes(b"\xff\xfe\x00name: x")
    paths["{file}"].write_text(WORKFLOW)

    def fill(text: str) -> str:
        for key, path in paths.items():
            text = text.replace(key, str(path))
        return text

    args = [fill(word) for word in command]
    if command and "--address" not in command and command[0] != "completion":
        args += ["--address", nowhere]
    line = last_line(run_cli(*args), USAGE)
    assert fill(expected) in line, line


@pytest.mark.parametrize(("flags", "expected"), [
    (["--address", ":abc"], "argument --address: ':abc' has no host: give one, e.g. 127.0.0.1:50051, "
                            "or 0.0.0.0:50051 for every interface"),
    (["--address", "127.0.0.1:abc"], "argument --address: '127.0.0.1:abc': the port must be a number from 0 to 65535"),
    (["--log-level", "verbose"], "argument --log-level: invalid choice: 'VERBOSE' (choose from 'TRACE', 'DEBUG', "
                                 "'INFO', 'SUCCESS', 'WARNING', 'ERROR', 'CRITICAL')"),
    (["--log-format", "xml"], "argument --log-format: invalid choice: 'xml' (choose from 'text', 'json')"),
])
def test_serve_refuses_a_bad_flag_before_opening_anything(flags: list[str], expected: str, data_dir: Path) -> None:
    line = last_line(run_cli("serve", "--data-dir", str(data_dir), *flags), USAGE)
    assert line == f"stigmer-actors serve: error: {expected}"
    assert not data_dir.exists()


def test_runner_refuses_a_bad_address_and_log_level(data_dir: Path) -> None:
    line = last_line(run_cli("runner", "--data-dir", str(data_dir), "--address", "x:"), USAGE)
    assert line == "stigmer-actors runner: error: argument --address: 'x:': the port must be a number from 1 to 65535"
    line = last_line(run_cli("runner", "--data-dir", str(data_dir), "--log-level", "loud"), USAGE)
    assert line.startswith("stigmer-actors runner: error: argument --log-level: invalid choice: 'LOUD'")
    assert not data_dir.exists()


def test_the_daemons_refusals_print_its_code_and_message_and_exit_10(daemon: Daemon) -> None:
    a = daemon.address
    line = last_line(run_cli("get", "aex-missing", "--address", a), REFUSED)
    assert line == "NOT_FOUND: agent execution aex-missing does not exist"
    line = last_line(run_cli("create", "agent", "--message", "m", "--address", a), REFUSED)
    assert line == "INVALID_ARGUMENT: spec.session_id and spec.agent_id are both empty: set one"
    with StigmerClient(a) as client:
        eid = client.create_agent("m", session_id="s").metadata.id
    assert run_cli("update-status", eid, "--phase", "completed", "--address", a).returncode == 0
    line = last_line(run_cli("update-status", eid, "--phase", "in_progress", "--address", a), REFUSED)
    assert line == (f"FAILED_PRECONDITION: execution {eid} is already EXECUTION_COMPLETED; "
                    "it cannot become EXECUTION_IN_PROGRESS")


def test_unavailable_from_a_live_daemon_is_its_answer_not_unreachable(daemon: Daemon, data_dir: Path) -> None:
    """UNAVAILABLE has two meanings: the store refusing writes after a fault (made here for
    real: its directory made unwritable) is the daemon speaking, exit 10 with its words."""
    with StigmerClient(daemon.address, timeout=30) as client:
        writer = Writer(client)
        with unwritable(data_dir / "executions.rocksdb"):
            assert writer.until_refused().code() == grpc.StatusCode.UNAVAILABLE
            result = run_cli("update-status", writer.eid, "--error", "x", "--address", daemon.address)
    line = last_line(result, REFUSED)
    assert line.startswith("UNAVAILABLE: the store cannot write now (IO error: ")


def test_output_closed_early_exits_141_without_a_traceback(daemon: Daemon) -> None:
    """``stigmer-actors list --json | head -1``: the reader leaves after one line."""
    with StigmerClient(daemon.address) as client:
        ids = [client.create_workflow(workflow_id=f"w{i}").metadata.id for i in range(400)]
    full = run_cli("list", "--json", "--address", daemon.address)
    # More than the pipe (64 KiB) and Python's buffer (8 KiB) hold: the writer is still writing.
    assert full.returncode == 0 and len(full.stdout) > 2 * 65536

    proc = subprocess.Popen([*CLI, "list", "--json", "--address", daemon.address],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    first = json.loads(proc.stdout.readline())
    assert first["metadata"]["id"] in ids
    proc.stdout.close()  # like head -1 exiting
    assert proc.wait(timeout=60) == OUTPUT_CLOSED
    assert proc.stderr.read() == ""
    proc.stderr.close()


def test_output_closed_before_anything_was_written(daemon: Daemon) -> None:
    """A reader gone before the first byte (the output still in Python's buffer at the end)."""
    with StigmerClient(daemon.address) as client:
        eid = client.create_agent("m", session_id="s").metadata.id
    proc = subprocess.Popen([*CLI, "get", eid, "--json", "--address", daemon.address],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    assert proc.wait(timeout=60) == OUTPUT_CLOSED
    assert proc.stderr.read() == ""
    proc.stderr.close()


def test_interrupted_watch_exits_130_quietly(daemon: Daemon) -> None:
    import signal

    with StigmerClient(daemon.address) as client:
        eid = client.create_agent("m", session_id="s").metadata.id
    proc = subprocess.Popen([*CLI, "watch", eid, "--address", daemon.address],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert eid in proc.stdout.readline()  # watching
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "Traceback" not in err, err

