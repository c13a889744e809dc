"""Engine errors -> gRPC status codes, and the guard every handler runs under.

Clients get the code and the engine's message, never a stack trace: an exception that is
not an EngineError is logged here with its traceback and answered with a bare INTERNAL.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import grpc
from loguru import logger

from stigmer_actors.domain.errors import EngineError

F = TypeVar("F", bound=Callable[..., Any])


def abort(context: grpc.ServicerContext, error: EngineError) -> NoReturn:
    context.abort(grpc.StatusCode[error.code], error.message)
    raise AssertionError("unreachable: context.abort raises")


def guarded(method: str) -> Callable[[F], F]:
    """Wrap a unary handler ``(request, context)`` so every failure gets a precise status."""

    def wrap(handler: F) -> F:
        @functools.wraps(handler)
        def run(request: Any, context: grpc.ServicerContext) -> Any:
            try:
                return handler(request, context)
            except EngineError as error:
                abort(context, error)
            except Exception:
                # context.abort() already chose the status (code(): grpcio 1.38+, not in grpc-stubs)
                if context.code() is not None:  # type: ignore[attr-defined]
                    raise
                logger.opt(exception=True).error("{method} failed", method=method)
                context.abort(grpc.StatusCode.INTERNAL, f"internal error in {method}")

        return run  # type: ignore[return-value]

    return wrap
