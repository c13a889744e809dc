"""How handler functions become registered methods: raw bytes in, stored bytes out.

Requests are registered without a deserializer and parsed inside the guard, so a malformed
request gets INVALID_ARGUMENT (``requests.parse``); responses are registered without a
serializer, since handlers return bytes the engine already serialized.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import grpc
from google.protobuf.message import Message

from stigmer_actors.domain.errors import EngineError
from stigmer_actors.grpc_edge.requests import parse
from stigmer_actors.grpc_edge.status import abort, guarded


def unary(
    method: str, handler: Callable[[Any, grpc.ServicerContext], bytes], request_cls: type[Message]
) -> grpc.RpcMethodHandler[bytes, bytes]:
    @guarded(method)
    def run(data: bytes, context: grpc.ServicerContext) -> bytes:
        return handler(parse(request_cls, data), context)

    return grpc.unary_unary_rpc_method_handler(run)


def server_stream(
    handler: Callable[[Any, grpc.ServicerContext], Iterator[bytes]], request_cls: type[Message]
) -> grpc.RpcMethodHandler[bytes, bytes]:
    def run(data: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
        try:
            request = parse(request_cls, data)
        except EngineError as error:
            abort(context, error)
        yield from handler(request, context)

    return grpc.unary_stream_rpc_method_handler(run)
