"""Our generated modules and upstream Stigmer's Python stubs in one process, in either order.

Upstream's stubs are ``ai.stigmer...`` at the top level, in protobuf's default pool. Two
kinds are tried: stubs generated from upstream's repository (here: protoc's stock output
for our protos/ less what we added, the fields marked "Added by stigmer-actors" and our
own ai.stigmer.actors services) and the published ``stigmer-apis`` package (installed next to ``stigmer-sdk`` by .ci/run's
protobuf-6 job; skipped where it is not installed). Each case runs in a fresh interpreter,
so each import order really comes first, with upstream's stubs first on ``sys.path``.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tools import generate_protos as generate

ORDERS = ("upstream-first", "ours-first")

SERVE = r"""
import sys
from pathlib import Path

import grpc
from google.protobuf import descriptor_pool, json_format


def load_ours():
    from stigmer_actors import Engine, wire
    from stigmer_actors.client import StatusBuilder, StigmerClient
    from stigmer_actors.grpc_edge.server import EdgeServer
    return Engine, wire, StatusBuilder, StigmerClient, EdgeServer


order, upstream_root, data_dir = sys.argv[1:4]
if order == "upstream-first":
    upstream = load_upstream()
    Engine, wire, StatusBuilder, StigmerClient, EdgeServer = load_ours()
else:
    Engine, wire, StatusBuilder, StigmerClient, EdgeServer = load_ours()
    upstream = load_upstream()

assert wire.POOL is not descriptor_pool.Default()
engine = Engine(data_dir, pending_timeout=0, heartbeat_timeout=0)
server = EdgeServer(engine, "127.0.0.1:0").start()
channel = grpc.insecure_channel(server.address)
client = StigmerClient(server.address)
try:
    check(upstream, upstream_root, wire, StatusBuilder, client, channel)
finally:
    client.close()
    channel.close()
    server.stop(grace=1)
    engine.close()
print("ok")
"""

FROM_OUR_PROTOS = r"""
def load_upstream():
    from ai.stigmer.agentic.agentexecution.v1 import api_pb2, command_pb2_grpc, io_pb2, query_pb2_grpc
    return api_pb2, command_pb2_grpc, io_pb2, query_pb2_grpc


def check(upstream, upstream_root, wire, StatusBuilder, client, channel):
    api_pb2, command_pb2_grpc, io_pb2, query_pb2_grpc = upstream
    assert api_pb2.__file__.startswith(upstream_root), api_pb2.__file__
    assert api_pb2.DESCRIPTOR.pool is descriptor_pool.Default()
    assert "version" not in api_pb2.AgentExecutionStatus.DESCRIPTOR.fields_by_name  # upstream's, not ours

    # A message crosses between the two sets as bytes, Structs included; our addition
    # (status.version) rides through upstream's message as an unknown field.
    theirs = api_pb2.AgentExecution(spec={"message": "hi", "session_id": "s1"})
    call = theirs.status.tool_calls.add(name="search")
    call.args.update({"q": "logs", "limit": 3})
    ours = wire.AgentExecution.FromString(theirs.SerializeToString())
    assert ours.spec.message == "hi" and dict(ours.status.tool_calls[0].args) == {"q": "logs", "limit": 3}
    assert json_format.MessageToDict(ours) == json_format.MessageToDict(theirs)
    ours.status.version = 7
    back = wire.AgentExecution.FromString(api_pb2.AgentExecution.FromString(ours.SerializeToString()).SerializeToString())
    assert back == ours

    # Over the wire: upstream's stubs against our daemon, read back by our client, and back.
    command = command_pb2_grpc.AgentExecutionCommandControllerStub(channel)
    created = command.create(api_pb2.AgentExecution(spec={"message": "go", "session_id": "s1"}))
    assert type(created) is api_pb2.AgentExecution and created.metadata.id
    got = client.get(created.metadata.id)
    assert type(got) is wire.AgentExecution and got.SerializeToString() == created.SerializeToString()
    with StatusBuilder(client, created.metadata.id) as status:
        status.start()
    query = query_pb2_grpc.AgentExecutionQueryControllerStub(channel)
    seen = query.get(io_pb2.AgentExecutionId(value=created.metadata.id))
    assert seen.status.phase == 2 and seen.status.started_at
"""

PUBLISHED = r"""
def load_upstream():
    import stigmer  # upstream's SDK: loads many of stigmer-apis' modules
    from ai.stigmer.commons.apiresource import io_pb2
    return stigmer, io_pb2


def check(upstream, upstream_root, wire, StatusBuilder, client, channel):
    stigmer, io_pb2 = upstream
    assert io_pb2.DESCRIPTOR.pool is descriptor_pool.Default()
    # Same file name as ours, other contents: only separate pools let both load.
    assert io_pb2.DESCRIPTOR.name == wire.resource_io.DESCRIPTOR.name
    assert io_pb2.DESCRIPTOR.serialized_pb != wire.resource_io.DESCRIPTOR.serialized_pb

    theirs = io_pb2.ApiResourceId(value="aex-1")
    ours = wire.resource_io.ApiResourceId.FromString(theirs.SerializeToString())
    assert ours.value == "aex-1"
    assert io_pb2.ApiResourceId.FromString(ours.SerializeToString()) == theirs

    # Upstream's message as a request to our daemon (delete takes an ApiResourceId).
    created = client.create_agent("go", session_id="s1")
    delete = channel.unary_unary(
        "/ai.stigmer.agentic.agentexecution.v1.AgentExecutionCommandController/delete",
        request_serializer=io_pb2.ApiResourceId.SerializeToString,
        response_deserializer=wire.AgentExecution.FromString,
    )
    deleted = delete(io_pb2.ApiResourceId(value=created.metadata.id), timeout=10)
    assert deleted.metadata.id == created.metadata.id
"""


def _run(script: str, order: str, upstream_root: str, data_dir: Path, extra_path: str = "") -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (extra_path, env.get("PYTHONPATH", "")) if p)
    done = subprocess.run(
        [sys.executable, "-c", script, order, upstream_root, str(data_dir)],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stdout + done.stderr


ADDED = "// Added by stigmer-actors (not upstream):"


def _upstream_protos(out: Path) -> None:
    """protos/ as upstream has them: without our services, and without each field marked
    ADDED (the marking comment, its continuation lines and the field after them)."""
    removed = 0
    for name in generate.proto_files():
        if name.startswith("ai/stigmer/actors/"):
            continue
        kept, skipping = [], False
        for line in (generate.PROTO_ROOT / name).read_text().splitlines(keepends=True):
            if line.strip().startswith(ADDED):
                skipping, removed = True, removed + 1
            if not skipping:
                kept.append(line)
            elif not line.strip().startswith("//"):  # the added field itself
                skipping = False
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text("".join(kept))
    assert removed == 4  # status.version and next_page_token, for both kinds


@pytest.fixture(scope="module")
def upstream_stubs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    protos, out = tmp_path_factory.mktemp("upstream-protos"), tmp_path_factory.mktemp("upstream-stubs")
    _upstream_protos(protos)
    generate.generate_stock(out, protos)
    return out


@pytest.mark.parametrize("order", ORDERS)
def test_stubs_generated_from_upstream_and_ours_in_one_process(
    order: str, upstream_stubs: Path, tmp_path: Path
) -> None:
    script = SERVE.replace("def load_ours", FROM_OUR_PROTOS + "\n\ndef load_ours")
    _run(script, order, str(upstream_stubs), tmp_path / "data", extra_path=str(upstream_stubs))


def _installed(distribution: str) -> bool:
    try:
        importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


@pytest.mark.skipif(not _installed("stigmer-apis"), reason="stigmer-sdk is installed by .ci/run's protobuf-6 job")
@pytest.mark.parametrize("order", ORDERS)
def test_published_stigmer_apis_and_ours_in_one_process(order: str, tmp_path: Path) -> None:
    script = SERVE.replace("def load_ours", PUBLISHED + "\n\ndef load_ours")
    _run(script, order, "", tmp_path / "data")
