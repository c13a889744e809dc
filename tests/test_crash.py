"""A process killed with SIGKILL mid-stream loses no acknowledged change (wal and sync)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from stigmer_actors import Engine

WRITER = """
import sys
from stigmer_actors import Engine, wire
engine = Engine(sys.argv[1], durability=sys.argv[2])
eid = engine.create(wire.AgentExecution(metadata={"id": "crash"}, spec={"message": "m", "agent_id": "a"})).metadata.id
i = 0
while True:  # acknowledge each change on stdout, until killed
    i += 1
    version = engine.update_status(eid, wire.AgentExecutionStatus(error=str(i))).status.version
    print(version, i, flush=True)
"""


@pytest.mark.parametrize("durability", ["wal", "sync"])
def test_sigkill_keeps_every_acknowledged_update(data_dir: Path, durability: str) -> None:
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(data_dir), durability],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    acked = []
    for line in proc.stdout:
        acked.append(tuple(map(int, line.split())))
        if len(acked) == 300:
            proc.send_signal(signal.SIGKILL)  # no close, no flush: a crash
            break
    proc.wait(timeout=30)
    last_version, last_i = acked[-1]
    with Engine(data_dir, durability=durability) as engine:
        stored = engine.get("crash")
        # Acknowledged means stored: the version may be ahead (acked after we stopped reading).
        assert stored.status.version >= last_version
        assert int(stored.status.error) >= last_i
        assert int(stored.status.error) == stored.status.version - 1
        assert [e.metadata.id for e in engine.list("agent").entries] == ["crash"]
