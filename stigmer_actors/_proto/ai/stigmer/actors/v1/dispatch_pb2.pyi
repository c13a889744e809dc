from stigmer_actors._proto.ai.stigmer.agentic.agentexecution.v1 import api_pb2 as _api_pb2
from stigmer_actors._proto.ai.stigmer.agentic.workflowexecution.v1 import api_pb2 as _api_pb2_1
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ExecutionKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EXECUTION_KIND_UNSPECIFIED: _ClassVar[ExecutionKind]
    AGENT: _ClassVar[ExecutionKind]
    WORKFLOW: _ClassVar[ExecutionKind]

class RunnerState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RUNNER_STATE_UNSPECIFIED: _ClassVar[RunnerState]
    RUNNER_STARTING: _ClassVar[RunnerState]
    RUNNER_RUNNING: _ClassVar[RunnerState]
    RUNNER_BACKING_OFF: _ClassVar[RunnerState]
    RUNNER_FAILED: _ClassVar[RunnerState]
    RUNNER_STOPPED: _ClassVar[RunnerState]
EXECUTION_KIND_UNSPECIFIED: ExecutionKind
AGENT: ExecutionKind
WORKFLOW: ExecutionKind
RUNNER_STATE_UNSPECIFIED: RunnerState
RUNNER_STARTING: RunnerState
RUNNER_RUNNING: RunnerState
RUNNER_BACKING_OFF: RunnerState
RUNNER_FAILED: RunnerState
RUNNER_STOPPED: RunnerState

class ClaimRequest(_message.Message):
    __slots__ = ("kind", "runner_id", "capacity", "defined_workflows_only")
    KIND_FIELD_NUMBER: _ClassVar[int]
    RUNNER_ID_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    DEFINED_WORKFLOWS_ONLY_FIELD_NUMBER: _ClassVar[int]
    kind: ExecutionKind
    runner_id: str
    capacity: int
    defined_workflows_only: bool
    def __init__(self, kind: _Optional[_Union[ExecutionKind, str]] = ..., runner_id: _Optional[str] = ..., capacity: _Optional[int] = ..., defined_workflows_only: bool = ...) -> None: ...

class ClaimedExecution(_message.Message):
    __slots__ = ("agent", "workflow")
    AGENT_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_FIELD_NUMBER: _ClassVar[int]
    agent: _api_pb2.AgentExecution
    workflow: _api_pb2_1.WorkflowExecution
    def __init__(self, agent: _Optional[_Union[_api_pb2.AgentExecution, _Mapping]] = ..., workflow: _Optional[_Union[_api_pb2_1.WorkflowExecution, _Mapping]] = ...) -> None: ...

class ListRunnersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RunnerInfo(_message.Message):
    __slots__ = ("runner_id", "kind", "capacity", "holding", "claimed")
    RUNNER_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    HOLDING_FIELD_NUMBER: _ClassVar[int]
    CLAIMED_FIELD_NUMBER: _ClassVar[int]
    runner_id: str
    kind: ExecutionKind
    capacity: int
    holding: _containers.RepeatedScalarFieldContainer[str]
    claimed: int
    def __init__(self, runner_id: _Optional[str] = ..., kind: _Optional[_Union[ExecutionKind, str]] = ..., capacity: _Optional[int] = ..., holding: _Optional[_Iterable[str]] = ..., claimed: _Optional[int] = ...) -> None: ...

class RunnerList(_message.Message):
    __slots__ = ("runners", "queued", "supervised")
    class QueuedEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    RUNNERS_FIELD_NUMBER: _ClassVar[int]
    QUEUED_FIELD_NUMBER: _ClassVar[int]
    SUPERVISED_FIELD_NUMBER: _ClassVar[int]
    runners: _containers.RepeatedCompositeFieldContainer[RunnerInfo]
    queued: _containers.ScalarMap[str, int]
    supervised: _containers.RepeatedCompositeFieldContainer[SupervisedRunner]
    def __init__(self, runners: _Optional[_Iterable[_Union[RunnerInfo, _Mapping]]] = ..., queued: _Optional[_Mapping[str, int]] = ..., supervised: _Optional[_Iterable[_Union[SupervisedRunner, _Mapping]]] = ...) -> None: ...

class SupervisedRunner(_message.Message):
    __slots__ = ("name", "kind", "command", "state", "pid", "restarts", "last_exit_code", "uptime_seconds", "last_stderr", "output_lines_dropped")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    RESTARTS_FIELD_NUMBER: _ClassVar[int]
    LAST_EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    UPTIME_SECONDS_FIELD_NUMBER: _ClassVar[int]
    LAST_STDERR_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_LINES_DROPPED_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: ExecutionKind
    command: str
    state: RunnerState
    pid: int
    restarts: int
    last_exit_code: int
    uptime_seconds: float
    last_stderr: _containers.RepeatedScalarFieldContainer[str]
    output_lines_dropped: int
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[_Union[ExecutionKind, str]] = ..., command: _Optional[str] = ..., state: _Optional[_Union[RunnerState, str]] = ..., pid: _Optional[int] = ..., restarts: _Optional[int] = ..., last_exit_code: _Optional[int] = ..., uptime_seconds: _Optional[float] = ..., last_stderr: _Optional[_Iterable[str]] = ..., output_lines_dropped: _Optional[int] = ...) -> None: ...
