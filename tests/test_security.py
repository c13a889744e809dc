"""API keys with roles, over plain and TLS channels, on a real server (127.0.0.1).

The matrix: every RPC of every service the daemon serves, called with no key, a wrong key,
a malformed header and a key of each role, over a plain channel and a TLS one (one server
per channel type, one call per cell). A call beyond its role gets PERMISSION_DENIED, one
without a valid key UNAUTHENTICATED, one within its role reaches its handler (the code the
handler gives: OK, or NOT_FOUND / INVALID_ARGUMENT for requests made to prove that).
Health answers everyone. The expected roles are written here, from the issue, not read
from the server's table.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health, health_pb2
from grpc_reflection.v1alpha import reflection_pb2
from loguru import logger

from stigmer_actors import Engine, wire
from stigmer_actors.contract import AGENT_WIRE, WORKFLOW_WIRE
from stigmer_actors.domain import phases
from stigmer_actors.grpc_edge.permissions import METHOD_ROLES, OPEN_METHODS
from stigmer_actors.grpc_edge.server import EdgeServer
from stigmer_actors.observability import Metrics
from stigmer_actors.security import keys
from stigmer_actors.security.keyring import KeyRing
from stigmer_actors.security.tls import ServerTLS
from tests.certs import Pki, make_pki

ROLES = ("viewer", "runner", "admin")
RANK = {"viewer": 1, "runner": 2, "admin": 3}
OK, DENIED, UNAUTH = grpc.StatusCode.OK, grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED
MISSING_ID = {"agent": "aex-" + "f" * 24, "workflow": "wex-" + "f" * 24}
KEPT = "name: kept\nnodes: [{id: a, type: noop}]\n"


@dataclass
class Rpc:
    path: str
    shape: str  # unary, stream, bidi
    request: bytes
    needs: str | None  # least role, None: open to anyone
    reached: grpc.StatusCode  # the handler's code when the caller may call it


@dataclass
class Seeded:
    done: dict[str, str]  # kind -> a terminal execution (subscribe ends at once)
    live: dict[str, str]  # kind -> a PENDING one (update, updateStatus)


def rpcs(seeded: Seeded) -> list[Rpc]:
    """One call of every method served, with a request whose outcome is known."""
    table: list[Rpc] = []
    for name, wk, execution, status in (
        ("agent", AGENT_WIRE, wire.AgentExecution, wire.AgentExecutionStatus),
        ("workflow", WORKFLOW_WIRE, wire.WorkflowExecution, wire.WorkflowExecutionStatus),
    ):
        cmd, qry = f"/{wk.command_service}/", f"/{wk.query_service}/"
        spec = {"message": "m", "session_id": "s"} if name == "agent" else {"workflow_id": "wf"}
        live, done = seeded.live[name], seeded.done[name]
        subscribe = wk.subscribe_request(**({"value": done} if name == "agent" else {"execution_id": done}))
        owner = wk.owner_request(**{wk.owner_field: "s" if name == "agent" else "wf"})
        table += [
            Rpc(cmd + "create", "unary", execution(spec=spec).SerializeToString(), "runner", OK),
            Rpc(cmd + "update", "unary", execution(metadata={"id": live}, spec=spec).SerializeToString(),
                "admin", OK),
            Rpc(cmd + "updateStatus", "unary", wk.update_status_input(
                execution_id=live, status=status(error="x")).SerializeToString(), "runner", OK),
            Rpc(cmd + "delete", "unary", wire.resource_io.ApiResourceId(value=MISSING_ID[name]).SerializeToString(),
                "admin", grpc.StatusCode.NOT_FOUND),
            Rpc(qry + "get", "unary", wk.id_request(value=done).SerializeToString(), "viewer", OK),
            Rpc(qry + "list", "unary", wk.list_request().SerializeToString(), "viewer", OK),
            Rpc(qry + wk.owner_method, "unary", owner.SerializeToString(), "viewer", OK),
            Rpc(qry + "subscribe", "stream", subscribe.SerializeToString(), "viewer", OK),
        ]
    dispatch = "/ai.stigmer.actors.v1.RunnerDispatch/"
    definitions = "/ai.stigmer.actors.v1.WorkflowDefinitions/"
    return table + [
        # kind unset: refused by the handler's own check, which proves the call reached it
        Rpc(dispatch + "claim", "stream", wire.dispatch.ClaimRequest().SerializeToString(), "runner",
            grpc.StatusCode.INVALID_ARGUMENT),
        Rpc(dispatch + "listRunners", "unary", b"", "viewer", OK),
        Rpc("/ai.stigmer.actors.v1.Admin/stats", "unary", b"", "viewer", OK),
        Rpc("/ai.stigmer.actors.v1.ExecutionWatch/watchExecutions", "stream",
            wire.watch.WatchExecutionsRequest().SerializeToString(), "viewer", OK),
        Rpc(definitions + "apply", "unary", wire.workflows.ApplyDefinitionRequest(source=KEPT).SerializeToString(),
            "admin", OK),
        Rpc(definitions + "get", "unary", wire.workflows.DefinitionRef(name="kept").SerializeToString(), "viewer", OK),
        Rpc(definitions + "list", "unary", b"", "viewer", OK),
        Rpc(definitions + "delete", "unary", wire.workflows.DefinitionRef(name="nope").SerializeToString(),
            "admin", grpc.StatusCode.NOT_FOUND),
        Rpc("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", "bidi",
            reflection_pb2.ServerReflectionRequest(list_services="").SerializeToString(), "viewer", OK),
        Rpc("/grpc.health.v1.Health/Check", "unary", health_pb2.HealthCheckRequest().SerializeToString(), None, OK),
        Rpc("/grpc.health.v1.Health/Watch", "stream", health_pb2.HealthCheckRequest().SerializeToString(), None, OK),
    ] + ([  # newer grpc health protos have List; grpc's servicer does not implement it (yet)
        Rpc("/grpc.health.v1.Health/List", "unary", b"", None,
            OK if "List" in vars(health.HealthServicer) else grpc.StatusCode.UNIMPLEMENTED)
    ] if "List" in health_pb2.DESCRIPTOR.services_by_name["Health"].methods_by_name else [])


def call(channel: grpc.Channel, rpc: Rpc, metadata: tuple[tuple[str, str], ...]) -> grpc.StatusCode:
    """The status code the call ended with (health's Watch never ends: its first message is
    its answer)."""
    try:
        if rpc.shape == "unary":
            channel.unary_unary(rpc.path)(rpc.request, metadata=metadata, timeout=30)
        elif rpc.shape == "bidi":
            list(channel.stream_stream(rpc.path)(iter([rpc.request]), metadata=metadata, timeout=30))
        elif rpc.path.endswith(("Health/Watch", "/watchExecutions")):  # streams that stay open
            stream = channel.unary_stream(rpc.path)(rpc.request, metadata=metadata, timeout=30)
            next(stream)
            stream.cancel()
        else:
            list(channel.unary_stream(rpc.path)(rpc.request, metadata=metadata, timeout=30))
    except grpc.RpcError as error:
        return error.code()
    return OK


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A keys file with one key per role; (path, role -> key)."""
    path = tmp_path_factory.mktemp("keys") / "api-keys"
    made = {role: keys.create(path, f"{role}-key", role)[1] for role in ROLES}
    return path, made


@dataclass
class Served:
    server: EdgeServer
    metrics: Metrics
    channel: grpc.Channel
    keys: dict[str, str]
    seeded: Seeded


@pytest.fixture(scope="module", params=["plain", "tls"])
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, pki: Pki,
           key_file: tuple[Path, dict[str, str]]) -> Iterator[Served]:
    """A keyed server (plain or TLS) over a real engine, with executions to call on."""
    path, made = key_file
    metrics = Metrics()
    engine = Engine(tmp_path_factory.mktemp(f"data-{request.param}"), pending_timeout=0,
                    heartbeat_timeout=0, metrics=metrics)
    tls = ServerTLS.load(pki.server_cert, pki.server_key) if request.param == "tls" else None
    server = EdgeServer(engine, "127.0.0.1:0", keys=KeyRing(path), tls=tls).start()
    if tls is None:
        channel = grpc.insecure_channel(server.address)
    else:
        channel = grpc.secure_channel(server.address, grpc.ssl_channel_credentials(pki.ca.read_bytes()))
    done, live = {}, {}
    for name, make in (("agent", lambda: engine.create(wire.AgentExecution(spec={"message": "m", "session_id": "s"}))),
                       ("workflow", lambda: engine.create(wire.WorkflowExecution(spec={"workflow_id": "wf"})))):
        finished = make()
        engine.update_status(finished.metadata.id, finished.status.__class__(phase=phases.COMPLETED))
        done[name], live[name] = finished.metadata.id, make().metadata.id
    engine.definitions.apply(KEPT)
    try:
        yield Served(server, metrics, channel, made, Seeded(done, live))
    finally:
        channel.close()
        server.stop(grace=1)
        engine.close()


def callers(made: dict[str, str]) -> dict[str, tuple[tuple[str, str], ...]]:
    """Who calls: metadata per caller."""
    return {
        "no key": (),
        "wrong key": (("authorization", f"Bearer {keys.new_key()}"),),
        "malformed": (("authorization", f"Basic {made['admin']}"),),
        **{role: (("authorization", f"Bearer {made[role]}"),) for role in ROLES},
    }


def expected(rpc: Rpc, caller: str) -> grpc.StatusCode:
    if rpc.needs is None:
        return rpc.reached
    if caller not in RANK:
        return UNAUTH
    return rpc.reached if RANK[caller] >= RANK[rpc.needs] else DENIED


def test_every_rpc_of_every_service_by_every_caller(served: Served) -> None:
    table = rpcs(served.seeded)
    who = callers(served.keys)
    wrong = []
    refused: Counter[str] = Counter()
    for rpc in table:
        for caller, metadata in who.items():
            want = expected(rpc, caller)
            got = call(served.channel, rpc, metadata)
            if got != want:
                wrong.append(f"{rpc.path} by {caller}: {got.name}, expected {want.name}")
            if want in (UNAUTH, DENIED):
                refused[{"no key": "missing", "wrong key": "unknown", "malformed": "malformed"}.get(caller, "role")] += 1
    assert wrong == [], "\n".join(wrong)
    assert len(table) == len(METHOD_ROLES) + len(OPEN_METHODS) and len(who) == 6
    # Every refusal was counted, by reason (and only refusals: the allowed calls added none).
    counted = {s.labels["reason"]: s.value for m in served.metrics.registry.collect()
               if m.name == "stigmer_auth_refused" for s in m.samples if s.name.endswith("_total")}
    assert counted == {reason: float(refused[reason]) for reason in ("missing", "malformed", "unknown", "role")}
    assert refused["role"] == 11 + 6  # viewer: 5 runner and 6 admin methods; runner: the 6 admin ones
    # ... and by code among the finished RPCs
    by_code = Counter()
    for m in served.metrics.registry.collect():
        if m.name == "stigmer_requests":
            for s in m.samples:
                if s.name.endswith("_total"):
                    by_code[s.labels["code"]] += s.value
    assert by_code["PERMISSION_DENIED"] == refused["role"]


def test_the_matrix_covers_every_method_the_server_serves(served: Served) -> None:
    """Reflection (with a viewer key) lists the services; their descriptors list the methods:
    each is in this test's table and in the server's, and no other method is."""
    from stigmer_actors._proto import pool as proto_pool

    reply = next(served.channel.stream_stream(
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )(iter([reflection_pb2.ServerReflectionRequest(list_services="")]),
      metadata=(("authorization", f"Bearer {served.keys['viewer']}"),), timeout=30))
    services = [s.name for s in reply.list_services_response.service]
    pool = proto_pool.with_files_of(health_pb2, reflection_pb2)
    served_methods = {f"/{name}/{m.name}" for name in services for m in pool.FindServiceByName(name).methods}
    assert len(services) == 10 and len(served_methods) == 25 + len(OPEN_METHODS)
    assert {r.path for r in rpcs(served.seeded)} == served_methods
    assert set(METHOD_ROLES) | OPEN_METHODS == served_methods


def test_mutual_tls_refuses_a_client_without_the_right_certificate(
    tmp_path: Path, pki: Pki, key_file: tuple[Path, dict[str, str]]
) -> None:
    path, made = key_file
    metrics = Metrics()
    engine = Engine(tmp_path / "data", pending_timeout=0, heartbeat_timeout=0, metrics=metrics)
    server = EdgeServer(engine, "127.0.0.1:0", keys=KeyRing(path),
                        tls=ServerTLS.load(pki.server_cert, pki.server_key, pki.ca)).start()
    admin = (("authorization", f"Bearer {made['admin']}"),)
    stats = Rpc("/ai.stigmer.actors.v1.Admin/stats", "unary", b"", "viewer", OK)

    def channel(cert: Path | None, key: Path | None) -> grpc.Channel:
        return grpc.secure_channel(server.address, grpc.ssl_channel_credentials(
            pki.ca.read_bytes(), key.read_bytes() if key else None, cert.read_bytes() if cert else None))

    try:
        with channel(pki.client_cert, pki.client_key) as good:
            assert call(good, stats, admin) == OK
            assert call(good, stats, ()) == UNAUTH  # the certificate does not replace the key
        with channel(pki.wrong_client_cert, pki.wrong_client_key) as wrong:
            assert call(wrong, stats, admin) == grpc.StatusCode.UNAVAILABLE  # the handshake fails
        with channel(None, None) as none:
            assert call(none, stats, admin) == grpc.StatusCode.UNAVAILABLE
        # The refused connections never became calls: only the two on the good channel did.
        codes = {s.labels["code"]: s.value for m in metrics.registry.collect() if m.name == "stigmer_requests"
                 for s in m.samples if s.name.endswith("_total")}
        assert codes == {"OK": 1.0, "UNAUTHENTICATED": 1.0}
    finally:
        server.stop(grace=1)
        engine.close()


def test_a_refusal_is_logged_at_debug_with_the_key_name_never_the_key(served: Served) -> None:
    lines: list[str] = []
    sink = logger.add(lines.append, level="DEBUG", format="{message} {extra}",
                      filter=lambda r: r["name"].startswith("stigmer_actors.grpc_edge.auth"))
    logger.enable("stigmer_actors")
    try:
        viewer = served.keys["viewer"]
        rpc = next(r for r in rpcs(served.seeded) if r.path.endswith("AgentExecutionCommandController/create"))
        assert call(served.channel, rpc, (("authorization", f"Bearer {viewer}"),)) == DENIED
        assert call(served.channel, rpc, (("authorization", f"Bearer {viewer}x"),)) == UNAUTH
    finally:
        logger.disable("stigmer_actors")
        logger.remove(sink)
    assert len(lines) == 2, lines
    assert "refused AgentExecutionCommandController/create: role" in lines[0] and "'key': 'viewer-key'" in lines[0]
    assert "refused AgentExecutionCommandController/create: unknown" in lines[1] and "'key': '-'" in lines[1]
    assert not any(viewer in line for line in lines)


def test_refusal_messages_say_what_is_missing_and_never_echo_the_key(served: Served) -> None:
    create = next(r for r in rpcs(served.seeded) if r.path.endswith("AgentExecutionCommandController/create"))

    def details(metadata: tuple[tuple[str, str], ...]) -> tuple[grpc.StatusCode, str]:
        with pytest.raises(grpc.RpcError) as info:
            served.channel.unary_unary(create.path)(create.request, metadata=metadata, timeout=30)
        return info.value.code(), info.value.details()

    viewer, wrong = served.keys["viewer"], keys.new_key()
    assert details(()) == (UNAUTH, "AgentExecutionCommandController/create needs an API key and none was sent: "
                           "send the metadata `authorization: Bearer <key>` (stigmer-actors: --api-key or "
                           "STIGMER_API_KEY)")
    code, text = details((("authorization", f"Bearer {wrong}"),))
    assert code == UNAUTH and wrong not in text and "not one this server accepts (unknown, or revoked)" in text
    code, text = details((("authorization", f"Token {wrong}"),))
    assert code == UNAUTH and wrong not in text and "is not `Bearer <key>`" in text
    code, text = details((("authorization", "Bearer " + "k" * 300),))
    assert code == UNAUTH and "at most 256 characters" in text
    assert details((("authorization", f"Bearer {viewer}"),)) == (
        DENIED, "key 'viewer-key' has role viewer; AgentExecutionCommandController/create needs role "
                "runner (or admin)")


class UpstreamStyleAuth(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """What upstream Stigmer's runner does, written as a plain grpc client interceptor: it
    appends ``authorization: Bearer <key>`` to each call's metadata (none of our client)."""

    def __init__(self, key: str) -> None:
        self.key = key

    def _with_key(self, details: grpc.ClientCallDetails) -> grpc.ClientCallDetails:
        metadata = [*(details.metadata or []), ("authorization", f"Bearer {self.key}")]
        return _Details(details.method, details.timeout, metadata, details.credentials,
                        details.wait_for_ready, details.compression)

    def intercept_unary_unary(self, continuation, details, request):
        return continuation(self._with_key(details), request)

    def intercept_unary_stream(self, continuation, details, request):
        return continuation(self._with_key(details), request)


class _Details(grpc.ClientCallDetails):
    def __init__(self, method, timeout, metadata, credentials, wait_for_ready, compression) -> None:
        self.method, self.timeout, self.metadata = method, timeout, metadata
        self.credentials, self.wait_for_ready, self.compression = credentials, wait_for_ready, compression


def test_a_client_built_like_upstreams_runner_creates_reports_and_watches(
    tmp_path: Path, pki: Pki, key_file: tuple[Path, dict[str, str]]
) -> None:
    """Over TLS to the real ``serve`` (a subprocess), with a runner key."""
    from tests.daemon import Daemon

    path, made = key_file
    daemon = Daemon(tmp_path / "data", "--api-keys", str(path), "--tls-cert", str(pki.server_cert),
                    "--tls-key", str(pki.server_key), "--no-runner")
    try:
        base = grpc.secure_channel(daemon.address, grpc.ssl_channel_credentials(pki.ca.read_bytes()))
        channel = grpc.intercept_channel(base, UpstreamStyleAuth(made["runner"]))
        command = wire.agent_command_grpc.AgentExecutionCommandControllerStub(channel)
        query = wire.agent_query_grpc.AgentExecutionQueryControllerStub(channel)
        created = command.create(wire.AgentExecution(spec={"message": "hi", "session_id": "s1"}), timeout=30)
        watch = query.subscribe(wire.agent_io.AgentExecutionId(value=created.metadata.id), timeout=30)
        assert next(watch).status.phase == phases.PENDING
        command.updateStatus(wire.agent_io.AgentExecutionUpdateStatusInput(
            execution_id=created.metadata.id, status=wire.AgentExecutionStatus(phase=phases.IN_PROGRESS)), timeout=30)
        command.updateStatus(wire.agent_io.AgentExecutionUpdateStatusInput(
            execution_id=created.metadata.id, status=wire.AgentExecutionStatus(phase=phases.COMPLETED)), timeout=30)
        seen = [state.status.phase for state in watch]
        assert seen[-1] == phases.COMPLETED and set(seen) <= {phases.IN_PROGRESS, phases.COMPLETED}
        with pytest.raises(grpc.RpcError) as info:  # a runner key stops at delete
            command.delete(wire.resource_io.ApiResourceId(value=created.metadata.id), timeout=30)
        assert info.value.code() == DENIED
        base.close()
    finally:
        assert daemon.terminate() == 0

