"""Workflow definitions cannot run the caller's code or reach the daemon's network.

``python`` nodes: a definition naming a module outside ``--python-modules`` is refused at
apply with INVALID_ARGUMENT, and nothing is imported to decide it (a module whose import
would write a file never writes it; standard-library modules with import side effects are
never loaded). An allowed module is imported by the runner when the node runs, not at
apply, and a runner that does not allow it refuses it whatever the daemon stored.
``http`` nodes: loopback, private and link-local hosts are refused unless listed (every
address a name resolves to, redirects too) and never connected to; the response has a
size limit and the request a total time limit.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import grpc
import pytest

from stigmer_actors import Engine
from stigmer_actors.client import StigmerClient
from stigmer_actors.domain import phases
from stigmer_actors.grpc_edge.server import EdgeServer
from stigmer_actors.runner.http_fetch import FetchError, fetch
from stigmer_actors.runner.policy import HTTP_BYTES, HttpHosts, NodePolicy, PythonModules
from stigmer_actors.runner.service import WorkflowRunner
from tests.daemon import Daemon
from tests.test_workflow_runs import Daemon as InProcess
from tests.test_workflow_runs import final

SIDE_EFFECT = """
import os
from pathlib import Path
Path(os.environ["SIDE_EFFECT_FILE"]).write_text("imported by pid %d" % os.getpid())

def hook(input, ctx):
    return {"ran": True}
"""


@pytest.fixture
def planted(tmp_path: Path) -> tuple[Path, Path, str]:
    """A module on a temporary path whose import writes a file: (its directory, the file
    it would write, its name)."""
    where = tmp_path / "planted"
    where.mkdir()
    name = f"sidefx_{os.getpid()}_{time.monotonic_ns()}"
    (where / f"{name}.py").write_text(SIDE_EFFECT)
    return where, tmp_path / "imported.txt", name


def _env(where: Path, witness: Path) -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(where), os.environ.get("PYTHONPATH", "")]))
    return {**os.environ, "PYTHONPATH": path, "SIDE_EFFECT_FILE": str(witness)}


def one_node(name: str, call: str) -> str:
    return f"name: {name}\nnodes: [{{id: n, type: python, with: {{call: '{call}'}}}}]\n"


def test_apply_refuses_modules_outside_the_allow_list_without_importing_them(
    tmp_path: Path, planted: tuple[Path, Path, str]
) -> None:
    where, witness, module = planted
    daemon = Daemon(tmp_path / "data", env=_env(where, witness))  # the default: no module allowed
    try:
        with StigmerClient(daemon.address, timeout=30) as client:
            for call in (f"{module}:hook", "antigravity:x", "this:x", "os:system", "subprocess:run"):
                with pytest.raises(grpc.RpcError) as info:
                    client.apply_workflow(one_node("sneaky", call))
                top = call.partition(":")[0]
                assert (info.value.code(), info.value.details()) == (
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"workflow definition: 1 problem(s):\nnode n: call {call}: no python module is allowed here; "
                    f"start the daemon (and its runner) with --python-modules {top} to allow it [python]")
            assert client.workflow_definitions() == []
            assert client.stats().uptime_seconds >= 0  # answered, and answering
    finally:
        assert daemon.terminate() == 0
    assert not witness.exists(), witness.read_text()


def test_nothing_is_imported_in_the_daemons_process(tmp_path: Path, planted: tuple[Path, Path, str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The same in this process, where ``sys.modules`` can be read: standard-library modules
    whose import has effects (``this`` prints, ``antigravity`` opens a browser) and the
    planted one are refused and stay unloaded, even when a sibling module is allowed."""
    where, witness, module = planted
    monkeypatch.syspath_prepend(str(where))
    monkeypatch.setenv("SIDE_EFFECT_FILE", str(witness))
    watched = ("this", "antigravity", module)
    assert not any(name in sys.modules for name in watched)
    engine = Engine(tmp_path / "data", pending_timeout=0, heartbeat_timeout=0, python_modules=["json"])
    server = EdgeServer(engine, "127.0.0.1:0").start()
    try:
        with StigmerClient(server.address, timeout=30) as client:
            for call in ("this:x", "antigravity:x", f"{module}:hook", "jsonx:y"):
                with pytest.raises(grpc.RpcError) as info:
                    client.apply_workflow(one_node("sneaky", call))
                assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
                assert "is not within --python-modules json; add it there to allow it [python]" in info.value.details()
    finally:
        server.stop(grace=1)
        engine.close()
    assert not any(name in sys.modules for name in watched)
    assert not witness.exists()


def test_an_allowed_module_is_imported_by_the_runner_when_the_node_runs(
    tmp_path: Path, planted: tuple[Path, Path, str]
) -> None:
    where, witness, module = planted
    daemon = Daemon(tmp_path / "data", "--python-modules", module, env=_env(where, witness))
    try:
        with StigmerClient(daemon.address, timeout=30) as client:
            client.apply_workflow(one_node("allowed", f"{module}:hook"))
            assert not witness.exists()  # applied: checked by name, nothing imported
            run = client.create_workflow(workflow_id="allowed")
            last = None
            for last in client.watch(run.metadata.id):
                pass
        assert last is not None and last.status.phase == phases.COMPLETED, last.status.error
        assert dict(last.status.tasks[0].output) == {"ran": True}
    finally:
        assert daemon.terminate() == 0
    assert witness.read_text() == f"imported by pid {daemon.proc.pid}"  # in the daemon's runner


def test_a_runner_refuses_a_stored_definition_its_allow_list_does_not_cover(
    tmp_path: Path, planted: tuple[Path, Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stored while allowed; the daemon restarted without it: its runs fail, nothing imported."""
    where, witness, module = planted
    monkeypatch.syspath_prepend(str(where))
    monkeypatch.setenv("SIDE_EFFECT_FILE", str(witness))
    with Engine(tmp_path / "data", python_modules=[module]) as before:
        before.definitions.apply(one_node("stored", f"{module}:hook"))
    engine = Engine(tmp_path / "data", pending_timeout=0, heartbeat_timeout=0)
    server = EdgeServer(engine, "127.0.0.1:0").start()
    runner = WorkflowRunner(server.address, engine.store, policy=NodePolicy()).start()
    try:
        with StigmerClient(server.address, timeout=30) as client:
            run = client.create_workflow(workflow_id="stored")
            last = None
            for last in client.watch(run.metadata.id):
                pass
    finally:
        runner.stop()
        server.stop(grace=1)
        engine.close()
    assert last is not None and last.status.phase == phases.FAILED
    assert last.status.error == (
        "workflow stored does not compile in runner workflow-runner: 1 problem(s):\nnode n: call "
        f"{module}:hook: no python module is allowed here; start the daemon (and its runner) with "
        f"--python-modules {module} to allow it [python]")
    assert module not in sys.modules and not witness.exists()


def test_python_nodes_check_the_allow_list_again_when_they_run() -> None:
    from stigmer_actors.runner import nodes

    ctx = nodes.NodeContext(run_id="r", node="n", iteration=0, attempt=1, params={"call": "os:getcwd"},
                            input={}, nodes={}, policy=NodePolicy(PythonModules(("json",))))
    with pytest.raises(RuntimeError) as info:
        nodes.run("python", ctx)
    assert str(info.value) == "call os:getcwd: os is not within --python-modules json; add it there to allow it"


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A loopback port that would take any connection: after the test, none must be there."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        sock.setblocking(False)
        yield sock


def assert_never_connected(sock: socket.socket) -> None:
    with pytest.raises(BlockingIOError):  # the kernel completes a connection before accept
        sock.accept()


@pytest.fixture
def daemon(data_dir: Path) -> Iterator[InProcess]:
    d = InProcess(data_dir, http_hosts=None)  # the default: public addresses only
    yield d
    d.close()


REFUSED = [
    ("127.0.0.1:{port}", "host 127.0.0.1 is 127.0.0.1 (loopback)"),
    ("localhost:{port}", "host localhost is 127.0.0.1 (loopback)"),
    ("127.7.7.7:{port}", "host 127.7.7.7 is 127.7.7.7 (loopback)"),
    ("169.254.169.254", "host 169.254.169.254 is 169.254.169.254 (link-local)"),
    ("10.1.2.3", "host 10.1.2.3 is 10.1.2.3 (private)"),
    ("192.168.0.1:8080", "host 192.168.0.1 is 192.168.0.1 (private)"),
    ("100.64.0.1", "host 100.64.0.1 is 100.64.0.1 (not globally routed)"),
    ("0.0.0.0:{port}", "host 0.0.0.0 is 0.0.0.0 (unspecified)"),
    ("[::ffff:127.0.0.1]:{port}", "host ::ffff:127.0.0.1 is 127.0.0.1 (loopback)"),
]


@pytest.mark.parametrize(("host", "why"), REFUSED, ids=[h for h, _ in REFUSED])
def test_http_nodes_to_refused_hosts_fail_and_never_connect(
    daemon: InProcess, listener: socket.socket, host: str, why: str
) -> None:
    url = f"http://{host.format(port=listener.getsockname()[1])}/latest/meta-data"
    seen = daemon.run(f"name: reach\nnodes: [{{id: call, type: http, with: {{url: '{url}'}}}}]\n")
    assert seen[-1].status.phase == phases.FAILED
    assert seen[-1].status.error == (f"node call: {why}: http nodes reach only public addresses unless the "
                                     "operator lists the host with --http-hosts")
    assert_never_connected(listener)


class _Handler(BaseHTTPRequestHandler):
    redirect_to = ""

    def do_GET(self) -> None:  # http.server's name
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", _Handler.redirect_to)
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path.startswith("/big"):
            body = b"x" * (HTTP_BYTES + 1)
            self.send_response(200)
            if self.path == "/big":
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            body = b'{"ok": true}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def web() -> Iterator[str]:
    """An HTTP server on 127.0.0.2 (a loopback address of its own, so an allow-list can name
    it alone)."""
    server = ThreadingHTTPServer(("127.0.0.2", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.2:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_an_allowed_host_is_reached_and_a_redirect_to_a_refused_one_is_not(
    data_dir: Path, web: str, listener: socket.socket
) -> None:
    d = InProcess(data_dir, http_hosts="127.0.0.2")
    try:
        seen = d.run(f"name: fine\nnodes: [{{id: call, type: http, with: {{url: '{web}/ok'}}}}]\n")
        assert seen[-1].status.phase == phases.COMPLETED
        assert dict(final(seen)["call#0"].output)["body"] == {"ok": True}
        _Handler.redirect_to = f"http://127.0.0.1:{listener.getsockname()[1]}/admin"
        seen = d.run(f"name: bounce\nnodes: [{{id: call, type: http, with: {{url: '{web}/redirect'}}}}]\n")
    finally:
        d.close()
    assert seen[-1].status.phase == phases.FAILED
    assert seen[-1].status.error == ("node call: host 127.0.0.1 (127.0.0.1) is not in the hosts http nodes may "
                                     "reach (--http-hosts): add it there to allow it")
    assert_never_connected(listener)


def test_a_response_over_the_size_limit_fails_the_node(data_dir: Path, web: str) -> None:
    d = InProcess(data_dir, http_hosts="127.0.0.2")
    try:
        declared = d.run(f"name: big\nnodes: [{{id: call, type: http, with: {{url: '{web}/big'}}}}]\n")
        undeclared = d.run(f"name: big2\nnodes: [{{id: call, type: http, with: {{url: '{web}/big-streamed'}}}}]\n")
    finally:
        d.close()
    assert declared[-1].status.error == (f"node call: the response from {web}/big is 1,048,577 bytes, over "
                                         "the 1,048,576 an http node accepts")
    assert undeclared[-1].status.error == (f"node call: the response from {web}/big-streamed is over the "
                                           "1,048,576 bytes an http node accepts")


def test_a_server_that_drips_bytes_is_cut_at_the_total_time_limit() -> None:
    """A byte every 0.1 s never trips a per-read timeout; the total limit (1 s here) stops it."""
    stop = threading.Event()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)

        def drip() -> None:
            conn, _ = sock.accept()
            with conn:
                conn.sendall(b"HTTP/1.1 200 OK\r\n")
                while not stop.wait(0.1):  # the pace is the point of this server
                    try:
                        conn.sendall(b"X-Slow: a\r\n")
                    except OSError:
                        return

        thread = threading.Thread(target=drip, daemon=True)
        thread.start()
        began = time.monotonic()
        try:
            with pytest.raises(FetchError) as info:
                fetch(f"http://127.0.0.1:{sock.getsockname()[1]}/", "GET", {}, None,
                      HttpHosts.parse("127.0.0.1"), seconds=1.0)
            took = time.monotonic() - began
        finally:
            stop.set()
            thread.join(10)
    assert str(info.value) == ("gave up after 1 s (an http node's request, redirects and body included, "
                               "may take that long)")
    assert took < 10, took  # about 1 s; generous for a loaded machine


def test_http_hosts_entries() -> None:
    hosts = HttpHosts.parse("api.example.com, 10.0.0.0/8,192.0.2.7,[::1]")
    assert hosts.refusal("API.example.com.", [_ip("10.9.9.9")]) is None  # listed by name
    assert hosts.refusal("other", [_ip("10.9.9.9"), _ip("10.1.1.1")]) is None  # every address listed
    assert hosts.refusal("other", [_ip("10.9.9.9"), _ip("11.1.1.1")]) == (
        "host other (11.1.1.1) is not in the hosts http nodes may reach (--http-hosts): add it there to allow it")
    assert hosts.refusal("v6", [_ip("::1")]) is None
    with pytest.raises(ValueError, match="'http://x' is not a host name, an IP address or a network"):
        HttpHosts.parse("http://x")
    assert HttpHosts().refusal("example.org", [_ip("93.184.215.14")]) is None  # public: the default allows it


def _ip(text: str):
    import ipaddress

    return ipaddress.ip_address(text)


def test_https_checks_the_servers_certificate_and_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """https goes over TLS with the certificate verified against the system's CAs (here
    ``SSL_CERT_FILE``, which OpenSSL reads for them) and the host's name checked."""
    import ssl

    from tests.certs import make_pki

    pki = make_pki(tmp_path / "pki")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"https://127.0.0.1:{server.server_address[1]}/ok"
    try:
        with pytest.raises(FetchError) as info:  # our test CA is no system CA
            fetch(url, "GET", {}, None, HttpHosts.parse("127.0.0.1"))
        assert str(info.value).startswith(f"{url}: [SSL: CERTIFICATE_VERIFY_FAILED]")
        monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca))
        reply = fetch(url, "GET", {}, None, HttpHosts.parse("127.0.0.1"))
        assert (reply.status, reply.body) == (200, b'{"ok": true}')
    finally:
        server.shutdown()
        server.server_close()
