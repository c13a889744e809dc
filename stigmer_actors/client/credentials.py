"""How a client reaches a daemon that is secured: TLS, and an API key on every call.

The key travels as upstream Stigmer's runners send theirs: ``authorization: Bearer <key>``
metadata on every call, added by a client interceptor (so no call can go without it).
grpc's call credentials would do the same but only over TLS; the interceptor works on a
plain loopback channel too. With no key and no TLS the channel is the plain one it always
was.

Part of the light client: grpc and the standard library only.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

API_KEY_ENV = "STIGMER_API_KEY"


@dataclass(frozen=True)
class Credentials:
    """What a client presents. ``api_key`` None means ``$STIGMER_API_KEY`` (if set); ""
    means none. ``tls``: connect with TLS, trusting the system's CAs, or ``tls_ca`` (a PEM
    file; giving it implies ``tls``). ``tls_cert`` + ``tls_key``: this client's
    certificate, for a daemon that asks for one (mutual TLS)."""

    api_key: str | None = None
    tls: bool = False
    tls_ca: Path | str | None = None
    tls_cert: Path | str | None = None
    tls_key: Path | str | None = None

    def key(self) -> str:
        return (os.environ.get(API_KEY_ENV, "") if self.api_key is None else self.api_key).strip()

    @property
    def uses_tls(self) -> bool:
        return self.tls or self.tls_ca is not None or self.tls_cert is not None

    def channel(self, address: str, options: Sequence[tuple[str, Any]] = ()) -> grpc.Channel:
        """A channel to ``address`` presenting these credentials. OSError (naming the file)
        if a TLS file cannot be read; ValueError if only half of a client certificate is given."""
        if self.uses_tls:
            channel = grpc.secure_channel(address, self._tls_credentials(), options=list(options))
        else:
            channel = grpc.insecure_channel(address, options=list(options))
        key = self.key()
        return grpc.intercept_channel(channel, BearerKey(key)) if key else channel

    def _tls_credentials(self) -> grpc.ChannelCredentials:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("a client certificate needs both --tls-cert and --tls-key")
        return grpc.ssl_channel_credentials(
            root_certificates=_read(self.tls_ca, "--tls-ca"),
            private_key=_read(self.tls_key, "--tls-key"),
            certificate_chain=_read(self.tls_cert, "--tls-cert"),
        )


def _read(path: Path | str | None, flag: str) -> bytes | None:
    if path is None:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise OSError(error.errno, f"cannot read {flag} {path} ({error.strerror or error})") from None


class BearerKey(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor,
                grpc.StreamUnaryClientInterceptor, grpc.StreamStreamClientInterceptor):
    """Adds ``authorization: Bearer <key>`` to every call's metadata."""

    def __init__(self, key: str) -> None:
        self._header = ("authorization", f"Bearer {key}")

    def _details(self, details: grpc.ClientCallDetails) -> grpc.ClientCallDetails:
        return _CallDetails(details.method, details.timeout,
                            (*(details.metadata or ()), self._header), details.credentials,
                            details.wait_for_ready, getattr(details, "compression", None))

    def intercept_unary_unary(self, continuation, details, request):  # noqa: ANN001, ANN201
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation, details, request):  # noqa: ANN001, ANN201
        return continuation(self._details(details), request)

    def intercept_stream_unary(self, continuation, details, requests):  # noqa: ANN001, ANN201
        return continuation(self._details(details), requests)

    def intercept_stream_stream(self, continuation, details, requests):  # noqa: ANN001, ANN201
        return continuation(self._details(details), requests)


@dataclass(frozen=True)
class _CallDetails(grpc.ClientCallDetails):
    method: str
    timeout: float | None
    metadata: Sequence[tuple[str, str]] | None
    credentials: grpc.CallCredentials | None
    wait_for_ready: bool | None
    compression: Any
