"""What a runner needs: a typed client for the daemon, and the StatusBuilder it reports
through (claims from the dispatch service are ``StigmerClient.claim``).

This package loads none of the server (engine, store, actors, workflow runner, gRPC edge)
nor their dependencies: the base install, without the ``server`` extra, is enough.
``tests/test_light_client.py`` holds it to that in a fresh virtualenv.
"""

from stigmer_actors.client.client import StigmerClient
from stigmer_actors.client.credentials import Credentials
from stigmer_actors.client.status_builder import StatusBuilder
from stigmer_actors.contract import DEFAULT_ADDRESS
from stigmer_actors.domain.kinds import AGENT, WORKFLOW, Kind
from stigmer_actors.domain.page import Page

__all__ = ["AGENT", "DEFAULT_ADDRESS", "WORKFLOW", "Credentials", "Kind", "Page", "StatusBuilder",
           "StigmerClient"]
