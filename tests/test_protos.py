"""The committed generated code must be exactly what protos/ compiles to, written by the
pinned generator, in our own module paths and descriptor pool."""

from __future__ import annotations

import importlib
import re
import tomllib
from pathlib import Path
from types import ModuleType

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, json_format
from google.protobuf.internal import api_implementation

from stigmer_actors import wire
from stigmer_actors._proto.pool import POOL
from tools import generate_protos as generate

COMPILED = generate.compile_descriptors()
OURS = sorted(name for name in COMPILED if name.startswith("ai/"))
PYPROJECT = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())


def _module(name: str, suffix: str = "_pb2") -> ModuleType:
    """The generated module of one .proto file (``ai/x/v1/api.proto`` -> ``..._proto.ai.x.v1.api_pb2``)."""
    return importlib.import_module(f"{generate.PACKAGE}." + name.removesuffix(".proto").replace("/", ".") + suffix)


def test_protobuf_runs_on_upb() -> None:
    # The pure-Python backend serializes ~80x slower; the hot path assumes upb.
    assert api_implementation.Type() == "upb"


def test_every_proto_file_is_generated() -> None:
    assert OURS == generate.proto_files()
    assert len(OURS) == 21


def _normalized(file: descriptor_pb2.FileDescriptorProto) -> descriptor_pb2.FileDescriptorProto:
    """Drop ``json_name``: protoc derives it for descriptor sets but not for generated code."""
    copy = descriptor_pb2.FileDescriptorProto()
    copy.CopyFrom(file)
    stack = list(copy.message_type)
    while stack:
        message = stack.pop()
        for field in message.field:
            field.ClearField("json_name")
        stack.extend(message.nested_type)
    return copy


@pytest.mark.parametrize("name", OURS)
def test_generated_module_matches_proto(name: str) -> None:
    module = _module(name)
    generated = descriptor_pb2.FileDescriptorProto.FromString(module.DESCRIPTOR.serialized_pb)
    assert _normalized(generated) == _normalized(COMPILED[name]), (
        f"{name} differs from the generated code: run python -m tools.generate_protos"
    )


def test_services_have_grpc_stubs() -> None:
    for name in OURS:
        if COMPILED[name].service:
            stub = _module(name, "_pb2_grpc")
            for service in COMPILED[name].service:
                assert hasattr(stub, f"{service.name}Stub")
                assert hasattr(stub, f"add_{service.name}Servicer_to_server")


def test_generated_files_live_in_our_pool_not_the_default_one() -> None:
    """The default pool is upstream's: a file of ours there would clash with theirs."""
    for name in OURS:
        assert _module(name).DESCRIPTOR.pool is POOL
        assert POOL.FindFileByName(name).name == name
        with pytest.raises(KeyError):
            descriptor_pool.Default().FindFileByName(name)
    assert wire.AgentExecution.__module__ == f"{generate.PACKAGE}.ai.stigmer.agentic.agentexecution.v1.api_pb2"


def _lower_bound(requirement: str) -> str:
    match = re.search(r">=\s*([0-9.]+)", requirement)
    assert match, requirement
    return match.group(1)


def _requirement(name: str, requirements: list[str]) -> str:
    return next(r for r in requirements if re.match(rf"{name}\s*[<>=!~;\[]", r))


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def test_generator_pin_matches_the_declared_dependency_ranges() -> None:
    """Generated code refuses a protobuf older than its gencode and a grpcio older than the
    grpcio-tools that wrote it: pyproject's lower bounds must allow no older ones, and the
    protobuf lower bound must stay within major 6 (upstream's stigmer-apis needs < 7)."""
    base = PYPROJECT["project"]["dependencies"]
    root = Path(generate.OUT_DIR)
    gencode = {re.search(r"# Protobuf Python Version: (\S+)", p.read_text()).group(1) for p in root.rglob("*_pb2.py")}
    grpc_generated = {
        re.search(r"GRPC_GENERATED_VERSION = '(\S+)'", p.read_text()).group(1) for p in root.rglob("*_pb2_grpc.py")
    }
    assert gencode == {"6.31.1"} and grpc_generated == {generate.GENERATOR}
    protobuf_floor = _lower_bound(_requirement("protobuf", base))
    assert _version("6.31.1") <= _version(protobuf_floor) < (7,)
    assert _lower_bound(_requirement("grpcio", base)) == generate.GENERATOR
    generator = PYPROJECT["project"]["optional-dependencies"]["generate"]
    assert _requirement("grpcio-tools", generator) == f"grpcio-tools=={generate.GENERATOR}"


def test_well_known_types_of_our_pool_keep_their_helpers() -> None:
    """Struct and Timestamp inside our messages are our pool's classes (wire.Struct...), with
    protobuf's well-known-type helpers and JSON mapping all the same."""
    execution = wire.WorkflowExecution(metadata={"id": "wex-1"})
    assert type(execution.status.output) is wire.Struct
    assert type(execution.status.audit.spec_audit.created_at) is wire.Timestamp
    execution.status.output.update({"n": 2, "items": ["a", {"deep": True}]})
    assert execution.status.output["items"][1]["deep"] is True
    assert dict(execution.status.output)["n"] == 2
    execution.status.audit.spec_audit.created_at.FromNanoseconds(1_700_000_000_123_000_000)
    assert execution.status.audit.spec_audit.created_at.ToNanoseconds() == 1_700_000_000_123_000_000
    as_json = json_format.MessageToDict(execution)
    assert as_json["status"]["output"] == {"n": 2.0, "items": ["a", {"deep": True}]}
    assert as_json["status"]["audit"]["specAudit"]["createdAt"] == "2023-11-14T22:13:20.123Z"
    assert json_format.ParseDict(as_json, wire.WorkflowExecution()) == execution
    copied = wire.Struct()
    copied.update({"k": "v"})
    execution.status.output.CopyFrom(copied)
    assert dict(execution.status.output) == {"k": "v"}


def test_reflection_serves_the_wire_names_from_our_pool(served) -> None:
    """grpc reflection answers from our pool: the same ``ai.stigmer...`` files as protos/,
    for every service the daemon lists (grpc health and reflection's own included)."""
    import grpc
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    _, server, _ = served
    with grpc.insecure_channel(server.address) as channel:
        reflect = reflection_pb2_grpc.ServerReflectionStub(channel)

        def ask(**request: str) -> reflection_pb2.ServerReflectionResponse:
            return next(reflect.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(**request)])))

        services = [s.name for s in ask(list_services="").list_services_response.service]
        assert "grpc.health.v1.Health" in services and "ai.stigmer.actors.v1.RunnerDispatch" in services
        assert "ai.stigmer.actors.v1.ExecutionWatch" in services
        for service in services:
            reply = ask(file_containing_symbol=service)
            assert reply.WhichOneof("message_response") == "file_descriptor_response", service
            files = [
                descriptor_pb2.FileDescriptorProto.FromString(raw)
                for raw in reply.file_descriptor_response.file_descriptor_proto
            ]
            assert any(service.removeprefix(f.package + ".") in {s.name for s in f.service} for f in files)
            for file in files:
                if file.name in COMPILED:
                    assert _normalized(file) == _normalized(COMPILED[file.name]), file.name
