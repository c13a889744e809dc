"""``serve --http-address``: the dashboard on a threaded WSGI server (cheroot), no asyncio.

cheroot runs a fixed pool of ``THREADS`` worker threads: each SSE connection holds one for
its life, so the SSE bound (``sse.MAX_STREAMS``) stays ``PAGE_THREADS`` below the pool and
pages are always served. Idle keep-alive connections hold no thread (cheroot parks them in
a selector). A socket write blocked for ``SOCKET_TIMEOUT`` seconds (a client that stopped
reading) ends its connection. Stopping closes every SSE stream first, so no worker waits
out a heartbeat.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from cheroot import wsgi as cheroot_wsgi
from loguru import logger

from stigmer_actors.engine import Engine
from stigmer_actors.web import sse
from stigmer_actors.web.app import Middleware, wsgi

PAGE_THREADS = 16
THREADS = sse.MAX_STREAMS + PAGE_THREADS
SOCKET_TIMEOUT = 10


class WebServer:
    def __init__(self, engine: Engine, address: str, middlewares: Sequence[Middleware] = ()) -> None:
        host, sep, port = address.rpartition(":")
        if not sep or not port.isdigit() or int(port) > 65535:
            raise ValueError(f"--http-address {address!r} is not HOST:PORT")
        host = host.strip("[]")
        self.slots = sse.Slots()
        metrics = engine.core.metrics
        if metrics is not None:
            metrics.levels.sse_connections = lambda: self.slots.count
            metrics.levels.sse_refused = lambda: self.slots.refused
        app, self.fragments = wsgi(engine, self.slots, middlewares)
        self._server = cheroot_wsgi.Server(
            (host, int(port)), app, numthreads=THREADS,
            server_name="stigmer-actors", timeout=SOCKET_TIMEOUT, shutdown_timeout=3,
        )
        try:
            self._server.prepare()  # binds now, so a taken port is refused at start-up
        except OSError as error:
            raise OSError(f"could not listen on {address} ({error.strerror or error})") from None
        bound = self._server.bind_addr
        self.port = bound[1]
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{self.port}/"
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
