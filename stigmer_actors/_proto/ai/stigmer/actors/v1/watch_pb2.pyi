from stigmer_actors._proto.ai.stigmer.actors.v1 import dispatch_pb2 as _dispatch_pb2
from stigmer_actors._proto.ai.stigmer.agentic.agentexecution.v1 import api_pb2 as _api_pb2
from stigmer_actors._proto.ai.stigmer.agentic.workflowexecution.v1 import api_pb2 as _api_pb2_1
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class WatchEventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    WATCH_EVENT_TYPE_UNSPECIFIED: _ClassVar[WatchEventType]
    ADDED: _ClassVar[WatchEventType]
    MODIFIED: _ClassVar[WatchEventType]
    DELETED: _ClassVar[WatchEventType]
    BOOKMARK: _ClassVar[WatchEventType]
WATCH_EVENT_TYPE_UNSPECIFIED: WatchEventType
ADDED: WatchEventType
MODIFIED: WatchEventType
DELETED: WatchEventType
BOOKMARK: WatchEventType

class ExecutionFilter(_message.Message):
    __slots__ = ("kind", "phases", "session_id", "workflow_id", "tags")
    KIND_FIELD_NUMBER: _ClassVar[int]
    PHASES_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    kind: _dispatch_pb2.ExecutionKind
    phases: _containers.RepeatedScalarFieldContainer[int]
    session_id: str
    workflow_id: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, kind: _Optional[_Union[_dispatch_pb2.ExecutionKind, str]] = ..., phases: _Optional[_Iterable[int]] = ..., session_id: _Optional[str] = ..., workflow_id: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ...) -> None: ...

class WatchExecutionsRequest(_message.Message):
    __slots__ = ("filter", "since", "full_state")
    FILTER_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    FULL_STATE_FIELD_NUMBER: _ClassVar[int]
    filter: ExecutionFilter
    since: str
    full_state: bool
    def __init__(self, filter: _Optional[_Union[ExecutionFilter, _Mapping]] = ..., since: _Optional[str] = ..., full_state: bool = ...) -> None: ...

class ExecutionSummary(_message.Message):
    __slots__ = ("id", "kind", "phase", "version", "session_id", "agent_id", "workflow_id", "workflow_instance_id", "tags", "created_at", "updated_at", "started_at", "completed_at", "error")
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_AT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    id: str
    kind: _dispatch_pb2.ExecutionKind
    phase: int
    version: int
    session_id: str
    agent_id: str
    workflow_id: str
    workflow_instance_id: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    created_at: str
    updated_at: str
    started_at: str
    completed_at: str
    error: str
    def __init__(self, id: _Optional[str] = ..., kind: _Optional[_Union[_dispatch_pb2.ExecutionKind, str]] = ..., phase: _Optional[int] = ..., version: _Optional[int] = ..., session_id: _Optional[str] = ..., agent_id: _Optional[str] = ..., workflow_id: _Optional[str] = ..., workflow_instance_id: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ..., created_at: _Optional[str] = ..., updated_at: _Optional[str] = ..., started_at: _Optional[str] = ..., completed_at: _Optional[str] = ..., error: _Optional[str] = ...) -> None: ...

class ExecutionEvent(_message.Message):
    __slots__ = ("type", "resume_token", "summary", "agent", "workflow", "left_filter", "initial", "initial_list_done")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    RESUME_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_FIELD_NUMBER: _ClassVar[int]
    LEFT_FILTER_FIELD_NUMBER: _ClassVar[int]
    INITIAL_FIELD_NUMBER: _ClassVar[int]
    INITIAL_LIST_DONE_FIELD_NUMBER: _ClassVar[int]
    type: WatchEventType
    resume_token: str
    summary: ExecutionSummary
    agent: _api_pb2.AgentExecution
    workflow: _api_pb2_1.WorkflowExecution
    left_filter: bool
    initial: bool
    initial_list_done: bool
    def __init__(self, type: _Optional[_Union[WatchEventType, str]] = ..., resume_token: _Optional[str] = ..., summary: _Optional[_Union[ExecutionSummary, _Mapping]] = ..., agent: _Optional[_Union[_api_pb2.AgentExecution, _Mapping]] = ..., workflow: _Optional[_Union[_api_pb2_1.WorkflowExecution, _Mapping]] = ..., left_filter: bool = ..., initial: bool = ..., initial_list_done: bool = ...) -> None: ...
