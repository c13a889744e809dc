"""The generated wire types, imported from one place under short names.

Everything else in the package imports protobuf classes from here, so the long upstream
module paths (kept for drop-in compatibility) appear exactly once.
"""

from __future__ import annotations

import stigmer_actors._proto  # noqa: F401  (puts the generated tree on sys.path)

from ai.stigmer.agentic.agentexecution.v1 import api_pb2 as agent_api
from ai.stigmer.agentic.agentexecution.v1 import command_pb2 as agent_command
from ai.stigmer.agentic.agentexecution.v1 import command_pb2_grpc as agent_command_grpc
from ai.stigmer.agentic.agentexecution.v1 import enum_pb2 as agent_enum
from ai.stigmer.agentic.agentexecution.v1 import io_pb2 as agent_io
from ai.stigmer.agentic.agentexecution.v1 import query_pb2 as agent_query
from ai.stigmer.agentic.agentexecution.v1 import query_pb2_grpc as agent_query_grpc
from ai.stigmer.agentic.agentexecution.v1 import spec_pb2 as agent_spec
from ai.stigmer.agentic.workflowexecution.v1 import api_pb2 as workflow_api
from ai.stigmer.agentic.workflowexecution.v1 import command_pb2 as workflow_command
from ai.stigmer.agentic.workflowexecution.v1 import command_pb2_grpc as workflow_command_grpc
from ai.stigmer.agentic.workflowexecution.v1 import enum_pb2 as workflow_enum
from ai.stigmer.agentic.workflowexecution.v1 import io_pb2 as workflow_io
from ai.stigmer.agentic.workflowexecution.v1 import query_pb2 as workflow_query
from ai.stigmer.agentic.workflowexecution.v1 import query_pb2_grpc as workflow_query_grpc
from ai.stigmer.agentic.workflowexecution.v1 import spec_pb2 as workflow_spec
from ai.stigmer.actors.v1 import admin_pb2 as admin
from ai.stigmer.actors.v1 import admin_pb2_grpc as admin_grpc
from ai.stigmer.actors.v1 import dispatch_pb2 as dispatch
from ai.stigmer.actors.v1 import dispatch_pb2_grpc as dispatch_grpc
from ai.stigmer.actors.v1 import workflows_pb2 as workflows
from ai.stigmer.actors.v1 import workflows_pb2_grpc as workflows_grpc
from ai.stigmer.commons.apiresource import io_pb2 as resource_io

AgentExecution = agent_api.AgentExecution
AgentExecutionStatus = agent_api.AgentExecutionStatus
WorkflowExecution = workflow_api.WorkflowExecution
WorkflowExecutionStatus = workflow_api.WorkflowExecutionStatus

__all__ = [
    "AgentExecution",
    "AgentExecutionStatus",
    "WorkflowExecution",
    "WorkflowExecutionStatus",
    "admin",
    "admin_grpc",
    "agent_api",
    "dispatch",
    "dispatch_grpc",
    "agent_command",
    "agent_command_grpc",
    "agent_enum",
    "agent_io",
    "agent_query",
    "agent_query_grpc",
    "agent_spec",
    "resource_io",
    "workflow_api",
    "workflow_command",
    "workflow_command_grpc",
    "workflow_enum",
    "workflow_io",
    "workflow_query",
    "workflow_query_grpc",
    "workflow_spec",
    "workflows",
    "workflows_grpc",
]
