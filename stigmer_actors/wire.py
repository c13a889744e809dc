"""The generated wire types, imported from one place under short names.

Everything else in the package imports protobuf classes from here, so the long generated
module paths appear exactly once. The classes belong to our own descriptor pool
(``stigmer_actors._proto.pool``), so the well-known types inside them are that pool's
classes too: to ``CopyFrom``/``MergeFrom`` a Struct or Timestamp into one of these messages,
build it from ``wire.Struct`` / ``wire.Timestamp`` (protobuf's ``struct_pb2.Struct`` is
another class; a dict, or ``SerializeToString`` and ``FromString``, cross between them).
"""

from __future__ import annotations

from typing import Any, TypeAlias, cast

from google.protobuf import struct_pb2, timestamp_pb2
from google.protobuf.message_factory import GetMessageClass

from stigmer_actors._proto.ai.stigmer.actors.v1 import admin_pb2 as admin
from stigmer_actors._proto.ai.stigmer.actors.v1 import admin_pb2_grpc as admin_grpc
from stigmer_actors._proto.ai.stigmer.actors.v1 import dispatch_pb2 as dispatch
from stigmer_actors._proto.ai.stigmer.actors.v1 import dispatch_pb2_grpc as dispatch_grpc
from stigmer_actors._proto.ai.stigmer.actors.v1 import watch_pb2 as watch
from stigmer_actors._proto.ai.stigmer.actors.v1 import watch_pb2_grpc as watch_grpc
from stigmer_actors._proto.ai.stigmer.actors.v1 import workflows_pb2 as workflows
from stigmer_actors._proto.ai.stigmer.actors.v1 import workflows_pb2_grpc as workflows_grpc
from stigmer_actors._proto.ai.stigmer.agentic.agentexecution.v1 import api_pb2 as agent_api
from stigmer_actors._proto.ai.stigmer.agentic.agentexecution.v1 import command_pb2 as agent_command
from stigmer_actors._proto.ai.stigmer.agentic.agentexecution.v1 import command_pb2_grpc as agent_command_grpc
from stigmer_actors._proto.ai.stigmer.agentic.agentexecution.v1 import enum_pb2 as agent_enum
from stigmer_actors._proto.ai.stigmer.agentic.agentexecution.v1 import io_pb2 as agent_io
from stigmer_actors._proto.ai.stigmer.agentic.agentexecution.v1 import query_pb2 as agent_query
from stigmer_actors._proto.ai.stigmer.agentic.agentexecution.v1 import query_pb2_grpc as agent_query_grpc
from stigmer_actors._proto.ai.stigmer.agentic.agentexecution.v1 import spec_pb2 as agent_spec
from stigmer_actors._proto.ai.stigmer.agentic.workflowexecution.v1 import api_pb2 as workflow_api
from stigmer_actors._proto.ai.stigmer.agentic.workflowexecution.v1 import command_pb2 as workflow_command
from stigmer_actors._proto.ai.stigmer.agentic.workflowexecution.v1 import command_pb2_grpc as workflow_command_grpc
from stigmer_actors._proto.ai.stigmer.agentic.workflowexecution.v1 import enum_pb2 as workflow_enum
from stigmer_actors._proto.ai.stigmer.agentic.workflowexecution.v1 import io_pb2 as workflow_io
from stigmer_actors._proto.ai.stigmer.agentic.workflowexecution.v1 import query_pb2 as workflow_query
from stigmer_actors._proto.ai.stigmer.agentic.workflowexecution.v1 import query_pb2_grpc as workflow_query_grpc
from stigmer_actors._proto.ai.stigmer.agentic.workflowexecution.v1 import spec_pb2 as workflow_spec
from stigmer_actors._proto.ai.stigmer.commons.apiresource import io_pb2 as resource_io
from stigmer_actors._proto.pool import POOL

AgentExecution = agent_api.AgentExecution
AgentExecutionStatus = agent_api.AgentExecutionStatus
WorkflowExecution = workflow_api.WorkflowExecution
WorkflowExecutionStatus = workflow_api.WorkflowExecutionStatus

# Typed as protobuf's own classes: they have the same fields and helpers, and the generated
# stubs type our messages' Struct and Timestamp fields that way too.
Struct = cast("type[struct_pb2.Struct]", GetMessageClass(POOL.FindMessageTypeByName("google.protobuf.Struct")))
Value = cast("type[struct_pb2.Value]", GetMessageClass(POOL.FindMessageTypeByName("google.protobuf.Value")))
ListValue = cast(
    "type[struct_pb2.ListValue]", GetMessageClass(POOL.FindMessageTypeByName("google.protobuf.ListValue"))
)
Timestamp = cast(
    "type[timestamp_pb2.Timestamp]", GetMessageClass(POOL.FindMessageTypeByName("google.protobuf.Timestamp"))
)

Execution: TypeAlias = Any
"""An AgentExecution or a WorkflowExecution. ``Any`` rather than their union: the code
handles both kinds through the fields they share (``metadata``, ``spec``, ``status.phase``,
...), whose generated types differ per kind (each kind has its own phase enum and spec), so
the union would need a cast at every use. ``domain.kinds.of_message`` checks the real class."""

ExecutionStatus: TypeAlias = Any
"""An AgentExecutionStatus or a WorkflowExecutionStatus (``Any`` for the reason above)."""

__all__ = [
    "AgentExecution",
    "AgentExecutionStatus",
    "Execution",
    "ExecutionStatus",
    "ListValue",
    "POOL",
    "Struct",
    "Timestamp",
    "Value",
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
    "watch",
    "watch_grpc",
    "workflows",
    "workflows_grpc",
]
