"""The registry of workflow definitions: versions, idempotent apply, delete, persistence,
and the same through the gRPC service and the CLI."""

from __future__ import annotations

import threading
from pathlib import Path

import grpc
import pytest

from stigmer_actors import Engine
from stigmer_actors.client import StigmerClient
from stigmer_actors.domain.errors import InvalidArgument, NotFound
from tests.daemon import Daemon, cli

FLOW = "name: nightly\nnodes:\n  - {id: start, type: noop}\n  - {id: pause, type: wait, with: {for: %s}}\nedges:\n  - {from: start, to: pause}\n"


def test_apply_versions_changes_only(data_dir: Path) -> None:
    with Engine(data_dir, pending_timeout=0, heartbeat_timeout=0) as engine:
        reg = engine.definitions
        first, changed = reg.apply(FLOW % "1s")
        assert (first.name, first.version, changed) == ("nightly", 1, True)
        again, changed = reg.apply(FLOW % "1s" + "\n# a comment changes nothing\n")
        assert (again.version, changed) == (1, False)
        second, changed = reg.apply(FLOW % "2s")
        assert (second.version, changed) == (2, True) and second.ir_hash != first.ir_hash
        assert reg.get("nightly").version == 2 and reg.get("nightly", 1).source == FLOW % "1s"
        assert reg.workflow("nightly", 1).node("pause").params() == {"for": "1s"}
        assert [d.name for d in reg.list()] == ["nightly"]
        assert reg.delete("nightly").version == 2
        with pytest.raises(NotFound, match="workflow nightly does not exist"):
            reg.get("nightly")
        assert reg.list() == []
        assert reg.get("nightly", 1).version == 1  # running executions keep their version
        assert reg.apply(FLOW % "3s")[0].version == 3  # numbering never repeats
    with Engine(data_dir, pending_timeout=0, heartbeat_timeout=0) as reopened:
        assert reopened.definitions.get("nightly").version == 3


def test_invalid_definition_is_refused_with_every_problem(data_dir: Path) -> None:
    with Engine(data_dir, pending_timeout=0, heartbeat_timeout=0) as engine:
        with pytest.raises(InvalidArgument) as info:
            engine.definitions.apply("name: bad\nnodes:\n  - {id: a, type: wait}\n  - {id: a, type: x}\n")
        assert "node a: a wait node needs with.for [params]" in info.value.message
        assert "node a: id is used by more than one node [node-id]" in info.value.message
        assert engine.definitions.list() == []


def test_racing_applies_of_one_name_get_distinct_versions(data_dir: Path) -> None:
    with Engine(data_dir, pending_timeout=0, heartbeat_timeout=0) as engine:
        versions: list[int] = []
        barrier = threading.Barrier(8)

        def apply(i: int) -> None:
            barrier.wait()
            versions.append(engine.definitions.apply(FLOW % f"{i + 1}s")[0].version)

        threads = [threading.Thread(target=apply, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert sorted(versions) == list(range(1, 9))


def test_over_grpc_and_the_cli(data_dir: Path, tmp_path: Path) -> None:
    daemon = Daemon(data_dir, "--pending-timeout", "0", "--heartbeat-timeout", "0")
    try:
        a = daemon.address
        good = tmp_path / "nightly.yaml"
        good.write_text(FLOW % "1s")
        applied = cli("workflow", "apply", str(good), "--address", a)
        assert applied.returncode == 0 and applied.stdout.startswith("nightly  v1  ")
        again = cli("workflow", "apply", str(good), "--address", a)
        assert again.stdout.rstrip().endswith("(unchanged)")
        listed = cli("workflow", "list", "--address", a, "--json")
        assert '"name":"nightly"' in listed.stdout and '"version":1' in listed.stdout
        shown = cli("workflow", "get", "nightly", "--address", a)
        assert shown.returncode == 0 and "type: wait" in shown.stdout
        bad = tmp_path / "bad.yaml"
        bad.write_text("name: bad\nnodes: [{id: a, type: http, with: {url: 'ftp://x'}}]\n")
        refused = cli("workflow", "apply", str(bad), "--address", a)
        assert refused.returncode == 10  # the daemon refused it
        assert refused.stderr.startswith("INVALID_ARGUMENT: workflow definition: 1 problem(s):")
        assert "node a: url 'ftp://x' is not an http(s) URL with a host [http]" in refused.stderr
        with StigmerClient(a) as client:  # nested 60,000 deep: libyaml's loader crashed on this
            for deep in ("[" * 60_000 + "]" * 60_000, "- " * 60_000 + "x"):
                with pytest.raises(grpc.RpcError) as info:
                    client.apply_workflow(deep)
                assert (info.value.code(), info.value.details()) == (
                    grpc.StatusCode.INVALID_ARGUMENT, "workflow definition: nested more than 32 levels deep (line 1) [depth]")
            assert daemon.proc.poll() is None and client.workflow_definition("nightly").version == 1
        deleted = cli("workflow", "delete", "nightly", "--address", a)
        assert deleted.returncode == 0 and deleted.stdout.rstrip().endswith("deleted")
        missing = cli("workflow", "get", "nightly", "--address", a)
        assert (missing.returncode, missing.stderr.strip()) == (10, "NOT_FOUND: workflow nightly does not exist")
    finally:
        daemon.terminate()


def test_compiled_versions_kept_in_memory_are_bounded(data_dir: Path) -> None:
    """Every apply of a new version compiles it; a caller applying without end must not grow
    the registry's memory without end (the oldest compiled are dropped, compiled again if asked)."""
    from stigmer_actors.runner.definitions import KEPT_COMPILED

    with Engine(data_dir, pending_timeout=0, heartbeat_timeout=0) as engine:
        reg = engine.definitions
        for i in range(KEPT_COMPILED + 6):
            reg.apply(FLOW % f"{i + 1}ms")
        assert len(reg._compiled) == KEPT_COMPILED
        assert reg.workflow("nightly", 1).node("pause").params() == {"for": "1ms"}
        assert len(reg._compiled) == KEPT_COMPILED
