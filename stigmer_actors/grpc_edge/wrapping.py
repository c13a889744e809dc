"""The shape both of the server's interceptors share: each method's handler is wrapped once,
on its first call, and the wrapped one kept (the services' handlers never change while
serving), so a call pays a dict look-up, not a rebuild."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeAlias

import grpc

Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"  # generic only in grpc-stubs: a string


class WrappingInterceptor(grpc.ServerInterceptor):  # type: ignore[type-arg]  # generic only in grpc-stubs
    def __init__(self) -> None:
        self._wrapped: dict[str, Handler] = {}

    def intercept_service(
        self, continuation: Callable[[grpc.HandlerCallDetails], Handler | None],
        details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        wrapped = self._wrapped.get(details.method)
        if wrapped is None:
            handler = continuation(details)
            if handler is None:
                return None
            wrapped = self._wrapped[details.method] = self.wrap(details.method, handler)
        return wrapped

    def wrap(self, method: str, handler: Handler) -> Handler:
        """The handler to serve ``method`` with instead of ``handler``."""
        raise NotImplementedError
