"""The Prometheus scrape endpoint: prometheus-client's own HTTP server on our registry."""

from __future__ import annotations

from wsgiref.simple_server import WSGIServer

from prometheus_client import start_http_server

from stigmer_actors.observability.metrics import Metrics


class MetricsEndpoint:
    """Serves ``metrics`` at ``http://HOST:PORT/metrics`` (port 0 picks a free one)."""

    def __init__(self, address: str, metrics: Metrics) -> None:
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"metrics address must be HOST:PORT, not {address!r}")
        server, self._thread = start_http_server(int(port), host, registry=metrics.registry)
        self._server: WSGIServer = server
        self.url = f"http://{host}:{server.server_port}/metrics"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
