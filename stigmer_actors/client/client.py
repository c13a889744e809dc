"""StigmerClient: the four Stigmer services and ours (dispatch, list-watch, definitions,
admin) behind one object, both kinds, ids in and messages out.

RPC failures surface as ``grpc.RpcError`` with the server's status code and message. For
an id whose prefix names no kind (client-chosen ids), the kind is found by asking.
A secured daemon is reached with ``credentials`` (TLS, API key: ``credentials.py``); by
default the key is ``$STIGMER_API_KEY`` when set, over a plain channel.
"""

from __future__ import annotations

import builtins
import queue
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, cast

import grpc

from stigmer_actors import wire
from stigmer_actors.client.credentials import Credentials
from stigmer_actors.client.resuming import RETRY_FOR, ResumingWatch
from stigmer_actors.contract import AGENT_WIRE, DEFAULT_ADDRESS, WORKFLOW_WIRE, WireKind
from stigmer_actors.domain import kinds, phases
from stigmer_actors.domain.kinds import AGENT, Kind
from stigmer_actors.domain.page import Page

_WIRE = {AGENT: AGENT_WIRE, kinds.WORKFLOW: WORKFLOW_WIRE}
_QUERY_STUBS: dict[Kind, Callable[[grpc.Channel], Any]] = {  # generated, untyped
    AGENT: wire.agent_query_grpc.AgentExecutionQueryControllerStub,
    kinds.WORKFLOW: wire.workflow_query_grpc.WorkflowExecutionQueryControllerStub,
}

WATCH_CHANNEL_OPTIONS = [("grpc.http2.bdp_probe", 0), ("grpc.http2.lookahead_bytes", 0)]
"""The watch connection's flow control: read nothing ahead of the reader. grpc's default
grows a stream's receive window to ~4 MB (BDP probing), so the server could push that much
ahead of a slow reader, who then read hundreds of old states in order (8 KB states at
100/s, a read every 0.5 s: 1,470 versions behind, the terminal state 257 s late). With no
read-ahead the transport fetches a state when the reader asks, the server's stream waits
meanwhile and the reader gets the newest one: ~50 versions behind, terminal in < 1 s."""


class StigmerClient:
    """``address``: one daemon's ``HOST:PORT``, or the nodes of a cluster, comma-separated
    (calls spread over the nodes that are up: ``client/addresses.py``)."""

    def __init__(self, address: str = DEFAULT_ADDRESS, timeout: float = 10.0, *,
                 credentials: Credentials | None = None) -> None:
        self.address = address
        self.timeout = timeout
        self.credentials = credentials or Credentials()
        self._channel = self.credentials.channel(address)
        self._watch_channel = self.credentials.channel(address, WATCH_CHANNEL_OPTIONS)
        """Subscribe streams only (it connects on the first): unary calls keep grpc's
        read-ahead on their own connection (large responses need it on slow links)."""
        # The generated stubs are untyped: their methods are Any.
        self._command: dict[Kind, Any] = {
            AGENT: wire.agent_command_grpc.AgentExecutionCommandControllerStub(self._channel),
            kinds.WORKFLOW: wire.workflow_command_grpc.WorkflowExecutionCommandControllerStub(
                self._channel
            ),
        }
        self._dispatch = wire.dispatch_grpc.RunnerDispatchStub(self._channel)
        self._admin = wire.admin_grpc.AdminStub(self._channel)
        self._definitions = wire.workflows_grpc.WorkflowDefinitionsStub(self._channel)
        self._query: dict[Kind, Any] = {kind: stub(self._channel) for kind, stub in _QUERY_STUBS.items()}
        self._watch = wire.watch_grpc.ExecutionWatchStub(self._watch_channel)

    def create(self, execution: wire.Execution) -> wire.Execution:
        kind = kinds.of_message(execution)
        return self._command[kind].create(execution, timeout=self.timeout)

    def create_agent(
        self, message: str, *, agent_id: str = "", session_id: str = "", tags: Sequence[str] = ()
    ) -> wire.Execution:
        return self.create(
            wire.AgentExecution(
                metadata={"tags": list(tags)},
                spec={"message": message, "agent_id": agent_id, "session_id": session_id},
            )
        )

    def create_workflow(
        self,
        *,
        workflow_id: str = "",
        workflow_instance_id: str = "",
        trigger_message: str = "",
        tags: Sequence[str] = (),
        trigger_metadata: dict[str, str] | None = None,
    ) -> wire.Execution:
        """``trigger_metadata`` is how a run gets its input (values JSON-decoded when they parse)."""
        return self.create(
            wire.WorkflowExecution(
                metadata={"tags": list(tags)},
                spec={
                    "workflow_id": workflow_id,
                    "workflow_instance_id": workflow_instance_id,
                    "trigger_message": trigger_message,
                    "trigger_metadata": trigger_metadata or {},
                },
            )
        )

    def kind_of(self, execution_id: str) -> Kind:
        """The id's kind: from its prefix, else by asking the server (NOT_FOUND if neither)."""
        kind = kinds.of_id(execution_id)
        if kind is not None:
            return kind
        return kinds.of_message(self.get(execution_id))

    def get(self, execution_id: str, kind: Kind | None = None) -> wire.Execution:
        guessed = kind or kinds.of_id(execution_id)
        if guessed:
            return self._query[guessed].get(_WIRE[guessed].id_request(value=execution_id), timeout=self.timeout)
        for k in kinds.KINDS:  # an id without a known prefix: ask each kind
            try:
                return self._query[k].get(_WIRE[k].id_request(value=execution_id), timeout=self.timeout)
            except grpc.RpcError as error:
                if error.code() != grpc.StatusCode.NOT_FOUND:
                    raise
        raise NotFoundError(f"execution {execution_id} does not exist")

    def list(
        self,
        kind: Kind,
        *,
        phase: int = phases.UNSPECIFIED,
        tags: Sequence[str] = (),
        page_size: int = 0,
        page_token: str = "",
    ) -> Page:
        wk: WireKind = _WIRE[kind]
        response = self._query[kind].list(
            wk.list_request(phase=phase, tags=list(tags), page_size=page_size, page_token=page_token),
            timeout=self.timeout,
        )
        return Page(list(response.entries), response.next_page_token, response.total_pages)

    def update_status(self, execution_id: str, status: wire.ExecutionStatus) -> wire.Execution:
        kind = kinds.of_status(status)
        request = _WIRE[kind].update_status_input(execution_id=execution_id, status=status)
        return self._command[kind].updateStatus(request, timeout=self.timeout)

    def delete(self, execution_id: str, kind: Kind | None = None) -> wire.Execution:
        kind = kind or self.kind_of(execution_id)
        request = wire.resource_io.ApiResourceId(value=execution_id)
        return self._command[kind].delete(request, timeout=self.timeout)

    def watch(self, execution_id: str, kind: Kind | None = None,
              retry_for: float = RETRY_FOR) -> ResumingWatch:
        """The subscribe stream: current state, then every change, ending after terminal or
        when the execution is deleted. If the daemon serving it stops or dies, the watch
        subscribes again (to another node of a cluster, or the same daemon once back) and
        goes on from the version it had, for ``retry_for`` seconds without news
        (``client/resuming.py``). ``.cancel()`` ends it from another thread."""
        kind = kind or self.kind_of(execution_id)
        wk = _WIRE[kind]
        if kind is AGENT:
            request = wk.subscribe_request(value=execution_id)
        else:
            request = wk.subscribe_request(execution_id=execution_id)
        stub = _QUERY_STUBS[kind](self._watch_channel)

        def still_there() -> bool:
            try:
                self.get(execution_id, kind)
            except grpc.RpcError as error:
                if error.code() == grpc.StatusCode.NOT_FOUND:
                    return False
                raise
            return True

        return ResumingWatch(lambda: stub.subscribe(request), still_there, retry_for)

    def watch_executions(
        self,
        kind: Kind | None = None,
        *,
        phases: Sequence[int] = (),
        session_id: str = "",
        workflow_id: str = "",
        tags: Sequence[str] = (),
        since: str = "",
        full_state: bool = False,
    ) -> Iterator[wire.watch.ExecutionEvent]:
        """List-watch (``ai.stigmer.actors.v1.ExecutionWatch``): every matching execution as
        an ADDED ``ExecutionEvent``, a BOOKMARK ending the list, then every change; with
        ``since`` (an event's ``resume_token``) only the changes after it. Filters: all given
        must match (``phases``: any of them). The same stream as ``Engine.watch_executions``.

        The returned object is a grpc stream: ``.cancel()`` ends it from another thread. It
        ends with OUT_OF_RANGE when ``since`` is too old (list again, ``since=""``) and with
        ABORTED when this reader fell too far behind (resume from the last token).
        """
        request = wire.watch.WatchExecutionsRequest(
            filter=wire.watch.ExecutionFilter(
                kind=(wire.dispatch.EXECUTION_KIND_UNSPECIFIED if kind is None
                      else wire.dispatch.AGENT if kind is AGENT else wire.dispatch.WORKFLOW),
                phases=list(phases), session_id=session_id, workflow_id=workflow_id, tags=list(tags),
            ),
            since=since,
            full_state=full_state,
        )
        return cast("Iterator[wire.watch.ExecutionEvent]", self._watch.watchExecutions(request))

    def claim(
        self, kind: Kind, runner_id: str, capacity: int = 1, *, defined_workflows_only: bool = False
    ) -> Iterator[wire.Execution]:
        """A runner's work stream: PENDING executions of ``kind``, each given to one runner.

        Move each to IN_PROGRESS (or end it) to get the next one; ``.cancel()`` ends it.
        ``defined_workflows_only``: only workflow executions whose ``spec.workflow_id``
        names a registered definition.
        """
        request = wire.dispatch.ClaimRequest(
            kind=wire.dispatch.AGENT if kind is AGENT else wire.dispatch.WORKFLOW,
            runner_id=runner_id,
            capacity=capacity,
            defined_workflows_only=defined_workflows_only,
        )
        stream = self._dispatch.claim(request)
        return _Claimed(stream)

    def runners(self) -> wire.dispatch.RunnerList:
        """The connected runners, what each holds, and how many executions wait per kind."""
        reply: wire.dispatch.RunnerList = self._dispatch.listRunners(
            wire.dispatch.ListRunnersRequest(), timeout=self.timeout)
        return reply

    def stats(self) -> wire.admin.Stats:
        """The daemon's metrics summary (``ai.stigmer.actors.v1.Stats``)."""
        reply: wire.admin.Stats = self._admin.stats(wire.admin.StatsRequest(), timeout=self.timeout)
        return reply

    def apply_workflow(self, source: str) -> wire.workflows.ApplyDefinitionResponse:
        """Store a workflow definition (YAML or JSON text): ``ApplyDefinitionResponse``."""
        request = wire.workflows.ApplyDefinitionRequest(source=source)
        reply: wire.workflows.ApplyDefinitionResponse = self._definitions.apply(request, timeout=self.timeout)
        return reply

    def workflow_definition(self, name: str, version: int = 0) -> wire.workflows.WorkflowDefinition:
        request = wire.workflows.DefinitionRef(name=name, version=version)
        reply: wire.workflows.WorkflowDefinition = self._definitions.get(request, timeout=self.timeout)
        return reply

    def workflow_definitions(self) -> builtins.list[wire.workflows.WorkflowDefinition]:  # `list`: the method above
        request = wire.workflows.ListDefinitionsRequest()
        return list(self._definitions.list(request, timeout=self.timeout).definitions)

    def delete_workflow_definition(self, name: str) -> wire.workflows.WorkflowDefinition:
        request = wire.workflows.DefinitionRef(name=name)
        reply: wire.workflows.WorkflowDefinition = self._definitions.delete(request, timeout=self.timeout)
        return reply

    def reachable(self, timeout: float = 2.0) -> bool:
        """Whether the daemon accepts a connection, within ``timeout`` seconds.

        Tells "the daemon is away" (no connection: not running, wrong address, host down)
        from "the daemon answered with an error" after a call failed with UNAVAILABLE or
        DEADLINE_EXCEEDED, which both can mean. It reads the channel's own connection state
        (READY or not), so it does not depend on the wording of grpc's error messages. A
        refused connection is known at once; only a host that does not answer takes
        ``timeout``.
        """
        states: queue.SimpleQueue[grpc.ChannelConnectivity] = queue.SimpleQueue()
        deadline = time.monotonic() + timeout
        self._channel.subscribe(states.put, try_to_connect=True)
        try:
            while True:
                state = states.get(timeout=max(0.0, deadline - time.monotonic()))
                if state is grpc.ChannelConnectivity.READY:
                    return True
                if state in (grpc.ChannelConnectivity.TRANSIENT_FAILURE, grpc.ChannelConnectivity.SHUTDOWN):
                    return False
        except queue.Empty:
            return False
        finally:
            self._channel.unsubscribe(states.put)

    def close(self) -> None:
        self._channel.close()
        self._watch_channel.close()

    def __enter__(self) -> StigmerClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class _Claimed:
    """Unwraps ClaimedExecution into the execution message; ``cancel()`` ends the stream."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        """A grpc response stream: an iterator of ClaimedExecution, and a ``grpc.Call``."""

    def __iter__(self) -> _Claimed:
        return self

    def __next__(self) -> wire.Execution:
        claimed = next(self._stream)
        return getattr(claimed, claimed.WhichOneof("execution"))

    def cancel(self) -> None:
        self._stream.cancel()


class NotFoundError(grpc.RpcError):
    """NOT_FOUND for an id that no kind has (raised by the client, not the server)."""

    def __init__(self, details: str) -> None:
        super().__init__(details)
        self._details = details

    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.NOT_FOUND

    def details(self) -> str:
        return self._details
