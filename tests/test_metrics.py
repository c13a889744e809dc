"""Metrics as an operator scrapes them: the real HTTP endpoint, before and after known
operations, with exact counter deltas; and the ``stats`` RPC agreeing with the scrape."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from stigmer_actors import AGENT, Engine, wire
from stigmer_actors.client import StigmerClient
from stigmer_actors.domain import phases
from stigmer_actors.domain.timeouts import PENDING_ANNOTATION
from stigmer_actors.grpc_edge.server import EdgeServer
from stigmer_actors.observability import Metrics
from stigmer_actors.observability.http import MetricsEndpoint
from tests.conftest import agent

Scrape = dict[tuple[str, frozenset], float]


def scrape(url: str) -> Scrape:
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def delta(before: Scrape, after: Scrape, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    return after.get(key, 0.0) - before.get(key, 0.0)


@pytest.fixture
def setup(data_dir: Path) -> Iterator[tuple[Engine, EdgeServer, StigmerClient, str]]:
    engine = Engine(data_dir, idle_timeout=60, pending_timeout=0, heartbeat_timeout=0,
                    metrics=Metrics())
    server = EdgeServer(engine, "127.0.0.1:0", max_streams=1).start()
    endpoint = MetricsEndpoint("127.0.0.1:0", engine.core.metrics)
    client = StigmerClient(server.address)
    try:
        yield engine, server, client, endpoint.url
    finally:
        client.close()
        server.stop(grace=1)
        endpoint.stop()
        engine.close()


UPDATE = "AgentExecutionCommandController/updateStatus"


def test_counters_move_by_exactly_what_was_done(setup) -> None:
    engine, server, client, url = setup
    before = scrape(url)

    ids = [client.create(agent()).metadata.id for _ in range(3)]
    for i in range(5):
        client.update_status(ids[0], wire.AgentExecutionStatus(error=f"e{i}"))
    client.update_status(ids[1], wire.AgentExecutionStatus(phase=phases.COMPLETED))
    with pytest.raises(grpc.RpcError) as refused:  # terminal is final
        client.update_status(ids[1], wire.AgentExecutionStatus(phase=phases.IN_PROGRESS))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.RpcError):
        client.get("no-such-execution", AGENT)
    after = scrape(url)

    assert delta(before, after, "stigmer_requests_total", method="AgentExecutionCommandController/create", code="OK") == 3
    assert delta(before, after, "stigmer_requests_total", method=UPDATE, code="OK") == 6
    assert delta(before, after, "stigmer_requests_total", method=UPDATE, code="FAILED_PRECONDITION") == 1
    assert delta(before, after, "stigmer_requests_total", method="AgentExecutionQueryController/get", code="NOT_FOUND") == 1
    assert delta(before, after, "stigmer_update_status_seconds_count") == 7  # the refused one too
    for step in ("load", "merge", "persist", "fan_out"):  # 3 creates + 6 accepted updates
        assert delta(before, after, "stigmer_update_step_seconds_count", step=step) == 9
    assert delta(before, after, "stigmer_update_step_seconds_sum", step="persist") > 0
    assert delta(before, after, "stigmer_fan_out_subscribers_count") == 9
    assert delta(before, after, "stigmer_execution_actors_spawned_total") == 3
    assert after[("stigmer_live_execution_actors", frozenset())] == 3
    stored = sum(len(engine.get(i).SerializeToString()) for i in ids)
    assert delta(before, after, "stigmer_store_written_bytes_total") > stored

    # Idle eviction: all three actors stop once idle for idle_timeout (60 s above, so none
    # went early while the test ran on a loaded machine; now made short).
    engine.core.registry.idle_timeout = 0.05
    assert engine.core.registry.wait_live_at_most(0, timeout=10)
    evicted = scrape(url)
    assert delta(after, evicted, "stigmer_execution_actors_evicted_total") == 3
    assert evicted[("stigmer_live_execution_actors", frozenset())] == 0


def test_a_slow_subscriber_shows_as_lag_then_as_coalesced_states(setup) -> None:
    engine, server, client, url = setup
    eid = client.create(agent()).metadata.id
    with engine.subscribe(eid) as slow:
        assert slow.get(timeout=10).status.version == 1
        before = scrape(url)
        assert before[("stigmer_open_subscriptions", frozenset())] == 1
        for i in range(10):  # v2 is sent to it; v3..v11 are held back while it does not read
            client.update_status(eid, wire.AgentExecutionStatus(error=f"e{i}"))
        lagging = scrape(url)
        assert lagging[("stigmer_slowest_subscriber_lag_versions", frozenset())] == 10
        assert delta(before, lagging, "stigmer_fan_out_subscribers_sum") == 10  # 1 each time
        assert [slow.get(timeout=10).status.version for _ in range(2)] == [2, 11]
        after = scrape(url)
    assert delta(before, after, "stigmer_coalesced_states_total") == 8  # v3..v10 never seen


def test_refused_stream_and_watchdog_failure_are_counted(setup) -> None:
    engine, server, client, url = setup
    doomed = agent()
    doomed.metadata.annotations[PENDING_ANNOTATION] = "2"  # time to see PENDING and be refused
    eid = client.create(doomed).metadata.id
    before = scrape(url)
    watcher = client.watch(eid, AGENT)  # the one stream slot
    assert next(watcher).status.phase == phases.PENDING
    with pytest.raises(grpc.RpcError) as refused:
        next(client.watch(eid, AGENT))
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert next(watcher).status.phase == phases.FAILED  # the watchdog, after 2 s
    with pytest.raises(StopIteration):
        next(watcher)
    assert server.streams.wait_count_at_most(0, timeout=10)
    after = scrape(url)
    assert delta(before, after, "stigmer_streams_refused_total") == 1
    assert delta(before, after, "stigmer_watchdog_failures_total", reason="pending") == 1
    assert delta(before, after, "stigmer_requests_total",
                 method="AgentExecutionQueryController/subscribe", code="RESOURCE_EXHAUSTED") == 1
    assert delta(before, after, "stigmer_requests_total",
                 method="AgentExecutionQueryController/subscribe", code="OK") == 1


def test_stats_rpc_agrees_with_the_scrape(setup) -> None:
    engine, server, client, url = setup
    eid = client.create(agent()).metadata.id
    for i in range(20):
        client.update_status(eid, wire.AgentExecutionStatus(error=f"e{i}"))
    stats = client.stats()
    scraped = scrape(url)
    assert stats.status_updates == scraped[("stigmer_update_status_seconds_count", frozenset())] == 20
    assert stats.requests_by_code["OK"] == 21  # create + 20 updates; the stats call counts after
    assert stats.live_actors == 1 and stats.actors_spawned == 1
    assert 0 < stats.update_p50_ms <= stats.update_p99_ms < 1000
    assert set(stats.step_mean_ms) == {"load", "merge", "persist", "fan_out"}
    assert stats.step_mean_ms["persist"] > 0
    assert stats.store_written_bytes == scraped[("stigmer_store_written_bytes_total", frozenset())]


def test_each_change_logs_its_step_times_once_the_same_ones_the_histograms_got(setup) -> None:
    from loguru import logger

    engine, server, client, url = setup
    eid = client.create(agent()).metadata.id
    records: list[dict] = []
    logger.enable("stigmer_actors")
    sink = logger.add(lambda m: records.append(m.record), level="DEBUG",
                      filter=lambda r: r["extra"].get("execution_id") == eid)
    try:
        before = scrape(url)
        client.update_status(eid, wire.AgentExecutionStatus(error="traced"))
        after = scrape(url)
    finally:
        logger.remove(sink)
        logger.disable("stigmer_actors")
    [line] = [r for r in records if "version" in r["extra"]]
    assert line["level"].name == "DEBUG" and line["extra"]["version"] == 2
    for step in ("load", "merge", "persist", "fan_out"):
        logged = line["extra"][step]
        observed = delta(before, after, "stigmer_update_step_seconds_sum", step=step)
        assert logged == pytest.approx(observed, abs=1e-9), step
