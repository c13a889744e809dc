"""The benchmark suite's smoke test: ``python -m bench --quick`` runs every scenario and
writes valid results (the figures themselves are reported from full runs, not asserted)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.__main__ import SCENARIOS


@pytest.mark.timeout(600)
def test_quick_run_writes_valid_results_for_every_scenario(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "bench", "--quick", "--results", str(tmp_path)],
                         capture_output=True, text=True, timeout=580)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    [written] = tmp_path.glob("bench-*-quick.json")
    report = json.loads(written.read_text())
    assert report["quick"] is True and report["machine"]["protobuf_backend"] == "upb"
    assert set(report["scenarios"]) == set(SCENARIOS)
    for name, result in report["scenarios"].items():
        assert "error" not in result, f"{name}: {result.get('error')}"
        assert result["table"], name
        if "plot" in result:
            png = tmp_path / result["plot"]
            assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    systems = {row["system"] for row in report["scenarios"]["fanout"]["table"]}
    expected = {"stigmer-grpc", "bare-grpc", "redis", "stigmer-embedded", "queue-floor"}
    if shutil.which("redis-server") is None:  # a bare machine; CI installs it (.ci/run)
        expected.discard("redis")
    assert systems == expected
