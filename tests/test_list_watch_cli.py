"""``stigmer-actors list --watch`` against a real daemon: changes as they happen, and a
broken connection resumed from the last token (nothing printed twice, nothing missed)."""

from __future__ import annotations

import json
import queue
import socket
import subprocess
import threading
import time

from stigmer_actors import wire
from stigmer_actors.client import StigmerClient
from stigmer_actors.domain import phases
from tests.daemon import CLI, Daemon

WAIT = 20.0


class Proxy:
    """A TCP relay on 127.0.0.1 whose open connections can be cut, as a network would."""

    def __init__(self, target: str) -> None:
        host, port = target.rsplit(":", 1)
        self.target = (host, int(port))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            with self._lock:
                self._open += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for s in (source, sink):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self) -> int:
        """Close every open connection; new ones are relayed as before."""
        with self._lock:
            cut, self._open = self._open, []
        for s in cut:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        return len(cut)

    def close(self) -> None:
        self.listener.close()
        self.cut()


def _lines(stream, into: queue.Queue) -> None:
    for line in stream:
        into.put(line.rstrip("\n"))


def _expect(lines: queue.Queue, count: int) -> list[str]:
    got = []
    deadline = time.monotonic() + WAIT
    while len(got) < count:
        got.append(lines.get(timeout=max(0.01, deadline - time.monotonic())))
    return got


def _events(lines: queue.Queue, count: int) -> list[dict]:
    """The next ``count`` events that are not BOOKMARKs (--json lines)."""
    got: list[dict] = []
    deadline = time.monotonic() + WAIT
    while len(got) < count:
        event = json.loads(lines.get(timeout=max(0.01, deadline - time.monotonic())))
        if event["type"] != "BOOKMARK":
            got.append(event)
    return got


def _brief(events: list[dict]) -> list[tuple[str, str, int, str]]:
    return [(e["type"], e["summary"]["id"], e["summary"].get("phase", 0), e["summary"]["version"]) for e in events]


def test_list_watch_prints_changes_as_kubectl_get_w_does(tmp_path) -> None:
    daemon = Daemon(tmp_path / "data", "--pending-timeout", "0", "--no-runner")
    client = StigmerClient(daemon.address)
    a = client.create_agent("a", session_id="s").metadata.id
    watcher = subprocess.Popen([*CLI, "list", "--watch", "--kind", "agent", "--address", daemon.address],
                               text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out: queue.Queue = queue.Queue()
    threading.Thread(target=_lines, args=(watcher.stdout, out), daemon=True).start()
    try:
        assert _expect(out, 1) == [f"ADDED     {a}  agent  PENDING  v1"]
        client.create_workflow(workflow_id="wf")  # another kind: not printed
        client.update_status(a, wire.AgentExecutionStatus(phase=phases.FAILED, error="boom"))
        assert _expect(out, 1) == [f"MODIFIED  {a}  agent  FAILED  v2  error: boom"]
        client.delete(a)
        assert _expect(out, 1) == [f"DELETED   {a}  agent  FAILED  v2  error: boom"]
    finally:
        watcher.terminate()
        watcher.wait(timeout=10)
        client.close()
        daemon.terminate()


def test_list_watch_resumes_from_its_last_token_after_a_cut(tmp_path) -> None:
    daemon = Daemon(tmp_path / "data", "--pending-timeout", "0", "--no-runner")
    proxy = Proxy(daemon.address)
    client = StigmerClient(daemon.address)
    a = client.create_agent("a", session_id="s").metadata.id
    b = client.create_workflow(workflow_id="wf").metadata.id
    watcher = subprocess.Popen([*CLI, "list", "--watch", "--json", "--address", proxy.address], text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out: queue.Queue = queue.Queue()
    err: queue.Queue = queue.Queue()
    threading.Thread(target=_lines, args=(watcher.stdout, out), daemon=True).start()
    threading.Thread(target=_lines, args=(watcher.stderr, err), daemon=True).start()
    try:
        listed = []
        while not (event := json.loads(out.get(timeout=WAIT))).get("initialListDone"):
            listed.append(event)
        assert sorted(_brief(listed)) == sorted([("ADDED", a, phases.PENDING, "1"),
                                                 ("ADDED", b, phases.PENDING, "1")])
        client.update_status(a, wire.AgentExecutionStatus(phase=phases.IN_PROGRESS))
        assert _brief(_events(out, 1)) == [("MODIFIED", a, phases.IN_PROGRESS, "2")]

        assert proxy.cut() >= 2
        client.update_status(b, wire.WorkflowExecutionStatus(phase=phases.IN_PROGRESS))
        client.update_status(a, wire.AgentExecutionStatus(phase=phases.FAILED, error="boom"))
        c = client.create_agent("c", session_id="s").metadata.id
        assert _brief(_events(out, 3)) == [("MODIFIED", b, phases.IN_PROGRESS, "2"),
                                           ("MODIFIED", a, phases.FAILED, "3"),
                                           ("ADDED", c, phases.PENDING, "1")]
        assert "resuming in" in err.get(timeout=WAIT)
        client.delete(c)
        assert _brief(_events(out, 1)) == [("DELETED", c, phases.PENDING, "1")]
        assert all(json.loads(line)["type"] == "BOOKMARK" for line in list(out.queue))  # nothing twice
    finally:
        watcher.terminate()
        watcher.wait(timeout=10)
        client.close()
        proxy.close()
        daemon.terminate()


def test_list_watch_without_a_daemon_fails_at_once() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    done = subprocess.run([*CLI, "list", "--watch", "--address", f"127.0.0.1:{port}"],
                          capture_output=True, text=True, timeout=WAIT)
    # The CLI's code for a daemon it cannot reach (README "Client commands"), like `get`'s.
    assert done.returncode == 11 and done.stderr.startswith("cannot reach the daemon at "), done.stderr
