"""How a handler function becomes a registered unary method."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf.message import Message


def unary(handler: Callable[[Any, grpc.ServicerContext], bytes], request_cls: type[Message]):  # noqa: ANN201
    """A unary method whose handler returns bytes already serialized (no response serializer)."""
    return grpc.unary_unary_rpc_method_handler(handler, request_deserializer=request_cls.FromString)
