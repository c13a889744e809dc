"""One HTTP request of an ``http`` node, within the operator's bounds (``policy.py``).

The host is resolved here and every address it resolves to is checked before any
connection; the connection is then made to those checked addresses, so a name that
resolves differently a moment later cannot slip past the check. Redirects are followed
(at most ``HTTP_REDIRECTS``), each new host checked the same way. The whole request,
redirects and body included, has ``HTTP_SECONDS`` (or less): a timer shuts the socket
down at the deadline, so a server sending a byte at a time cannot hold the node. A body
over ``HTTP_BYTES`` fails the node. Environment proxies are not used: the connection
checked is the connection made.

Name resolution itself (``getaddrinfo``) cannot be interrupted: a resolver that hangs
holds the worker until it gives up (the node's ``timeout`` still fails the node on time).
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import SplitResult, urljoin, urlsplit

from stigmer_actors.runner.policy import HTTP_BYTES, HTTP_REDIRECTS, HTTP_SECONDS, HttpHosts

_REDIRECTS = {301, 302, 303, 307, 308}
_CHUNK = 64 * 1024
_DROPPED_ACROSS_HOSTS = {"authorization", "cookie", "proxy-authorization"}


class FetchError(RuntimeError):
    """The request was refused or failed; the message is the node's error."""


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    url: str
    """Where the reply came from (after redirects)."""


def fetch(url: str, method: str, headers: dict[str, str], body: bytes | None, hosts: HttpHosts, *,
          seconds: float = HTTP_SECONDS, max_bytes: int = HTTP_BYTES,
          on_cancel: Callable[[Callable[[], object]], None] | None = None) -> Reply:
    """Send the request and read the reply, following redirects; FetchError if refused,
    over a bound or failed. ``on_cancel(stop)`` registers how to stop it early."""
    request = _Request(hosts, seconds)
    if on_cancel is not None:
        on_cancel(request.stop)
    timer = threading.Timer(seconds, request.stop, args=(
        f"gave up after {seconds:g} s (an http node's request, redirects and body included, "
        "may take that long)",))
    timer.daemon = True
    timer.start()
    try:
        return request.run(url, method.upper(), headers, body, max_bytes)
    finally:
        timer.cancel()
        request.close()


class _Request:
    def __init__(self, hosts: HttpHosts, seconds: float) -> None:
        self.hosts = hosts
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._stopped: str | None = None
        """Why the request was stopped (the deadline, or the node was cancelled)."""
        self._conn: http.client.HTTPConnection | None = None

    def stop(self, why: str = "stopped: the node was cancelled") -> None:
        """Give up now: the socket in use (if any) is shut down under whoever reads it."""
        with self._lock:
            self._stopped = self._stopped or why
            conn = self._conn
        sock = conn.sock if conn is not None else None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed

    def close(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def run(self, url: str, method: str, headers: dict[str, str], body: bytes | None, max_bytes: int) -> Reply:
        host = None
        for _ in range(HTTP_REDIRECTS + 1):
            parts = _parts(url)
            if host is not None and parts.hostname != host:
                headers = {k: v for k, v in headers.items() if k.lower() not in _DROPPED_ACROSS_HOSTS}
            host = parts.hostname
            response = self._send(parts, method, headers, body)
            location = response.getheader("Location")
            if response.status in _REDIRECTS and location:
                self.close()
                url = urljoin(url, location)
                if response.status == 303 or (response.status in (301, 302) and method == "POST"):
                    method, body = "GET", None
                continue
            return Reply(response.status, dict(response.getheaders()), self._body(response, url, max_bytes), url)
        raise FetchError(f"{url}: more than {HTTP_REDIRECTS} redirects")

    def _send(self, parts: SplitResult, method: str, headers: dict[str, str],
              body: bytes | None) -> http.client.HTTPResponse:
        host = parts.hostname
        assert host is not None  # _parts refused URLs without one
        port = parts.port or (443 if parts.scheme == "https" else 80)
        sock = self._connect(host, port)
        if parts.scheme == "https":
            try:
                sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
            except (OSError, ssl.SSLError) as error:
                sock.close()
                raise self._failed(parts.geturl(), error) from None
        connection = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        conn = connection(host, port)  # for the Host header: the socket is given
        conn.sock = sock
        with self._lock:
            self._conn = conn
            stopped = self._stopped
        if stopped:
            raise self._gave_up()
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            conn.request(method, target, body=body, headers=headers)
            return conn.getresponse()
        except (OSError, http.client.HTTPException, ValueError) as error:
            raise self._failed(parts.geturl(), error) from None

    def _connect(self, host: str, port: int) -> socket.socket:
        """A socket connected to ``host``, whose every address was checked first."""
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as error:
            raise FetchError(f"cannot resolve host {host} ({error.strerror})") from None
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
        refusal = self.hosts.refusal(host, addresses)
        if refusal:
            raise FetchError(refusal)
        last: OSError | None = None
        for family, kind, proto, _, sockaddr in infos:
            remaining = self.deadline - time.monotonic()
            if self._stopped or remaining <= 0:
                raise self._gave_up()
            sock = socket.socket(family, kind, proto)
            sock.settimeout(remaining)
            try:
                sock.connect(sockaddr)
                return sock
            except OSError as error:
                sock.close()
                last = error
        raise FetchError(f"cannot connect to {host}:{port} ({_reason(last)})")

    def _body(self, response: http.client.HTTPResponse, url: str, max_bytes: int) -> bytes:
        declared = response.getheader("Content-Length")
        if declared and declared.isdigit() and int(declared) > max_bytes:
            raise FetchError(f"the response from {url} is {int(declared):,} bytes, over the "
                             f"{max_bytes:,} an http node accepts")
        chunks: list[bytes] = []
        size = 0
        try:
            while chunk := response.read(_CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise FetchError(f"the response from {url} is over the {max_bytes:,} bytes an "
                                     "http node accepts")
                chunks.append(chunk)
        except (OSError, http.client.HTTPException) as error:
            raise self._failed(url, error) from None
        if self._stopped:  # a socket shut down mid-body reads as the body's end
            raise self._gave_up()
        return b"".join(chunks)

    def _failed(self, url: str, error: BaseException) -> FetchError:
        if self._stopped:
            return self._gave_up()
        return FetchError(f"{url}: {_reason(error)}")

    def _gave_up(self) -> FetchError:
        return FetchError(self._stopped or f"gave up after {self.seconds:g} s (an http node's "
                          "request, redirects and body included, may take that long)")


def _parts(url: str) -> SplitResult:
    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018 - a bad port raises here
    except ValueError:
        ok = False
    if not ok:
        raise FetchError(f"{url!r} is not an http(s) URL with a host")
    if parts.username is not None or parts.password is not None:
        raise FetchError(f"{parts.scheme}://...@{parts.hostname}: credentials go in headers, not in the URL")
    return parts


def _reason(error: BaseException | None) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__
