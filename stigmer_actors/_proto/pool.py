"""The descriptor pool our generated modules register into, instead of protobuf's default.

Upstream Stigmer's Python stubs (generated from its repository, or the published
``stigmer-apis``) register files named like ours (``ai/stigmer/commons/apiresource/io.proto``
...) with other contents into ``descriptor_pool.Default()``; two different files of one
name cannot share a pool, and whichever module loaded second would fail. A pool of our own
lets both sets live in one process, in either order; the bytes on the wire are the same,
since they depend only on the descriptors' contents.

A file can only be added once the files it imports are in the same pool, so the
well-known types our protos import are added first, from protobuf's own modules. Messages
of this pool get their own classes for those types (``wire.Struct``, ``wire.Timestamp``),
with the same helpers (``update``, ``FromNanoseconds``, JSON mapping) as protobuf's.
"""

from __future__ import annotations

from google.protobuf import descriptor_pool, struct_pb2, timestamp_pb2

POOL = descriptor_pool.DescriptorPool()
for _well_known in (struct_pb2, timestamp_pb2):
    POOL.AddSerializedFile(_well_known.DESCRIPTOR.serialized_pb)


def with_files_of(*modules: object) -> descriptor_pool.DescriptorPool:
    """``POOL`` after adding these generated modules' files (adding one again is a no-op).

    The server's reflection service answers from a single pool: it gets ours, plus the
    files of the other services the server has (grpc health, reflection itself), which
    live in the default pool."""
    for module in modules:
        POOL.AddSerializedFile(module.DESCRIPTOR.serialized_pb)  # type: ignore[attr-defined]
    return POOL
