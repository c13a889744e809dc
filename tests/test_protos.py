"""The committed generated code must be exactly what protos/ compiles to."""

from __future__ import annotations

import importlib

import pytest
from google.protobuf import descriptor_pb2
from google.protobuf.internal import api_implementation

from stigmer_actors._proto import generate

COMPILED = generate.compile_descriptors()
OURS = sorted(name for name in COMPILED if name.startswith("ai/"))


def test_protobuf_runs_on_upb() -> None:
    # The pure-Python backend serializes ~80x slower; the hot path assumes upb.
    assert api_implementation.Type() == "upb"


def test_every_proto_file_is_generated() -> None:
    assert OURS == generate.proto_files()
    assert len(OURS) == 20


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
    module = importlib.import_module(name.removesuffix(".proto").replace("/", ".") + "_pb2")
    generated = descriptor_pb2.FileDescriptorProto.FromString(module.DESCRIPTOR.serialized_pb)
    assert _normalized(generated) == _normalized(COMPILED[name]), (
        f"{name} differs from the generated code: run python -m stigmer_actors._proto.generate"
    )


def test_services_have_grpc_stubs() -> None:
    for name in OURS:
        if COMPILED[name].service:
            stub = importlib.import_module(name.removesuffix(".proto").replace("/", ".") + "_pb2_grpc")
            for service in COMPILED[name].service:
                assert hasattr(stub, f"{service.name}Stub")
                assert hasattr(stub, f"add_{service.name}Servicer_to_server")
