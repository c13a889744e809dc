"""A typed Python client for the daemon, and the StatusBuilder runners report through."""

from stigmer_actors.client.client import StigmerClient
from stigmer_actors.client.status_builder import StatusBuilder

__all__ = ["StatusBuilder", "StigmerClient"]
