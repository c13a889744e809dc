"""The node types that reach outside the run: ``http`` against a real HTTP server on
loopback, and ``agent`` completed by a fake agent runner claiming through the real
dispatch service (the same path an agent runner takes in production)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from stigmer_actors.client import StatusBuilder, StigmerClient
from stigmer_actors.domain import phases
from stigmer_actors.domain.kinds import AGENT
from tests import workflow_hooks
from tests.test_workflow_runs import COMPLETED, FAILED, Daemon, check_after, check_forward, final


class _Tickets(BaseHTTPRequestHandler):
    posted: list[dict] = []

    def do_GET(self) -> None:  # http.server's name
        if self.path.startswith("/tickets/"):
            ticket = self.path.rsplit("/", 1)[1]
            self._reply(200, {"id": ticket, "severity": "high" if ticket == "7" else "low"})
        else:
            self._reply(500, {"error": "the ticket store is down"})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Tickets.posted.append({"body": body, "auth": self.headers.get("X-Token")})
        self._reply(201, {"accepted": body})

    def _reply(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Tickets)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Tickets.posted.clear()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def daemon(data_dir: Path) -> Iterator[Daemon]:
    d = Daemon(data_dir)
    workflow_hooks.CALLS.clear()
    yield d
    d.close()


def test_http_nodes_against_a_real_server(daemon: Daemon, http_url: str) -> None:
    seen = daemon.run(f"""
        name: tickets
        nodes:
          - id: fetch
            type: http
            with: {{method: GET, url: "{http_url}/tickets/{{{{ input.ticket }}}}"}}
            timeout: 5s
          - id: classify
            type: transform
            with: {{set: {{severity: "nodes.fetch.output.body.severity"}}}}
          - id: report
            type: http
            with:
              method: POST
              url: "{http_url}/reports"
              headers: {{X-Token: secret}}
              json: {{ticket: "{{{{ input.ticket }}}}", severity: "{{{{ nodes.classify.output.severity }}}}"}}
        edges: [{{from: fetch, to: classify}}, {{from: classify, to: report}}]
    """, ticket="7")
    assert seen[-1].status.phase == phases.COMPLETED, seen[-1].status.error
    check_forward(seen)
    check_after(seen, "report#0", "classify#0")
    tasks = final(seen)
    assert tasks["fetch#0"].output["status"] == 200
    assert dict(tasks["fetch#0"].output["body"]) == {"id": "7", "severity": "high"}
    assert tasks["fetch#0"].input["url"] == f"{http_url}/tickets/7"  # the template, rendered
    assert _Tickets.posted == [{"body": {"ticket": 7, "severity": "high"}, "auth": "secret"}]
    assert tasks["report#0"].output["status"] == 201
    assert tasks["fetch#0"].task_type == tasks["report#0"].task_type != 0


def test_http_error_status_fails_the_node_unless_accepted(daemon: Daemon, http_url: str) -> None:
    failing = daemon.run(f"""
        name: down
        nodes: [{{id: call, type: http, with: {{url: "{http_url}/health"}}}}]
    """)
    assert failing[-1].status.phase == phases.FAILED
    assert failing[-1].status.error.startswith(f"node call: HTTP 500 from {http_url}/health")
    accepted = daemon.run(f"""
        name: down-ok
        nodes: [{{id: call, type: http, with: {{url: "{http_url}/health", accept: [500]}}}}]
    """)
    assert accepted[-1].status.phase == phases.COMPLETED
    assert final(accepted)["call#0"].output["status"] == 500


def _fake_agent_runner(address: str, stop: threading.Event, handled: list[str]) -> None:
    """Claims agent executions through dispatch; answers each, or fails it if asked to."""
    with StigmerClient(address) as client:
        stream = client.claim(AGENT, "fake-agent-runner", capacity=4)
        threading.Thread(target=lambda: (stop.wait(), stream.cancel()), daemon=True).start()
        try:
            for execution in stream:
                handled.append(execution.metadata.id)
                with StatusBuilder(client, execution.metadata.id, AGENT) as status:
                    status.start()
                    if "fail" in execution.spec.message:
                        status.fail("the model refused")
                    else:
                        status.add_message(f"answer to: {execution.spec.message}")
                        status.complete()
        except Exception:
            if not stop.is_set():
                raise


def test_agent_node_waits_for_an_agent_runner(daemon: Daemon) -> None:
    stop = threading.Event()
    handled: list[str] = []
    agent_runner = threading.Thread(target=_fake_agent_runner, args=(daemon.server.address, stop, handled))
    agent_runner.start()
    try:
        seen = daemon.run("""
            name: ask-agent
            nodes:
              - {id: ask, type: agent, with: {message: "summarize {{ input.topic }}", agent_id: writer}}
              - {id: use, type: transform, with: {set: {said: "nodes.ask.output.message"}}}
            edges: [{from: ask, to: use}]
        """, topic="tokens")
        refused = daemon.run("""
            name: agent-refuses
            nodes: [{id: refuse, type: agent, with: {message: "please fail"}}]
        """)
    finally:
        stop.set()
        agent_runner.join(10)
    assert seen[-1].status.phase == phases.COMPLETED, seen[-1].status.error
    check_forward(seen)
    check_after(seen, "use#0", "ask#0")
    tasks = final(seen)
    ask = tasks["ask#0"]
    assert ask.status == COMPLETED and ask.output["message"] == "answer to: summarize tokens"
    assert ask.output["phase"] == "COMPLETED" and ask.output["execution_id"] in handled
    assert tasks["use#0"].output["said"] == "answer to: summarize tokens"
    created = daemon.client.get(ask.output["execution_id"])
    assert created.spec.message == "summarize tokens" and created.spec.agent_id == "writer"
    assert created.spec.session_id == seen[-1].metadata.id  # linked to the run
    assert refused[-1].status.phase == phases.FAILED
    assert final(refused)["refuse#0"].status == FAILED
    error = refused[-1].status.error
    assert error.startswith("node refuse: agent execution ") and error.endswith("ended FAILED: the model refused")
    assert len(handled) == 2
