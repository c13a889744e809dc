"""What both ends of the wire agree on: the daemon's default address, and where the two
kinds differ on the wire (request types, method names, service names).

The servicers and the client are written once; this table is all they need to serve or
call either kind. It sits outside ``grpc_edge`` because the client uses it too, and a
runner that imports the client must not load the server.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import Message

import stigmer_actors.wire as wire
from stigmer_actors.domain.kinds import AGENT, WORKFLOW, Kind

DEFAULT_ADDRESS = "127.0.0.1:50051"
"""Where ``stigmer-actors serve`` listens, and clients dial, unless told otherwise."""

# What a daemon tells the runner processes it supervises (``serve --runner NAME=COMMAND``),
# in their environment. The CLI's client commands and ``stigmer-actors runner`` read them.
ADDRESS_ENV = "STIGMER_ADDR"
"""The daemon's address (HOST:PORT), where a runner claims and reports."""
RUNNER_NAME_ENV = "STIGMER_RUNNER_NAME"
"""The NAME the runner was given: a runner id to claim under."""
RUNNER_DATA_DIR_ENV = "STIGMER_RUNNER_DATA_DIR"
"""A directory of its own, under the daemon's data directory, that survives restarts."""


def daemon_address() -> str:
    """Where a client dials by default: ``$STIGMER_ADDR`` if set, else DEFAULT_ADDRESS."""
    return os.environ.get(ADDRESS_ENV) or DEFAULT_ADDRESS


@dataclass(frozen=True)
class WireKind:
    kind: Kind
    command_service: str
    query_service: str
    update_status_input: type[Message]
    id_request: type[Message]
    """What get takes."""
    subscribe_request: type[Message]
    subscribe_id: Callable[[Any], str]
    """The execution id in a ``subscribe_request``."""
    list_request: type[Message]
    list_response: type[Message]
    owner_method: str
    owner_request: type[Message]
    owner_field: str


def _service(module: ModuleType, name: str) -> str:
    service: ServiceDescriptor = module.DESCRIPTOR.services_by_name[name]
    return service.full_name


AGENT_WIRE = WireKind(
    kind=AGENT,
    command_service=_service(wire.agent_command, "AgentExecutionCommandController"),
    query_service=_service(wire.agent_query, "AgentExecutionQueryController"),
    update_status_input=wire.agent_io.AgentExecutionUpdateStatusInput,
    id_request=wire.agent_io.AgentExecutionId,
    subscribe_request=wire.agent_io.AgentExecutionId,
    subscribe_id=lambda r: r.value,
    list_request=wire.agent_io.ListAgentExecutionsRequest,
    list_response=wire.agent_io.AgentExecutionList,
    owner_method="listBySession",
    owner_request=wire.agent_io.ListAgentExecutionsBySessionRequest,
    owner_field="session_id",
)

WORKFLOW_WIRE = WireKind(
    kind=WORKFLOW,
    command_service=_service(wire.workflow_command, "WorkflowExecutionCommandController"),
    query_service=_service(wire.workflow_query, "WorkflowExecutionQueryController"),
    update_status_input=wire.workflow_io.WorkflowExecutionUpdateStatusInput,
    id_request=wire.workflow_io.WorkflowExecutionId,
    subscribe_request=wire.workflow_io.SubscribeWorkflowExecutionRequest,
    subscribe_id=lambda r: r.execution_id,
    list_request=wire.workflow_io.ListWorkflowExecutionsRequest,
    list_response=wire.workflow_io.WorkflowExecutionList,
    owner_method="listByWorkflow",
    owner_request=wire.workflow_io.ListWorkflowExecutionsByWorkflowRequest,
    owner_field="workflow_id",
)

WIRE_KINDS = (AGENT_WIRE, WORKFLOW_WIRE)
