"""stigmer-actors: an actor-model execution-status service for agent and workflow runs.

Embed it with ``Engine``; serve it with ``stigmer-actors serve``. Logging goes through
loguru and is disabled for this package unless an application (such as the CLI) enables
it with ``logger.enable("stigmer_actors")``, as loguru advises for libraries.
"""

from loguru import logger

from stigmer_actors import wire
from stigmer_actors.domain.kinds import AGENT, WORKFLOW, Kind
from stigmer_actors.engine import Engine, Page
from stigmer_actors.subscription import Subscription

logger.disable("stigmer_actors")

__all__ = ["AGENT", "WORKFLOW", "Engine", "Kind", "Page", "Subscription", "wire"]
