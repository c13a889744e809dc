"""``serve --http-address``: the dashboard on a threaded WSGI server (cheroot), no asyncio.

cheroot runs a fixed pool of ``THREADS`` worker threads: each SSE connection holds one for
its life, so the SSE bound (``sse.MAX_STREAMS``) stays ``PAGE_THREADS`` below the pool and
pages are always served. Idle keep-alive connections hold no thread (cheroot parks them in
a selector). A socket write blocked for ``SOCKET_TIMEOUT`` seconds (a client that stopped
reading) ends its connection. Stopping closes every SSE stream first, so no worker waits
out a heartbeat.

The daemon's guards apply here too: with ``--api-keys`` every page and stream needs a key
(``guard.py``), with ``--tls-cert`` it is served over TLS (``--tls-client-ca``: browsers
must present a client certificate).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from cheroot import wsgi as cheroot_wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter
from loguru import logger

from stigmer_actors.engine import Engine
from stigmer_actors.security.keyring import KeyRing
from stigmer_actors.security.tls import ServerTLS
from stigmer_actors.web import sse
from stigmer_actors.web.app import Middleware, wsgi
from stigmer_actors.web.guard import guarded

PAGE_THREADS = 16
THREADS = sse.MAX_STREAMS + PAGE_THREADS
SOCKET_TIMEOUT = 10


class WebServer:
    def __init__(self, engine: Engine, address: str, middlewares: Sequence[Middleware] = (),
                 keys: KeyRing | None = None, tls: ServerTLS | None = None) -> None:
        host, sep, port = address.rpartition(":")
        if not sep or not port.isdigit() or int(port) > 65535:
            raise ValueError(f"--http-address {address!r} is not HOST:PORT")
        host = host.strip("[]")
        self.slots = sse.Slots()
        metrics = engine.core.metrics
        if metrics is not None:
            metrics.levels.sse_connections = lambda: self.slots.count
            metrics.levels.sse_refused = lambda: self.slots.refused
        if keys is not None:
            middlewares = (*middlewares, guarded(keys, secure=tls is not None))
        app, self.fragments = wsgi(engine, self.slots, middlewares)
        self._server = cheroot_wsgi.Server(
            (host, int(port)), app, numthreads=THREADS,
            server_name="stigmer-actors", timeout=SOCKET_TIMEOUT, shutdown_timeout=3,
        )
        if tls is not None:
            assert tls.files is not None
            cert, key, _ = tls.files
            adapter = BuiltinSSLAdapter(str(cert), str(key))
            adapter.context = tls.ssl_context()
            self._server.ssl_adapter = adapter
        try:
            self._server.prepare()  # binds now, so a taken port is refused at start-up
        except OSError as error:
            raise OSError(f"could not listen on {address} ({error.strerror or error})") from None
        bound = self._server.bind_addr
        self.port = bound[1]
        shown = f"[{host}]" if ":" in host else host
        self.url = f"{'https' if tls is not None else 'http'}://{shown}:{self.port}/"
        self._thread = threading.Thread(target=self._server.serve, name="web-server", daemon=True)

    def start(self) -> WebServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.slots.close_all()
        self._server.stop()
        self._thread.join(timeout=5)
        if self._thread.is_alive():
            logger.warning("the dashboard's server thread did not stop within 5 s")
