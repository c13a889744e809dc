"""Closing and reopening the engine keeps every execution, index and version."""

from __future__ import annotations

from pathlib import Path

from stigmer_actors import AGENT, WORKFLOW, Engine, wire
from stigmer_actors.domain import phases
from tests.conftest import agent, workflow

QUERIES = [
    ("agent", {}),
    ("agent", {"phase": phases.IN_PROGRESS}),
    ("agent", {"phase": phases.COMPLETED}),
    ("agent", {"tags": ["red"]}),
    ("agent", {"tags": ["red", "blue"]}),
    ("agent", {"owner": "sess-2"}),
    ("agent", {"page_size": 7}),
    ("workflow", {}),
    ("workflow", {"owner": "wf-b"}),
    ("workflow", {"phase": phases.FAILED, "tags": ["blue"]}),
]


def _everything(engine: Engine, ids: list[str]) -> tuple[list, list]:
    records = [engine.get(i) for i in ids]
    listings = []
    for kind, query in QUERIES:
        page, token = engine.list(kind, **query), None
        pages = [[e.metadata.id for e in page.entries]]
        while page.next_page_token:
            token = page.next_page_token
            page = engine.list(kind, page_token=token, **query)
            pages.append([e.metadata.id for e in page.entries])
        listings.append((pages, page.total_pages))
    return records, listings


def test_reopen_keeps_executions_indexes_and_versions(data_dir: Path) -> None:
    ids = []
    with Engine(data_dir) as engine:
        for i in range(30):
            tags = [t for t, on in (("red", i % 2), ("blue", i % 3 == 0)) if on]
            a = engine.create(agent(session_id=f"sess-{i % 4}", tags=tags))
            w = engine.create(workflow(workflow_id=f"wf-{'ab'[i % 2]}", tags=tags))
            for _ in range(i % 5):
                engine.update_status(a.metadata.id, wire.AgentExecutionStatus(phase=phases.IN_PROGRESS))
            if i % 3 == 0:
                engine.update_status(a.metadata.id, wire.AgentExecutionStatus(phase=phases.COMPLETED))
                engine.update_status(w.metadata.id, wire.WorkflowExecutionStatus(phase=phases.FAILED))
            ids += [a.metadata.id, w.metadata.id]
        engine.delete(ids.pop(0))
        before = _everything(engine, ids)

    with Engine(data_dir) as engine:
        after = _everything(engine, ids)
        assert after == before
        versions = {e.metadata.id: e.status.version for e in before[0]}
        assert max(versions.values()) > 1
        # Versions continue from disk: the next change is the stored version + 1.
        eid = ids[5]
        kind = AGENT if eid.startswith("aex") else WORKFLOW
        nxt = engine.update_status(eid, kind.status_cls(error="after reopen"))
        assert nxt.status.version == versions[eid] + 1
