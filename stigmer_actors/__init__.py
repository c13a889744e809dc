"""stigmer-actors: an actor-model execution-status service for agent and workflow runs.

Embed it with ``Engine``; serve it with ``stigmer-actors serve``; report from a runner with
``stigmer_actors.client``. The names below load on first use (PEP 562), so a runner that
imports only the client never loads the engine, its store or the workflow runner (nor
their dependencies, which only the ``server`` extra installs). The library's logs are off
unless a program enables them with ``logger.enable("stigmer_actors")`` after importing what
it uses (``stigmer_actors.logs`` turns them off when the parts that log are first loaded).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stigmer_actors import wire
    from stigmer_actors.domain.kinds import AGENT, WORKFLOW, Kind
    from stigmer_actors.domain.page import Page
    from stigmer_actors.engine import Engine
    from stigmer_actors.subscription import Subscription

_HOMES = {
    "AGENT": "stigmer_actors.domain.kinds",
    "WORKFLOW": "stigmer_actors.domain.kinds",
    "Kind": "stigmer_actors.domain.kinds",
    "Page": "stigmer_actors.domain.page",
    "Engine": "stigmer_actors.engine",
    "Subscription": "stigmer_actors.subscription",
}

__all__ = ["AGENT", "WORKFLOW", "Engine", "Kind", "Page", "Subscription", "wire"]


def __getattr__(name: str) -> Any:
    if name == "wire":
        return importlib.import_module("stigmer_actors.wire")
    if name not in _HOMES:
        raise AttributeError(f"module 'stigmer_actors' has no attribute {name!r}")
    try:
        module = importlib.import_module(_HOMES[name])
    except ModuleNotFoundError as error:
        if (error.name or "").startswith("stigmer_actors"):
            raise
        raise ModuleNotFoundError(
            f"stigmer_actors.{name} needs the server's dependencies ({error.name} is missing): "
            "pip install 'stigmer-actors[server]'",
            name=error.name,
        ) from error
    value = getattr(module, name)
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
