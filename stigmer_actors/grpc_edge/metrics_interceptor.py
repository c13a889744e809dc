"""Counts every finished RPC by method and status code (``stigmer_requests_total``).

A server interceptor, so no servicer has to remember to count. The wrapped handler is built
once per method and cached: the services' handlers never change while serving.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import grpc

from stigmer_actors.observability import Metrics


class MetricsInterceptor(grpc.ServerInterceptor):
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self._wrapped: dict[str, grpc.RpcMethodHandler] = {}

    def intercept_service(
        self, continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        wrapped = self._wrapped.get(details.method)
        if wrapped is None:
            handler = continuation(details)
            if handler is None:
                return None
            wrapped = self._wrapped[details.method] = self._wrap(details.method, handler)
        return wrapped

    def _wrap(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        name = method.rsplit(".", 1)[-1]  # "Service/method", without the package
        counter = self._metrics.requests

        if handler.unary_unary is not None:
            inner = handler.unary_unary

            def unary(request: Any, context: grpc.ServicerContext) -> Any:
                code = "OK"
                try:
                    return inner(request, context)
                except BaseException:
                    code = _failed_code(context)
                    raise
                finally:
                    counter.labels(name, code).inc()

            return grpc.unary_unary_rpc_method_handler(
                unary, handler.request_deserializer, handler.response_serializer
            )
        if handler.unary_stream is not None:
            inner_stream = handler.unary_stream

            def stream(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
                code = "OK"
                try:
                    yield from inner_stream(request, context)
                except BaseException:
                    code = _failed_code(context)
                    raise
                finally:
                    if code == "OK" and not context.is_active():
                        code = "CANCELLED"
                    counter.labels(name, code).inc()

            return grpc.unary_stream_rpc_method_handler(
                stream, handler.request_deserializer, handler.response_serializer
            )
        return handler  # no client-streaming methods are served


def _failed_code(context: grpc.ServicerContext) -> str:
    code = context.code()
    return code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN"
