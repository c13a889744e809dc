"""A run's durable progress in RocksDB: its start record and one record per node outcome.

    P \\0 <execution id>                 -> {"workflow", "version", "ir_hash", "input"}
    p \\0 <execution id> \\0 <seq, 8 digits> -> an ``Outcome`` (JSON)

An outcome is written before anything acts on it (before the report, before the tokens it
emits start other nodes), so a node whose completion was recorded is never run again after
a restart; one that was running when the process died has no outcome and runs again
(at-least-once for ``python`` and ``http`` nodes). A finished run's records are deleted.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from stigmer_actors.runner.state import Outcome
from stigmer_actors.store.base import Store
from stigmer_actors.store.keys import SEP


@dataclass(frozen=True)
class RunRecord:
    execution_id: str
    workflow: str
    version: int
    ir_hash: str
    input: dict[str, Any]


class Progress:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._next: dict[str, int] = {}

    def begin(self, run: RunRecord) -> None:
        self._store.write({_run_key(run.execution_id): json.dumps(asdict(run)).encode()})

    def run(self, execution_id: str) -> RunRecord | None:
        data = self._store.get(_run_key(execution_id))
        return RunRecord(**json.loads(data)) if data else None

    def runs(self) -> list[str]:
        """Execution ids of every run not finished (to resume after a restart)."""
        prefix = _run_key("")
        return [key[len(prefix):].decode() for key in self._store.scan(prefix)]

    def record(self, execution_id: str, outcome: Outcome) -> None:
        seq = self._next.get(execution_id, 0)
        self._next[execution_id] = seq + 1
        key = _outcome_prefix(execution_id) + f"{seq:08d}".encode()
        self._store.write({key: json.dumps(outcome.to_json()).encode()})

    def outcomes(self, execution_id: str) -> list[Outcome]:
        """The recorded outcomes in the order they happened."""
        keys = list(self._store.scan(_outcome_prefix(execution_id)))
        self._next[execution_id] = len(keys)
        found = []
        for key in keys:
            data = self._store.get(key)
            if data is not None:
                found.append(Outcome.from_json(json.loads(data)))
        return found

    def finish(self, execution_id: str) -> None:
        keys = list(self._store.scan(_outcome_prefix(execution_id)))
        self._store.write({}, [_run_key(execution_id), *keys])
        self._next.pop(execution_id, None)


def _run_key(execution_id: str) -> bytes:
    return f"P{SEP}{execution_id}".encode()


def _outcome_prefix(execution_id: str) -> bytes:
    return f"p{SEP}{execution_id}{SEP}".encode()
