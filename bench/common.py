"""What every scenario shares: the payload, percentiles, machine facts, the results folder.

A scenario is a module with ``run(quick: bool) -> dict`` returning JSON-able results with
at least ``"table"`` (a list of flat dicts, one row each, for the README table) and
optionally ``plot(result: dict, path: Path) -> None`` writing one PNG. ``python -m bench``
runs them all and writes one JSON file per run plus the PNGs (see ``bench/__main__.py``).
"""

from __future__ import annotations

import os
import platform
import statistics
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
PAYLOAD = "x" * 1500
"""With the rest of an AgentExecution: about 2 KB serialized, the shape every scenario uses."""


def pct(values: list[float], p: float) -> float:
    """The p-th percentile (inclusive method), rounded to 3 decimals; max for p == 100."""
    if not values:
        return float("nan")
    if p >= 100 or len(values) == 1:
        return round(max(values), 3)
    return round(statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1], 3)


def machine() -> dict:
    import google.protobuf
    import grpc
    from google.protobuf.internal import api_implementation

    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "grpcio": grpc.__version__,
        "protobuf": google.protobuf.__version__,
        "protobuf_backend": api_implementation.Type(),
    }


def raise_idle_stream_wakeup() -> None:
    """A sync grpcio client's blocked stream iterator wakes every 0.1 s to poll; with
    thousands of idle streams in one process that alone eats the cores. Call this first
    thing in a subscriber process."""
    import grpc._common

    grpc._common.MAXIMUM_WAIT_TIMEOUT = 3600.0
