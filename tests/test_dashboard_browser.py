"""The dashboard in a real headless Chromium against a real daemon (``serve --http-address``):
live list updates, a streamed agent message, a workflow run's graph coloured by task status.
Screenshots go to the ``artifacts`` folder (printed; not committed)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from stigmer_actors import wire
from stigmer_actors.client import StigmerClient
from stigmer_actors.domain import phases
from tests.daemon import Daemon

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "branch-and-join.yaml"
WAIT = 15.0
COMPLETED_FILL = "rgb(223, 243, 231)"  # dashboard.css: svg.graph .st-completed rect
SKIPPED_FILL = "rgb(236, 238, 242)"    # svg.graph .st-skipped rect


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    daemon = Daemon(tmp_path_factory.mktemp("dashboard") / "data", "--http-address", "127.0.0.1:0",
                    "--pending-timeout", "0")
    url = next(m.group(1) for line in daemon.log if (m := re.search(r"dashboard at (\S+)", line)))
    client = StigmerClient(daemon.address)
    try:
        yield url.rstrip("/"), client
    finally:
        client.close()
        assert daemon.terminate() == 0


def _open_live(browser, url: str) -> None:
    browser.get(url)
    WebDriverWait(browser, WAIT).until(lambda d: d.find_element(By.ID, "live-status").text == "live")
    browser.execute_script("window.notReloaded = true;")


def _text(browser, css: str) -> str | None:
    """The element's text read in one step in the page (live updates replace elements, so a
    reference taken first could be stale by the time its text is read); None if absent."""
    return browser.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.innerText : null;", css)


def _not_reloaded(browser) -> bool:
    return browser.execute_script("return window.notReloaded === true;")


def test_list_page_shows_a_new_execution_and_its_phase_change_within_a_second(browser, dashboard, artifacts) -> None:
    url, client = dashboard
    _open_live(browser, f"{url}/executions")
    eid = client.create_agent("shown live", session_id="browser", tags=["live"]).metadata.id
    created = time.monotonic()
    row = WebDriverWait(browser, 1.0, poll_frequency=0.02).until(lambda d: _text(d, f"#row-{eid}"))
    appeared = time.monotonic() - created
    assert "PENDING" in row and "shown live" in row
    client.update_status(eid, wire.AgentExecutionStatus(phase=phases.IN_PROGRESS))
    moved = time.monotonic()
    WebDriverWait(browser, 1.0, poll_frequency=0.02).until(
        lambda d: "IN_PROGRESS" in (_text(d, f"#row-{eid}") or ""))
    changed = time.monotonic() - moved
    assert _not_reloaded(browser)
    WebDriverWait(browser, WAIT).until(lambda d: "1 IN_PROGRESS" in _text(d, "#counts"))
    counts = _text(browser, "#counts")
    browser.save_screenshot(str(artifacts / "list.png"))
    print(f"\nrow shown {appeared * 1000:.0f} ms after create, phase {changed * 1000:.0f} ms after "
          f"updateStatus; counts {counts!r}; screenshot {artifacts / 'list.png'}")


def test_agent_page_shows_a_message_streamed_by_update_status(browser, dashboard, artifacts) -> None:
    url, client = dashboard
    eid = client.create_agent("stream to me", session_id="browser").metadata.id
    client.update_status(eid, wire.AgentExecutionStatus(
        phase=phases.IN_PROGRESS, messages=[{"type": 1, "content": "stream to me"}]))
    _open_live(browser, f"{url}/executions/{eid}")
    assert "No tool call" not in browser.page_source
    client.update_status(eid, wire.AgentExecutionStatus(
        messages=[{"type": 1, "content": "stream to me"}, {"type": 2, "content": "a reply <streamed> live"}],
        tool_calls=[{"id": "c1", "name": "search", "args": {"q": "logs"}, "status": 2}],
        todos={"t1": {"content": "answer", "status": 2}},
    ))
    WebDriverWait(browser, WAIT).until(lambda d: "a reply <streamed> live" in (_text(d, ".conversation") or ""))
    live = browser.find_element(By.ID, "live")
    assert "search" in live.text and "RUNNING" in live.text and "answer" in live.text
    assert live.get_attribute("data-version") == "3"
    assert _not_reloaded(browser)
    browser.save_screenshot(str(artifacts / "agent.png"))


def test_workflow_page_colours_completed_and_skipped_nodes_of_branch_and_join(browser, dashboard, artifacts) -> None:
    url, client = dashboard
    # Created before its definition exists, the run waits PENDING, so the page is open
    # before anything runs; applying the definition lets the daemon's runner take it.
    run = client.create_workflow(workflow_id="branch-and-join", trigger_metadata={"severity": "high"})
    _open_live(browser, f"{url}/executions/{run.metadata.id}")
    assert not browser.find_elements(By.CSS_SELECTOR, "g.node")  # no definition yet: no graph
    client.apply_workflow(EXAMPLE.read_text())
    WebDriverWait(browser, WAIT).until(  # the terminal state: the page changes no more after it
        lambda d: _text(d, "header.execution .phase") == "COMPLETED"
        and d.find_elements(By.CSS_SELECTOR, 'g.node[data-node="done"].st-completed'))
    assert _not_reloaded(browser)

    def fill(node: str) -> str:
        return browser.execute_script(
            "return getComputedStyle(document.querySelector(arguments[0])).fill;",
            f'g.node[data-node="{node}"] rect')

    for node in ("route", "page", "escalate", "done"):
        assert browser.find_element(By.CSS_SELECTOR, f'g.node[data-node="{node}"]').get_attribute(
            "data-status") == "COMPLETED"
        assert fill(node) == COMPLETED_FILL, node
    for node in ("file", "label"):
        assert browser.find_element(By.CSS_SELECTOR, f'g.node[data-node="{node}"]').get_attribute(
            "data-status") == "SKIPPED"
        assert fill(node) == SKIPPED_FILL, node
    # A node's input and output on click (the run has ended: the page no longer changes).
    browser.find_element(By.CSS_SELECTOR, 'g.node[data-node="escalate"]').click()
    WebDriverWait(browser, WAIT).until(lambda d: d.execute_script(
        "return document.querySelector('details[data-task=\"task-escalate-0\"]').open;"))
    assert "incident-commander" in _text(browser, 'details[data-task="task-escalate-0"]')
    browser.save_screenshot(str(artifacts / "workflow.png"))
    print(f"\nscreenshots in {artifacts}")
