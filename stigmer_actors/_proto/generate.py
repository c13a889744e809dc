"""Regenerate the Python modules under ``stigmer_actors/_proto`` from ``protos/``.

The generated code is committed so that a fresh clone runs without a build step; the test
``tests/test_protos.py`` compiles ``protos/`` again and compares descriptors, so the two can
never drift apart unnoticed.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from google.protobuf import descriptor_pb2
from grpc_tools import protoc

OUT_DIR = Path(__file__).resolve().parent
PROTO_ROOT = OUT_DIR.parent.parent / "protos"


def proto_files() -> list[str]:
    """Every .proto under ``protos/``, relative to it (the names protoc records)."""
    return sorted(str(p.relative_to(PROTO_ROOT)) for p in PROTO_ROOT.rglob("*.proto"))


def _protoc(args: list[str]) -> None:
    include = str(Path(protoc.__file__).parent / "_proto")
    code = protoc.main(["protoc", f"-I{PROTO_ROOT}", f"-I{include}", *args, *proto_files()])
    if code != 0:
        raise RuntimeError(f"protoc failed with exit code {code}")


def compile_descriptors() -> dict[str, descriptor_pb2.FileDescriptorProto]:
    """Compile ``protos/`` and return each file's descriptor, keyed by file name."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "set.pb"
        _protoc([f"--descriptor_set_out={out}"])
        fds = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    return {f.name: f for f in fds.file}


def generate() -> None:
    """Rewrite the generated tree: messages, .pyi stubs and gRPC service stubs."""
    shutil.rmtree(OUT_DIR / "ai", ignore_errors=True)
    _protoc([f"--python_out={OUT_DIR}", f"--pyi_out={OUT_DIR}", f"--grpc_python_out={OUT_DIR}"])
    for stub in (OUT_DIR / "ai").rglob("*_pb2_grpc.py"):
        if "class " not in stub.read_text():  # a file without services: nothing to import
            stub.unlink()


if __name__ == "__main__":
    generate()
    print(f"generated {len(proto_files())} files into {OUT_DIR}", file=sys.stderr)
