"""How a client reaches a daemon that is secured: TLS, and an API key on every call.

The key travels as upstream Stigmer's runners send theirs: ``authorization: Bearer <key>``
metadata on every call, added by the channel itself (``KeyedChannel``, an interceptor in
effect: no call can go without it). grpc's call credentials would do the same but only
over TLS; this works on a plain loopback channel too. With no key and no TLS the channel
is the plain one it always was.

Part of the light client: grpc and the standard library only.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from stigmer_actors.client.addresses import channel_target

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
        """A channel to ``address`` (one daemon, or several nodes comma-separated: see
        ``client/addresses.py``) presenting these credentials. OSError (naming the file) if
        a TLS file cannot be read; ValueError if only half of a client certificate is given."""
        target, spread = channel_target(address)
        options = [*spread, *options]
        if self.uses_tls:
            channel = grpc.secure_channel(target, self._tls_credentials(), options=options)
        else:
            channel = grpc.insecure_channel(target, options=options)
        key = self.key()
        return KeyedChannel(channel, key) if key else channel

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


class KeyedChannel(grpc.Channel):
    """``channel`` with ``authorization: Bearer <key>`` added to every call's metadata.

    What a client interceptor does, without grpc's generic interceptor machinery: that
    one (``grpc.intercept_channel``) builds a new multicallable on every call, and cost
    ~55 us of client CPU per updateStatus here (a quarter of the call); this adds the
    header to the call's metadata and nothing else."""

    def __init__(self, channel: grpc.Channel, key: str) -> None:
        # Any: grpcio's generated stubs pass ``_registered_method`` (grpcio 1.62+), which
        # grpc-stubs' Channel does not know.
        self._channel: Any = channel
        self._header = (("authorization", f"Bearer {key}"),)

    def unary_unary(self, method: str, request_serializer: Any = None, response_deserializer: Any = None,
                    _registered_method: bool = False) -> Any:
        return _Keyed(self._channel.unary_unary(method, request_serializer, response_deserializer,
                                               _registered_method), self._header)

    def unary_stream(self, method: str, request_serializer: Any = None, response_deserializer: Any = None,
                     _registered_method: bool = False) -> Any:
        return _Keyed(self._channel.unary_stream(method, request_serializer, response_deserializer,
                                                _registered_method), self._header)

    def stream_unary(self, method: str, request_serializer: Any = None, response_deserializer: Any = None,
                     _registered_method: bool = False) -> Any:
        return _Keyed(self._channel.stream_unary(method, request_serializer, response_deserializer,
                                                _registered_method), self._header)

    def stream_stream(self, method: str, request_serializer: Any = None, response_deserializer: Any = None,
                      _registered_method: bool = False) -> Any:
        return _Keyed(self._channel.stream_stream(method, request_serializer, response_deserializer,
                                                 _registered_method), self._header)

    def subscribe(self, callback: Callable[[grpc.ChannelConnectivity], None], try_to_connect: bool = False) -> None:
        self._channel.subscribe(callback, try_to_connect=try_to_connect)

    def unsubscribe(self, callback: Callable[[grpc.ChannelConnectivity], None]) -> None:
        self._channel.unsubscribe(callback)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> KeyedChannel:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class _Keyed:
    """A multicallable of any shape whose calls carry the key's header."""

    __slots__ = ("_call", "_header")

    def __init__(self, call: Any, header: tuple[tuple[str, str], ...]) -> None:
        self._call = call
        self._header = header

    def _metadata(self, metadata: Sequence[tuple[str, str]] | None) -> Sequence[tuple[str, str]]:
        return (*metadata, *self._header) if metadata else self._header

    def __call__(self, request: Any, timeout: float | None = None,
                 metadata: Sequence[tuple[str, str]] | None = None, **kwargs: Any) -> Any:
        return self._call(request, timeout=timeout, metadata=self._metadata(metadata), **kwargs)

    def with_call(self, request: Any, timeout: float | None = None,
                  metadata: Sequence[tuple[str, str]] | None = None, **kwargs: Any) -> Any:
        return self._call.with_call(request, timeout=timeout, metadata=self._metadata(metadata), **kwargs)

    def future(self, request: Any, timeout: float | None = None,
               metadata: Sequence[tuple[str, str]] | None = None, **kwargs: Any) -> Any:
        return self._call.future(request, timeout=timeout, metadata=self._metadata(metadata), **kwargs)
