"""Regenerate the Python modules under ``stigmer_actors/_proto`` from ``protos/``.

The generated code is committed so that a fresh clone runs without a build step; the test
``tests/test_protos.py`` compiles ``protos/`` again and compares descriptors, so the two can
never drift apart unnoticed.

Two things make the output ours rather than protoc's stock layout, so it can share a process
with upstream Stigmer's own stubs (which are ``ai.stigmer...`` at the top level, in
protobuf's default pool):

- module paths: ``ai.stigmer.x.v1.api_pb2`` becomes ``stigmer_actors._proto.ai.stigmer.x.v1.
  api_pb2`` (imports between the files are rewritten to match);
- the descriptor pool: the files register into ``stigmer_actors._proto.pool.POOL``, never
  into ``descriptor_pool.Default()``, where upstream's files of the same names live.

The wire is untouched: proto packages, message and service names stay ``ai.stigmer...``.

The generator is pinned (``GENERATOR``): grpcio-tools 1.74.0 embeds protoc 31.1, whose
Python code says "gencode 6.31.1". protobuf's runtime refuses gencode newer than itself, so
this is what lets the code run on protobuf 6.32 (upstream's ``stigmer-apis`` caps protobuf
below 7) as well as 7.x (which accepts gencode one major back). The gRPC stubs refuse a
grpcio older than the grpcio-tools that wrote them, which is where pyproject's grpcio lower
bound comes from. That grpcio-tools needs protobuf < 7, so generate in a throwaway venv::

    python3 -m venv /tmp/gen && /tmp/gen/bin/pip install -e '.[generate]'
    /tmp/gen/bin/python -m tools.generate_protos

It lives outside the package (nothing installed runs it); ``tests/test_protos.py`` and
``tests/test_coexistence.py`` import it from the checkout.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
from pathlib import Path

from google.protobuf import descriptor_pb2
from grpc_tools import protoc

GENERATOR = "1.74.0"
"""The grpcio-tools version that must write the committed code (see the module docstring)."""
PACKAGE = "stigmer_actors._proto"
ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "stigmer_actors" / "_proto"
PROTO_ROOT = ROOT / "protos"

# What turns protoc's stock output into ours. Each pattern must match as often as the
# comment says, so a generator that writes something else fails here instead of shipping
# modules that quietly register into the default pool.
_IMPORT = re.compile(r"^from ai\.", re.MULTILINE)  # any number of times
_POOL_IMPORT = "from google.protobuf import descriptor_pool as _descriptor_pool\n"  # once per _pb2.py
_POOL_USE = "_descriptor_pool.Default()"  # once per _pb2.py
_MODULE_NAME = re.compile(r"(BuildTopDescriptorsAndMessages\(DESCRIPTOR, ')ai\.")  # once per _pb2.py


def proto_files(root: Path = PROTO_ROOT) -> list[str]:
    """Every .proto under ``root``, relative to it (the names protoc records)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.proto"))


def _protoc(args: list[str], root: Path = PROTO_ROOT) -> None:
    include = str(Path(protoc.__file__).parent / "_proto")
    code = protoc.main(["protoc", f"-I{root}", f"-I{include}", *args, *proto_files(root)])
    if code != 0:
        raise RuntimeError(f"protoc failed with exit code {code}")


def compile_descriptors() -> dict[str, descriptor_pb2.FileDescriptorProto]:
    """Compile ``protos/`` and return each file's descriptor, keyed by file name."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "set.pb"
        _protoc([f"--descriptor_set_out={out}"])
        fds = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    return {f.name: f for f in fds.file}


def generate_stock(out_dir: Path, root: Path = PROTO_ROOT) -> None:
    """protoc's stock Python output for the protos under ``root`` into ``out_dir``:
    ``ai.stigmer...`` at the top level, in the default pool, as a project generating from
    upstream's repository has it (the coexistence tests make such stubs)."""
    _protoc([f"--python_out={out_dir}", f"--pyi_out={out_dir}", f"--grpc_python_out={out_dir}"], root)
    for stub in out_dir.rglob("*_pb2_grpc.py"):
        if "class " not in stub.read_text():  # a file without services: nothing to import
            stub.unlink()


def _expect(count: int, wanted: int, what: str, path: Path) -> None:
    if count != wanted:
        raise RuntimeError(f"{path}: expected {wanted} x {what!r}, found {count}: has protoc's output changed?")


def _ours(text: str, path: Path) -> str:
    """One stock generated file, rewritten to our module paths and our pool."""
    text = _IMPORT.sub(f"from {PACKAGE}.ai.", text)
    if path.name.endswith("_pb2.py"):
        _expect(text.count(_POOL_IMPORT), 1, _POOL_IMPORT, path)
        _expect(text.count(_POOL_USE), 1, _POOL_USE, path)
        text = text.replace(_POOL_IMPORT, f"from {PACKAGE}.pool import POOL as _POOL\n")
        text = text.replace(_POOL_USE, "_POOL")
        text, n = _MODULE_NAME.subn(rf"\g<1>{PACKAGE}.ai.", text)
        _expect(n, 1, "BuildTopDescriptorsAndMessages(DESCRIPTOR, 'ai.", path)
    return text


def generate() -> None:
    """Rewrite the generated tree: messages, .pyi stubs and gRPC service stubs."""
    from grpc_tools import grpc_version

    if grpc_version.VERSION != GENERATOR:
        sys.exit(
            f"grpcio-tools {grpc_version.VERSION} is installed; the committed code is written by "
            f"{GENERATOR} (see this module's docstring for why and how)"
        )
    with tempfile.TemporaryDirectory() as tmp:
        stock = Path(tmp) / "stock"
        stock.mkdir()
        generate_stock(stock)
        for path in [*stock.rglob("*.py"), *stock.rglob("*.pyi")]:
            path.write_text(_ours(path.read_text(), path))
        for folder in [stock / "ai", *(p for p in (stock / "ai").rglob("*") if p.is_dir())]:
            (folder / "__init__.py").write_text("")
        shutil.rmtree(OUT_DIR / "ai", ignore_errors=True)
        shutil.copytree(stock / "ai", OUT_DIR / "ai")


if __name__ == "__main__":
    generate()
    print(f"generated {len(proto_files())} files into {OUT_DIR}", file=sys.stderr)
