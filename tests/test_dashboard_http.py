"""The dashboard over real HTTP (no browser): complete pages without JavaScript, the SSE
streams (list from the page's token, resume by Last-Event-ID, reset on a stale token), one
render per state whatever the number of tabs, the bound on SSE connections, shutdown."""

from __future__ import annotations

import http.client
import json
import re
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from stigmer_actors import Engine, wire
from stigmer_actors.domain import phases
from stigmer_actors.web.server import WebServer
from tests.conftest import agent, workflow

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "branch-and-join.yaml"
WAIT = 15.0


@pytest.fixture
def web(data_dir):
    engine = Engine(data_dir, pending_timeout=0, heartbeat_timeout=0)
    server = WebServer(engine, "127.0.0.1:0").start()
    try:
        yield engine, server
    finally:
        server.stop()
        engine.close()


def get(server: WebServer, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(server.url.rstrip("/") + path, timeout=WAIT) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


class Stream:
    """One SSE connection, read event by event."""

    def __init__(self, server: WebServer, path: str, headers: dict[str, str] | None = None) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=WAIT)
        self.conn.request("GET", path, headers=headers or {})
        self.response = self.conn.getresponse()

    def next(self, kind: str | None = None) -> dict[str, str]:
        """The next event (of ``kind`` if given): its fields, data joined."""
        while True:
            fields: dict[str, str] = {}
            while (line := self.response.fp.readline().decode()) not in ("\n", ""):
                name, _, value = line.rstrip("\n").partition(": ")
                fields[name] = fields[name] + "\n" + value if name in fields else value
            if line == "":
                raise EOFError("the stream ended")
            if "data" in fields and (kind is None or fields.get("event") == kind):
                return fields

    def close(self) -> None:
        self.conn.close()


def test_pages_are_complete_without_javascript(web) -> None:
    engine, server = web
    eid = engine.create(agent(tags=["red"])).metadata.id
    engine.update_status(eid, wire.AgentExecutionStatus(
        phase=phases.IN_PROGRESS, messages=[{"type": 1, "content": "hello <b>there</b>"}],
        tool_calls=[{"id": "c1", "name": "grep", "args": {"q": "x"}, "status": 3, "result": "3 lines"}],
        todos={"t": {"content": "reply", "status": 1}}, sub_agent_executions=[{"id": "s1", "name": "helper", "status": 2}]))
    engine.definitions.apply(EXAMPLE.read_text())
    wid = engine.create(workflow("branch-and-join")).metadata.id

    status, page = get(server, "/executions")
    assert status == 200 and f'href="/executions/{eid}"' in page and f'href="/executions/{wid}"' in page
    assert re.search(r"<b>1</b> IN_PROGRESS", page) and re.search(r"<b>1</b> PENDING", page)
    status, page = get(server, "/executions?kind=workflow")
    assert eid not in page and wid in page
    status, page = get(server, "/executions?phase=in_progress&tag=red")
    assert eid in page and wid not in page

    status, page = get(server, f"/executions/{eid}")
    assert status == 200
    assert "hello &lt;b&gt;there&lt;/b&gt;" in page  # escaped, never markup
    for shown in ("grep", "3 lines", "reply", "helper", "IN_PROGRESS", "&#34;q&#34;: &#34;x&#34;"):
        assert shown in page, shown
    status, page = get(server, f"/executions/{wid}")
    assert status == 200 and page.count('<g class="node st-pending"') == 0  # no task reported yet
    assert 'data-node="route"' in page and 'data-node="done"' in page
    status, page = get(server, "/workflows")
    assert status == 200 and 'href="/workflows/branch-and-join"' in page
    status, page = get(server, "/workflows/branch-and-join?version=1")
    assert status == 200 and "v1" in page and "incident-commander" in page and "<svg" in page

    assert get(server, "/executions/aex-nope")[0] == 404
    status, page = get(server, "/executions?phase=SLEEPING")
    assert status == 400 and "phase &#39;SLEEPING&#39; is not one of" in page
    assert get(server, "/workflows/nope")[0] == 404


def test_list_stream_starts_where_the_page_was_rendered_and_resumes_by_last_event_id(web) -> None:
    engine, server = web
    first = engine.create(agent()).metadata.id
    _, page = get(server, "/executions")
    stream_path = re.search(r'data-stream="([^"]+)"', page).group(1).replace("&amp;", "&")
    made_meanwhile = engine.create(agent(message="after the page")).metadata.id  # before the stream opens
    stream = Stream(server, stream_path)
    event = stream.next("execution")
    body = json.loads(event["data"])
    assert (body["type"], body["id"]) == ("ADDED", made_meanwhile) and f"row-{made_meanwhile}" in body["html"]
    engine.update_status(first, wire.AgentExecutionStatus(phase=phases.IN_PROGRESS))
    event = stream.next("execution")
    assert json.loads(event["data"])["id"] == first and json.loads(event["data"])["type"] == "MODIFIED"
    counts = json.loads(stream.next("counts")["data"])
    assert counts[str(phases.IN_PROGRESS)] >= 1
    token = event["id"]
    stream.close()

    engine.update_status(first, wire.AgentExecutionStatus(phase=phases.COMPLETED))
    again = Stream(server, "/events/executions", {"Last-Event-ID": token})  # what a browser sends
    body = json.loads(again.next("execution")["data"])
    assert (body["type"], body["id"], body["version"], body["phase"]) == ("MODIFIED", first, 3, phases.COMPLETED)
    again.close()

    stale = Stream(server, "/events/executions?since=cnQxOmFiY2RlZjoz")  # another epoch
    assert "restarted" in json.loads(stale.next("reset")["data"])["reason"]
    stale.close()


def test_many_tabs_on_one_execution_cost_one_render_per_state(web) -> None:
    engine, server = web
    eid = engine.create(agent()).metadata.id
    tabs = [Stream(server, f"/events/executions/{eid}") for _ in range(20)]
    for tab in tabs:
        assert json.loads(tab.next("state")["data"])["version"] == 1
    app_fragments = server.fragments
    before = app_fragments.rendered
    engine.update_status(eid, wire.AgentExecutionStatus(phase=phases.IN_PROGRESS, messages=[{"content": "to all"}]))
    for tab in tabs:
        state = json.loads(tab.next("state")["data"])
        assert state["version"] == 2 and "to all" in state["html"]
    assert app_fragments.rendered - before <= 2  # one render (two tabs may race to the first)
    engine.update_status(eid, wire.AgentExecutionStatus(phase=phases.COMPLETED))
    for tab in tabs:
        assert json.loads(tab.next("state")["data"])["phase"] == phases.COMPLETED
        tab.next("end")
        tab.close()


def test_sse_connections_are_bounded_and_freed(web) -> None:
    engine, server = web
    server.slots.limit = 3
    eid = engine.create(agent()).metadata.id
    tabs = [Stream(server, f"/events/executions/{eid}") for _ in range(3)]
    for tab in tabs:
        tab.next("state")
    refused = Stream(server, f"/events/executions/{eid}")
    assert refused.response.status == 503 and "at most 3" in refused.response.read().decode()
    status, page = get(server, f"/executions/{eid}")
    assert status == 200  # pages are still served
    tabs[0].close()
    for version in (2, 3):  # the closed tab's first write draws a reset, the second fails
        engine.update_status(eid, wire.AgentExecutionStatus(error="wake"))
        for tab in tabs[1:]:
            assert json.loads(tab.next("state")["data"])["version"] == version
    deadline = time.monotonic() + WAIT
    while server.slots.count > 2:
        assert time.monotonic() < deadline, server.slots.count
        time.sleep(0.01)
    fresh = Stream(server, f"/events/executions/{eid}")
    assert json.loads(fresh.next("state")["data"])["version"] == 3
    for tab in (*tabs[1:], fresh):
        tab.close()


def test_stopping_ends_open_streams_at_once(data_dir) -> None:
    with Engine(data_dir, pending_timeout=0, heartbeat_timeout=0) as engine:
        server = WebServer(engine, "127.0.0.1:0").start()
        eid = engine.create(agent()).metadata.id
        tabs = [Stream(server, f"/events/executions/{eid}"), Stream(server, "/events/executions")]
        tabs[0].next("state")
        started = time.monotonic()
        server.stop()
        took = time.monotonic() - started
        assert took < 5, took  # not a heartbeat's wait (15 s) per stream
        assert server.slots.count == 0


def test_a_taken_http_address_is_refused(web, data_dir) -> None:
    engine, server = web
    with pytest.raises(OSError, match="could not listen on"):
        WebServer(engine, f"127.0.0.1:{server.port}")
    with pytest.raises(ValueError, match="is not HOST:PORT"):
        WebServer(engine, "localhost")


def test_sse_connections_and_list_watches_are_counted_in_the_metrics(data_dir) -> None:
    from prometheus_client import generate_latest

    from stigmer_actors.observability import Metrics

    def series(metrics: Metrics) -> dict[str, float]:
        text = generate_latest(metrics.registry).decode()
        return {m.group(1): float(m.group(2)) for m in re.finditer(r"^(stigmer_(?:sse|list)\w*) (\S+)$", text, re.M)}

    metrics = Metrics()
    with Engine(data_dir, pending_timeout=0, heartbeat_timeout=0, metrics=metrics) as engine:
        server = WebServer(engine, "127.0.0.1:0").start()
        try:
            server.slots.limit = 2
            eid = engine.create(agent()).metadata.id
            tab = Stream(server, f"/events/executions/{eid}")
            tab.next("state")
            listing = Stream(server, "/events/executions")
            listing.next("bookmark")
            assert Stream(server, "/events/executions").response.status == 503
            assert series(metrics) == {"stigmer_list_watches": 1.0, "stigmer_sse_connections": 2.0,
                                       "stigmer_sse_refused_total": 1.0}
            tab.close()
            listing.close()
        finally:
            server.stop()
        assert series(metrics)["stigmer_list_watches"] == 0.0
