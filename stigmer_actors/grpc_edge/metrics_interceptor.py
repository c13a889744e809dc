"""Counts every finished RPC by method and status code (``stigmer_requests_total``).

A server interceptor, so no servicer has to remember to count. The wrapped handler is built
once per method and cached: the services' handlers never change while serving.

A client that cancels (or goes away) is counted CANCELLED whatever the handler was doing:
grpc closes a stream's generator where it waits (``GeneratorExit`` at its ``yield``) and
sets no code, and a unary handler may finish normally after the client left.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc

from stigmer_actors.grpc_edge.wrapping import Handler, WrappingInterceptor
from stigmer_actors.observability import Metrics


class MetricsInterceptor(WrappingInterceptor):
    def __init__(self, metrics: Metrics) -> None:
        super().__init__()
        self._metrics = metrics

    def wrap(self, method: str, handler: Handler) -> Handler:
        name = method.rsplit(".", 1)[-1]  # "Service/method", without the package
        counter = self._metrics.requests

        if handler.unary_unary is not None:
            inner = handler.unary_unary

            def unary(request: Any, context: grpc.ServicerContext) -> Any:
                code = "OK"
                try:
                    return inner(request, context)
                except BaseException as error:
                    code = _failed_code(context, error)
                    raise
                finally:
                    counter.labels(name, _unless_cancelled(code, context)).inc()

            return grpc.unary_unary_rpc_method_handler(
                unary, handler.request_deserializer, handler.response_serializer
            )
        if handler.unary_stream is not None:
            inner_stream = handler.unary_stream

            def stream(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
                code = "OK"
                try:
                    yield from inner_stream(request, context)
                except BaseException as error:
                    code = _failed_code(context, error)
                    raise
                finally:
                    counter.labels(name, _unless_cancelled(code, context)).inc()

            return grpc.unary_stream_rpc_method_handler(
                stream, handler.request_deserializer, handler.response_serializer
            )
        return handler  # no client-streaming methods are served


def _failed_code(context: grpc.ServicerContext, error: BaseException) -> str:
    """The status a handler that raised ``error`` ends with."""
    code = context.code()  # type: ignore[attr-defined]  # grpcio has it (1.38+); grpc-stubs does not
    if isinstance(code, grpc.StatusCode):
        return code.name  # chosen by context.abort() or set_code()
    if isinstance(error, GeneratorExit) or not context.is_active():
        return "CANCELLED"  # grpc closed the stream because the client cancelled or left
    return "UNKNOWN"


def _unless_cancelled(code: str, context: grpc.ServicerContext) -> str:
    """CANCELLED for a call the client cancelled, whatever the handler ended with."""
    return "CANCELLED" if code in ("OK", "UNKNOWN") and not context.is_active() else code
