from stigmer_actors._proto.ai.stigmer.actors.v1 import dispatch_pb2 as _dispatch_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Stats(_message.Message):
    __slots__ = ("uptime_seconds", "live_actors", "actors_spawned", "actors_evicted", "status_updates", "update_p50_ms", "update_p99_ms", "step_mean_ms", "open_subscriptions", "open_streams", "streams_refused", "states_coalesced", "slowest_subscriber_lag", "requests_by_code", "watchdog_failures", "store_written_bytes", "supervised_runners")
    class StepMeanMsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class RequestsByCodeEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class WatchdogFailuresEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    UPTIME_SECONDS_FIELD_NUMBER: _ClassVar[int]
    LIVE_ACTORS_FIELD_NUMBER: _ClassVar[int]
    ACTORS_SPAWNED_FIELD_NUMBER: _ClassVar[int]
    ACTORS_EVICTED_FIELD_NUMBER: _ClassVar[int]
    STATUS_UPDATES_FIELD_NUMBER: _ClassVar[int]
    UPDATE_P50_MS_FIELD_NUMBER: _ClassVar[int]
    UPDATE_P99_MS_FIELD_NUMBER: _ClassVar[int]
    STEP_MEAN_MS_FIELD_NUMBER: _ClassVar[int]
    OPEN_SUBSCRIPTIONS_FIELD_NUMBER: _ClassVar[int]
    OPEN_STREAMS_FIELD_NUMBER: _ClassVar[int]
    STREAMS_REFUSED_FIELD_NUMBER: _ClassVar[int]
    STATES_COALESCED_FIELD_NUMBER: _ClassVar[int]
    SLOWEST_SUBSCRIBER_LAG_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_BY_CODE_FIELD_NUMBER: _ClassVar[int]
    WATCHDOG_FAILURES_FIELD_NUMBER: _ClassVar[int]
    STORE_WRITTEN_BYTES_FIELD_NUMBER: _ClassVar[int]
    SUPERVISED_RUNNERS_FIELD_NUMBER: _ClassVar[int]
    uptime_seconds: float
    live_actors: int
    actors_spawned: int
    actors_evicted: int
    status_updates: int
    update_p50_ms: float
    update_p99_ms: float
    step_mean_ms: _containers.ScalarMap[str, float]
    open_subscriptions: int
    open_streams: int
    streams_refused: int
    states_coalesced: int
    slowest_subscriber_lag: int
    requests_by_code: _containers.ScalarMap[str, int]
    watchdog_failures: _containers.ScalarMap[str, int]
    store_written_bytes: int
    supervised_runners: _containers.RepeatedCompositeFieldContainer[_dispatch_pb2.SupervisedRunner]
    def __init__(self, uptime_seconds: _Optional[float] = ..., live_actors: _Optional[int] = ..., actors_spawned: _Optional[int] = ..., actors_evicted: _Optional[int] = ..., status_updates: _Optional[int] = ..., update_p50_ms: _Optional[float] = ..., update_p99_ms: _Optional[float] = ..., step_mean_ms: _Optional[_Mapping[str, float]] = ..., open_subscriptions: _Optional[int] = ..., open_streams: _Optional[int] = ..., streams_refused: _Optional[int] = ..., states_coalesced: _Optional[int] = ..., slowest_subscriber_lag: _Optional[int] = ..., requests_by_code: _Optional[_Mapping[str, int]] = ..., watchdog_failures: _Optional[_Mapping[str, int]] = ..., store_written_bytes: _Optional[int] = ..., supervised_runners: _Optional[_Iterable[_Union[_dispatch_pb2.SupervisedRunner, _Mapping]]] = ...) -> None: ...
