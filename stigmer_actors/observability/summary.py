"""The ``stats`` summary: the metrics' current figures as one ``Stats`` message.

Read through prometheus-client's own ``collect()``, so the summary and a scrape can never
disagree. Percentiles come from histogram buckets (linear within the bucket), as a
Prometheus ``histogram_quantile`` would compute them.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from prometheus_client.core import Metric

from stigmer_actors import wire
from stigmer_actors.observability.metrics import STEPS, Metrics


def stats(metrics: Metrics, supervised: Iterable[wire.dispatch.SupervisedRunner] = ()) -> wire.admin.Stats:
    """The summary, with the ``SupervisedRunner`` states of the daemon's runner processes."""
    families = {f.name: f for f in metrics.registry.collect()}

    def value(name: str) -> int:
        return int(sum(s.value for s in families[name].samples if not s.name.endswith("_created")))

    update = families["stigmer_update_status_seconds"]
    steps = families["stigmer_update_step_seconds"]
    result = wire.admin.Stats(
        uptime_seconds=time.time() - metrics.started,
        live_actors=value("stigmer_live_execution_actors"),
        actors_spawned=value("stigmer_execution_actors_spawned"),
        actors_evicted=value("stigmer_execution_actors_evicted"),
        status_updates=int(_sample(update, "_count")),
        update_p50_ms=quantile(update, 0.5) * 1000,
        update_p99_ms=quantile(update, 0.99) * 1000,
        open_subscriptions=value("stigmer_open_subscriptions"),
        open_streams=value("stigmer_open_streams"),
        streams_refused=value("stigmer_streams_refused"),
        states_coalesced=value("stigmer_coalesced_states"),
        slowest_subscriber_lag=value("stigmer_slowest_subscriber_lag_versions"),
        store_written_bytes=value("stigmer_store_written_bytes"),
        supervised_runners=supervised,
    )
    for step in STEPS:
        count = _sample(steps, "_count", step=step)
        result.step_mean_ms[step] = _sample(steps, "_sum", step=step) / count * 1000 if count else 0.0
    for s in families["stigmer_requests"].samples:
        if s.name.endswith("_total"):
            code = s.labels["code"]
            result.requests_by_code[code] = result.requests_by_code[code] + int(s.value)
    for s in families["stigmer_watchdog_failures"].samples:
        if s.name.endswith("_total"):
            result.watchdog_failures[s.labels["reason"]] = int(s.value)
    return result


def quantile(histogram: Metric, q: float, **labels: str) -> float:
    """The ``q`` quantile (seconds) of a histogram family's samples; 0 when it has none."""
    buckets = [
        (float(s.labels["le"]), s.value)
        for s in histogram.samples
        if s.name.endswith("_bucket") and all(s.labels.get(k) == v for k, v in labels.items())
    ]
    total = buckets[-1][1] if buckets else 0
    if not total:
        return 0.0
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound, cumulative in buckets:
        if cumulative >= rank:
            if bound == float("inf"):
                return lower_bound
            share = (rank - lower_count) / (cumulative - lower_count)
            return lower_bound + (bound - lower_bound) * share
        lower_bound, lower_count = bound, cumulative
    return lower_bound


def _sample(family: Metric, suffix: str, **labels: str) -> float:
    return sum(
        s.value
        for s in family.samples
        if s.name.endswith(suffix) and all(s.labels.get(k) == v for k, v in labels.items())
    )
