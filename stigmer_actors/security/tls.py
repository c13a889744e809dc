"""The daemon's TLS files, read and checked once at start.

grpc takes PEM bytes and says nothing about bad ones until a client's handshake fails, so
they are checked here first with the standard library's ``ssl`` (the certificate chain
against its private key, the client CA as a CA bundle): a wrong file stops ``serve``
with one line naming it, not a server every client fails against.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import grpc

from stigmer_actors.security.errors import SecurityFileError


@dataclass(frozen=True)
class ServerTLS:
    cert: bytes
    """PEM: the server's certificate chain, its own first."""
    key: bytes
    client_ca: bytes | None
    """PEM CA bundle: when given, clients must present a certificate it signed (mutual TLS)."""
    files: tuple[Path, Path, Path | None] | None = None
    """Where they were read from (cert, key, client CA): what an ``ssl`` context loads from
    (the dashboard's server takes files, not bytes)."""

    def ssl_context(self) -> ssl.SSLContext:
        """A server context of the same files (client certificates required when mutual)."""
        assert self.files is not None, "ServerTLS.load() keeps the files"
        cert, key, client_ca = self.files
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(cert, key)
        if client_ca is not None:
            context.load_verify_locations(cafile=client_ca)
            context.verify_mode = ssl.CERT_REQUIRED
        return context

    @classmethod
    def load(cls, cert: Path, key: Path, client_ca: Path | None = None) -> ServerTLS:
        """Read and check the files; SecurityFileError naming the one that is wrong."""
        cert_pem, key_pem = _read(cert, "--tls-cert"), _read(key, "--tls-key")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            context.load_cert_chain(cert, key)
        except (ssl.SSLError, ValueError) as error:
            raise SecurityFileError(
                f"--tls-cert {cert} and --tls-key {key} are not a PEM certificate and its "
                f"private key ({_ssl_reason(error)})") from None
        ca_pem = None
        if client_ca is not None:
            ca_pem = _read(client_ca, "--tls-client-ca")
            try:
                context.load_verify_locations(cafile=client_ca)
            except (ssl.SSLError, ValueError) as error:
                raise SecurityFileError(f"--tls-client-ca {client_ca} is not a PEM CA certificate "
                                        f"({_ssl_reason(error)})") from None
        return cls(cert_pem, key_pem, ca_pem, (cert, key, client_ca))

    @property
    def mutual(self) -> bool:
        return self.client_ca is not None

    def credentials(self) -> grpc.ServerCredentials:
        return grpc.ssl_server_credentials(
            [(self.key, self.cert)], root_certificates=self.client_ca,
            require_client_auth=self.client_ca is not None)


def _read(path: Path, flag: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise SecurityFileError(f"cannot read {flag} {path} ({error.strerror or error})") from None


def _ssl_reason(error: Exception) -> str:
    return getattr(error, "reason", None) or str(error) or type(error).__name__
