"""The service's Prometheus metrics, kept in a registry of their own.

Two sorts, chosen for the cost on the update path:

- events are recorded where they happen (an RPC finished, an update's steps, a coalesced
  state, a watchdog failure). Off the update path these are prometheus-client counters;
  on it, ``Histogram``s (``histograms.py``) whose ``observe`` is an array append, binned
  in bulk at scrape time or every ``FOLD_AT`` values;
- levels (live actors, open subscriptions and streams, the slowest subscriber's lag,
  spawns, evictions, refused streams) are read from the engine's own counters only when
  someone scrapes, so they cost the update path nothing.

A Metrics object is optional everywhere: the embedded Engine runs without one unless asked,
``serve`` always has one (``stats`` reads it) and exposes it over HTTP with
``--metrics-address``.
"""

from __future__ import annotations

import threading
import time
from array import array
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from stigmer_actors.observability.histograms import Histogram, family

STEPS = ("load", "merge", "persist", "fan_out")
"""The steps of a change inside its ExecutionActor, in order."""

_LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                    0.25, 1.0)
_STEP_BUCKETS = (0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001,
                 0.0025, 0.01, 0.1)
_FAN_OUT_BUCKETS = (0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
FOLD_AT = 4096
"""Values a histogram holds unbinned before the thread adding one bins them (bounds memory)."""


class Levels:
    """What the scrape reads from the parts that own the figures (set by them)."""

    live_actors: Callable[[], int] = staticmethod(lambda: 0)
    spawned: Callable[[], int] = staticmethod(lambda: 0)
    evicted: Callable[[], int] = staticmethod(lambda: 0)
    subscriptions: Callable[[], int] = staticmethod(lambda: 0)
    slowest_lag: Callable[[], int] = staticmethod(lambda: 0)
    open_streams: Callable[[], int] = staticmethod(lambda: 0)
    streams_refused: Callable[[], int] = staticmethod(lambda: 0)
    list_watches: Callable[[], int] = staticmethod(lambda: 0)
    sse_connections: Callable[[], int] = staticmethod(lambda: 0)
    sse_refused: Callable[[], int] = staticmethod(lambda: 0)


class Metrics:
    def __init__(self) -> None:
        self.started = time.time()
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "stigmer_requests", "Finished RPCs by method and status code.", ["method", "code"],
            registry=r,
        )
        self.coalesced = Counter(
            "stigmer_coalesced_states",
            "States a slow subscriber never saw because a newer one replaced them.", registry=r,
        )
        self.conflicts = Counter(
            "stigmer_write_conflicts",
            "Group writes applied again because another node wrote the execution first.",
            registry=r,
        )
        self.watchdog_failures = Counter(
            "stigmer_watchdog_failures", "Executions failed by the watchdog, by reason.",
            ["reason"], registry=r,
        )
        self.loop_errors = Counter(
            "stigmer_loop_errors",
            "Items a long-lived loop dropped after an exception (logged), by loop.", ["loop"],
            registry=r,
        )
        self.auth_refused = Counter(
            "stigmer_auth_refused",
            "Calls refused by the API-key check, by reason: missing, malformed, unknown (no "
            "such key, or revoked), role (below what the method needs).", ["reason"], registry=r,
        )
        self._fold_lock = threading.Lock()
        self.update_seconds = Histogram(_LATENCY_BUCKETS)
        self.steps = {step: Histogram(_STEP_BUCKETS) for step in STEPS}
        self.fan_out = Histogram(_FAN_OUT_BUCKETS)
        self._written = Histogram(())  # only its sum is exported
        self._histograms = [self.update_seconds, *self.steps.values(), self.fan_out, self._written]
        self._changes = array("d")
        """Each committed change's six figures, interleaved as ``change`` takes them: one C
        call per change and one array's memory touched, not six; ``fold`` deals them out."""
        self._per_change = [*self.steps.values(), self.fan_out, self._written]
        self.levels = Levels()
        r.register(_ScrapeTimeCollector(self))

    def update_latency(self, seconds: float) -> None:
        """An updateStatus, from its call until its actor was done with it (refused ones too)."""
        self.update_seconds.observe(seconds)
        if len(self.update_seconds.pending) >= FOLD_AT:
            self.fold()

    def change(self, load: float, merge: float, persist: float, fan_out: float,
               subscribers: int, written: int) -> None:
        """One committed change's step times (seconds), fan-out size and bytes written."""
        changes = self._changes
        changes.extend((load, merge, persist, fan_out, subscribers, written))
        if len(changes) >= FOLD_AT * 6:
            self.fold()

    def fold(self) -> None:
        """Bin every pending value (at scrape time, or when one histogram has FOLD_AT)."""
        with self._fold_lock:
            # Only fold() removes, under this lock; change() appends whole sixes (one extend
            # holds the GIL throughout), so the first n values stay put while we read them.
            n = len(self._changes)
            if n:
                taken = self._changes[:n]
                del self._changes[:n]
                for i, histogram in enumerate(self._per_change):
                    histogram.pending.extend(taken[i::6])
            for histogram in self._histograms:
                histogram.fold()

    def written(self) -> int:
        """Serialized bytes written so far."""
        self.fold()
        with self._fold_lock:
            return int(self._written.snapshot()[1])


class _ScrapeTimeCollector(Collector):
    """Builds the histograms' families and reads the levels when someone scrapes."""

    def __init__(self, metrics: Metrics) -> None:
        self._m = metrics

    def collect(self) -> Iterator[Metric]:
        m, lv = self._m, self._m.levels
        m.fold()
        with m._fold_lock:  # built under the lock, yielded after it (a generator must not hold it)
            histograms = [family(
                "stigmer_update_status_seconds",
                "updateStatus latency inside the engine, from the call until its actor is done "
                "with it (queueing at the actor included; refused updates too).",
                {"": m.update_seconds},
            ), family(
                "stigmer_update_step_seconds",
                "Time of each step of a change inside its ExecutionActor; persist is the store "
                "write.",
                m.steps,
                label="step",
            ), family("stigmer_fan_out_subscribers", "Subscribers of the execution at each change.",
                      {"": m.fan_out})]
        yield from histograms
        yield CounterMetricFamily("stigmer_store_written_bytes",
                                  "Serialized execution bytes written to the store.",
                                  value=m.written())
        yield GaugeMetricFamily("stigmer_live_execution_actors", "Execution actors running now.",
                                value=lv.live_actors())
        yield CounterMetricFamily("stigmer_execution_actors_spawned",
                                  "Execution actors started.", value=lv.spawned())
        yield CounterMetricFamily("stigmer_execution_actors_evicted",
                                  "Execution actors stopped after being idle.", value=lv.evicted())
        yield GaugeMetricFamily("stigmer_open_subscriptions", "Subscriptions open now.",
                                value=lv.subscriptions())
        yield GaugeMetricFamily(
            "stigmer_slowest_subscriber_lag_versions",
            "Versions the slowest subscriber is behind its execution (as of its last change).",
            value=lv.slowest_lag(),
        )
        yield GaugeMetricFamily("stigmer_open_streams", "gRPC streams open now.",
                                value=lv.open_streams())
        yield CounterMetricFamily("stigmer_streams_refused",
                                  "Streams refused because the stream bound was reached.",
                                  value=lv.streams_refused())
        yield GaugeMetricFamily("stigmer_list_watches", "List-watches open now (gRPC, embedded, dashboard).",
                                value=lv.list_watches())
        yield GaugeMetricFamily("stigmer_sse_connections", "Dashboard SSE connections open now.",
                                value=lv.sse_connections())
        yield CounterMetricFamily("stigmer_sse_refused",
                                  "Dashboard SSE connections refused at their bound.",
                                  value=lv.sse_refused())
