"""What an operator sees without reading logs: Prometheus metrics and the stats summary."""

from stigmer_actors.observability.metrics import Metrics

__all__ = ["Metrics"]
