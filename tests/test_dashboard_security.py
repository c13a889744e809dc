"""The dashboard behind the daemon's guards: API keys (a bearer header or the sign-in
cookie, on pages and SSE streams), TLS and mutual TLS, over real HTTP on loopback; and
``serve`` refusing an unguarded non-loopback ``--http-address``, or one it cannot serve
without the ``web`` extra, and serving without the optional extras."""

from __future__ import annotations

import http.client
import os
import ssl
import subprocess
import urllib.parse
from pathlib import Path

import pytest

from stigmer_actors import Engine
from stigmer_actors.cli.startup import EXIT_NO_DASHBOARD, EXIT_UNGUARDED
from stigmer_actors.client import StigmerClient
from stigmer_actors.security import keys
from stigmer_actors.security.keyring import KeyRing
from stigmer_actors.security.tls import ServerTLS
from stigmer_actors.web.guard import COOKIE, MAX_FORM_BYTES
from stigmer_actors.web.server import WebServer
from tests.certs import Pki, make_pki
from tests.conftest import agent
from tests.daemon import CLI, Daemon
from tests.test_startup_refusals import refusal, serve

WAIT = 15.0


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def keyed(data_dir: Path, tmp_path: Path):
    path = tmp_path / "api-keys"
    viewer = keys.create(path, "eyes", "viewer")[1]
    engine = Engine(data_dir, pending_timeout=0, heartbeat_timeout=0)
    ring = KeyRing(path)
    server = WebServer(engine, "127.0.0.1:0", keys=ring).start()
    try:
        yield engine, server, viewer, path, ring
    finally:
        server.stop()
        engine.close()


def request(port: int, method: str, path: str, headers: dict[str, str] | None = None,
            body: str | None = None, context: ssl.SSLContext | None = None) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body); an SSE response's body is not read (it does not end)."""
    conn: http.client.HTTPConnection
    if context is None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT)
    else:
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=WAIT, context=context)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        streaming = "event-stream" in (response.getheader("Content-Type") or "")
        return response.status, dict(response.getheaders()), b"" if streaming else response.read()
    finally:
        conn.close()


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def test_pages_and_streams_need_a_key_and_accept_a_bearer_or_the_cookie(keyed) -> None:
    engine, server, viewer, path, ring = keyed
    eid = engine.create(agent()).metadata.id
    port = server.port

    status, headers, _ = request(port, "GET", f"/executions/{eid}", {"Accept": "text/html"})
    assert status == 303
    assert headers["Location"] == "/login?next=" + urllib.parse.quote(f"/executions/{eid}", safe="")
    status, _, body = request(port, "GET", "/events/executions", {"Accept": "text/event-stream"})
    assert status == 401 and b"API key" in body
    status, _, body = request(port, "GET", f"/executions/{eid}", {"Authorization": "Bearer sk-nope"})
    assert status == 401 and b"sk-nope" not in body and eid.encode() not in body
    assert request(port, "GET", "/static/dashboard.css")[0] == 200  # no execution data in it

    status, _, body = request(port, "GET", f"/executions/{eid}", {"Authorization": f"Bearer {viewer}"})
    assert status == 200 and eid.encode() in body

    status, _, body = request(port, "POST", "/login?next=/executions", FORM, "key=sk-wrong")
    assert status == 401 and b"not accepted" in body and b"sk-wrong" not in body
    status, headers, _ = request(port, "POST", "/login?next=//evil.example/x", FORM,
                                 urllib.parse.urlencode({"key": viewer}))
    assert status == 303 and headers["Location"] == "/"  # never off this site
    cookie = headers["Set-Cookie"]
    assert cookie.startswith(f"{COOKIE}={viewer};") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Secure" not in cookie  # plain HTTP: a Secure cookie would never come back
    jar = {"Cookie": cookie.split(";")[0]}
    assert request(port, "GET", "/executions", jar)[0] == 200
    status, headers, _ = request(port, "GET", f"/events/executions/{eid}", {**jar, "Accept": "text/event-stream"})
    assert status == 200 and headers["Content-Type"].startswith("text/event-stream")

    status, _, _ = request(port, "POST", "/login", FORM, "key=" + "x" * (MAX_FORM_BYTES + 1))
    assert status == 413

    keys.revoke(path, "eyes")  # a revoked key stops working once the file is read again
    assert ring.reload_if_changed()
    assert request(port, "GET", "/executions", jar)[0] == 401
    assert request(port, "GET", "/executions", {"Authorization": f"Bearer {viewer}"})[0] == 401


def test_tls_and_mutual_tls(data_dir: Path, pki: Pki) -> None:
    engine = Engine(data_dir, pending_timeout=0, heartbeat_timeout=0)
    servers = [WebServer(engine, "127.0.0.1:0", tls=ServerTLS.load(pki.server_cert, pki.server_key)).start(),
               WebServer(engine, "127.0.0.1:0",
                         tls=ServerTLS.load(pki.server_cert, pki.server_key, pki.ca)).start()]
    try:
        plain_tls, mutual = servers
        assert plain_tls.url.startswith("https://")
        trusting = ssl.create_default_context(cafile=str(pki.ca))
        trusting.check_hostname = False
        assert request(plain_tls.port, "GET", "/executions", context=trusting)[0] == 200
        with pytest.raises(ssl.SSLError):
            request(plain_tls.port, "GET", "/executions", context=ssl.create_default_context())
        with pytest.raises((ssl.SSLError, ConnectionError)):
            request(mutual.port, "GET", "/executions", context=trusting)  # no client certificate
        with_cert = ssl.create_default_context(cafile=str(pki.ca))
        with_cert.check_hostname = False
        with_cert.load_cert_chain(str(pki.client_cert), str(pki.client_key))
        assert request(mutual.port, "GET", "/executions", context=with_cert)[0] == 200
    finally:
        for server in servers:
            server.stop()
        engine.close()


def test_serve_refuses_an_unguarded_network_dashboard(data_dir: Path) -> None:
    line = refusal(serve(data_dir, "--http-address", "0.0.0.0:0"), EXIT_UNGUARDED)
    assert "refusing to serve 0.0.0.0:0 unguarded" in line
    assert not data_dir.exists()  # refused before anything was opened


def test_serve_without_the_web_extra_says_how_to_get_it(data_dir: Path, tmp_path: Path) -> None:
    """The extra made missing for real: a ``flask`` first on the path that fails to import,
    as a missing package does."""
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "flask.py").write_text("raise ModuleNotFoundError(\"No module named 'flask'\", name='flask')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(shadow), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([*CLI, "serve", "--address", "127.0.0.1:0", "--data-dir", str(data_dir),
                           "--http-address", "127.0.0.1:0", "--no-runner"],
                          capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == EXIT_NO_DASHBOARD, done.stderr
    assert "Traceback" not in done.stderr
    assert ("cannot serve the dashboard: No module named 'flask'; install the web extra "
            "(pip install 'stigmer-actors[web]')") in done.stderr.strip().splitlines()[-1]


def test_serve_needs_neither_the_web_nor_the_postgres_extra(data_dir: Path, tmp_path: Path) -> None:
    """The quick start installs the ``server`` extra only: ``serve`` on RocksDB must start
    and answer with flask and psycopg missing (made missing for real, as above)."""
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    for module in ("flask", "psycopg", "psycopg_pool"):
        (shadow / f"{module}.py").write_text(
            f"raise ModuleNotFoundError(\"No module named '{module}'\", name='{module}')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(shadow), os.environ.get("PYTHONPATH", "")])}
    daemon = Daemon(data_dir, "--no-runner", env=env)
    try:
        with StigmerClient(daemon.address) as client:
            eid = client.create_agent("hello", session_id="s").metadata.id
            assert client.get(eid).metadata.id == eid
    finally:
        assert daemon.terminate() == 0
