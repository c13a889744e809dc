"""API-key authentication and role-based authorization of every RPC.

A server interceptor, so no servicer can forget it. The wrapped handler is built once per
method (like ``MetricsInterceptor``'s, which sits outside this one and so counts refused
calls with their codes); the key is checked inside it, per call, from the call's
metadata: ``authorization: Bearer <key>``, as upstream Stigmer's runners send it.

A call without a usable key gets UNAUTHENTICATED, one whose key's role is below what the
method needs (``permissions.py``) PERMISSION_DENIED; each message says what is missing
and none repeats the key. Every refusal is counted by reason
(``stigmer_auth_refused_total``) and logged at DEBUG with the method and the key's name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, NoReturn

import grpc
from loguru import logger

from stigmer_actors.grpc_edge.permissions import needed_role
from stigmer_actors.grpc_edge.wrapping import Handler, WrappingInterceptor
from stigmer_actors.observability import Metrics
from stigmer_actors.security.keyring import KeyRing
from stigmer_actors.security.keys import MAX_KEY_CHARS
from stigmer_actors.security.roles import Role

MISSING = "missing"
MALFORMED = "malformed"
UNKNOWN = "unknown"
ROLE = "role"
REASONS = (MISSING, MALFORMED, UNKNOWN, ROLE)
"""Why a call was refused: the ``reason`` label of ``stigmer_auth_refused_total``."""

_HOW = "send the metadata `authorization: Bearer <key>` (stigmer-actors: --api-key or STIGMER_API_KEY)"


class AuthInterceptor(WrappingInterceptor):
    def __init__(self, ring: KeyRing, metrics: Metrics | None) -> None:
        super().__init__()
        self._ring = ring
        self._refused = metrics.auth_refused if metrics is not None else None
        if self._refused is not None:
            for reason in REASONS:  # every series exists from the start, at 0
                self._refused.labels(reason)

    def wrap(self, method: str, handler: Handler) -> Handler:
        needed = needed_role(method)
        return handler if needed is None else _wrap(handler, self._checker(method, needed))

    def _checker(self, method: str, needed: Role) -> Callable[[grpc.ServicerContext], None]:
        """The check of one method: returns if the call may go on, else aborts it."""
        short = method.rsplit(".", 1)[-1]  # "Service/method", without the package
        identify = self._ring.identify

        def check(context: grpc.ServicerContext) -> None:
            header = None
            for key, value in context.invocation_metadata():
                if key == "authorization":
                    header = value
                    break
            if header is None:
                self._refuse(context, short, MISSING, None, grpc.StatusCode.UNAUTHENTICATED,
                             f"{short} needs an API key and none was sent: {_HOW}")
            scheme, _, key = str(header).strip().partition(" ")
            key = key.strip()
            if scheme.lower() != "bearer" or not key or len(key) > MAX_KEY_CHARS:
                self._refuse(context, short, MALFORMED, None, grpc.StatusCode.UNAUTHENTICATED,
                             f"the authorization metadata is not `Bearer <key>` (a key of at most "
                             f"{MAX_KEY_CHARS} characters): {_HOW}")
            entry = identify(key)
            if entry is None:
                self._refuse(context, short, UNKNOWN, None, grpc.StatusCode.UNAUTHENTICATED,
                             "the API key sent is not one this server accepts (unknown, or revoked): "
                             "ask its operator for a key (stigmer-actors keys create)")
            if not entry.role.allows(needed):
                self._refuse(context, short, ROLE, entry.name, grpc.StatusCode.PERMISSION_DENIED,
                             f"key {entry.name!r} has role {entry.role.label}; {short} needs role "
                             f"{_at_least(needed)}")

        return check

    def _refuse(self, context: grpc.ServicerContext, method: str, reason: str, name: str | None,
                code: grpc.StatusCode, message: str) -> NoReturn:
        if self._refused is not None:
            self._refused.labels(reason).inc()
        logger.debug("refused {method}: {reason}", method=method, reason=reason,
                     key=name if name is not None else "-", peer=context.peer())
        context.abort(code, message)
        raise AssertionError("unreachable: context.abort raises")


def _at_least(role: Role) -> str:
    above = [r.label for r in Role if r > role]
    return role.label + (f" (or {' or '.join(above)})" if above else "")


def _wrap(
    handler: grpc.RpcMethodHandler[Any, Any], check: Callable[[grpc.ServicerContext], None]
) -> grpc.RpcMethodHandler[Any, Any]:
    """``handler`` with ``check`` run first in every call, of whatever shape it is."""
    if handler.unary_unary is not None:
        unary = handler.unary_unary

        def unary_unary(request: Any, context: grpc.ServicerContext) -> Any:
            check(context)
            return unary(request, context)

        return grpc.unary_unary_rpc_method_handler(
            unary_unary, handler.request_deserializer, handler.response_serializer)
    if handler.unary_stream is not None:
        server_stream = handler.unary_stream

        def unary_stream(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            check(context)
            yield from server_stream(request, context)

        return grpc.unary_stream_rpc_method_handler(
            unary_stream, handler.request_deserializer, handler.response_serializer)
    if handler.stream_stream is not None:
        bidi = handler.stream_stream

        def stream_stream(requests: Iterator[Any], context: grpc.ServicerContext) -> Iterator[Any]:
            check(context)
            yield from bidi(requests, context)

        return grpc.stream_stream_rpc_method_handler(
            stream_stream, handler.request_deserializer, handler.response_serializer)
    client_stream = handler.stream_unary
    assert client_stream is not None  # the one shape left

    def stream_unary(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
        check(context)
        return client_stream(requests, context)

    return grpc.stream_unary_rpc_method_handler(
        stream_unary, handler.request_deserializer, handler.response_serializer)
