"""RunnerDispatch: ``claim`` streams PENDING executions to runners; ``listRunners`` shows them,
and the runner processes the daemon supervises (connected or not).

A claim stream counts against the same stream bound as subscribe streams (it holds a pool
thread the same way) and ends with OK on server shutdown. When the runner's connection goes
away, the DispatchActor gives what it held (still PENDING) to another runner.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import grpc
from pykka import ActorRef

from stigmer_actors.actors.dispatch import (
    Connect,
    Disconnect,
    DispatchActor,
    ListRunners,
    RunnerSlot,
    RunnerView,
    Taken,
)
from stigmer_actors.core import Core
from stigmer_actors.domain import phases
from stigmer_actors.domain.errors import EngineError, InvalidArgument, NotFound
from stigmer_actors.domain.kinds import AGENT, WORKFLOW
from stigmer_actors.domain.validation import check_optional_id
from stigmer_actors.grpc_edge.handlers import server_stream, unary
from stigmer_actors.grpc_edge.status import abort
from stigmer_actors.grpc_edge.streams import OpenStreams
from stigmer_actors.runner.definitions import DefinitionRegistry
from stigmer_actors.wire import dispatch

SERVICE = dispatch.DESCRIPTOR.services_by_name["RunnerDispatch"].full_name
_KINDS = {dispatch.AGENT: AGENT, dispatch.WORKFLOW: WORKFLOW}
_WIRE_KIND = {AGENT: dispatch.AGENT, WORKFLOW: dispatch.WORKFLOW}
_ONEOF_FIELD = {AGENT: "agent", WORKFLOW: "workflow"}
MAX_CAPACITY = 1000
"""Executions one runner may hold at once: what it holds is kept from every other runner."""


Supervised = Callable[[], Sequence[dispatch.SupervisedRunner]]
"""The ``SupervisedRunner`` messages of the runner processes the daemon supervises, now."""


def dispatch_handler(
    core: Core, dispatcher: ActorRef[DispatchActor], streams: OpenStreams, definitions: DefinitionRegistry,
    supervised: Supervised = lambda: [],
) -> grpc.GenericRpcHandler[bytes, bytes]:
    def claim(request: dispatch.ClaimRequest, context: grpc.ServicerContext) -> Iterator[bytes]:
        kind = _KINDS.get(request.kind)
        try:
            if kind is None:
                raise InvalidArgument("kind must be AGENT or WORKFLOW")
            check_optional_id(request.runner_id, "runner_id")
            if not 0 <= request.capacity <= MAX_CAPACITY:
                raise InvalidArgument(
                    f"capacity is {request.capacity}; it must be from 0 (means 1) to {MAX_CAPACITY:,}"
                )
            if request.defined_workflows_only and kind is not WORKFLOW:
                raise InvalidArgument("defined_workflows_only applies to kind WORKFLOW only")
        except InvalidArgument as error:
            abort(context, error)
        if not streams.reserve():
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                          f"too many open streams (the server allows {streams.limit})")
        runner = RunnerSlot(request.runner_id or context.peer(), kind, max(1, request.capacity),
                            accepts=definitions.exists if request.defined_workflows_only else None)
        try:
            if not streams.attach(runner) or not context.add_callback(runner.close):
                return
            dispatcher.ask(Connect(runner))
            while (execution_id := runner.inbox.get()) is not None:
                try:
                    snapshot = core.get(execution_id, kind)
                except NotFound:
                    continue  # deleted meanwhile; the dispatcher hears of it from its actor
                if snapshot.phase != phases.PENDING:
                    continue
                try:
                    mine = core.claim(execution_id, str(runner.key))
                except EngineError:  # the shared store is unreachable: its claims loop re-offers it
                    mine = False
                if not mine:  # another node's runner took it
                    dispatcher.tell(Taken(runner, execution_id))
                    continue
                claimed = dispatch.ClaimedExecution()
                getattr(claimed, _ONEOF_FIELD[kind]).MergeFromString(snapshot.data)
                yield claimed.SerializeToString()
        finally:
            dispatcher.tell(Disconnect(runner))
            try:
                core.released(str(runner.key))
            except EngineError:  # unreachable: the leases lapse instead
                pass
            streams.release(runner)

    def list_runners(request: dispatch.ListRunnersRequest, context: grpc.ServicerContext) -> bytes:
        listing: tuple[list[RunnerView], dict[str, int]] = dispatcher.ask(ListRunners(), block=True)
        runners, queued = listing
        reply = dispatch.RunnerList(queued=queued, supervised=supervised())
        for r in runners:
            reply.runners.add(runner_id=r.runner_id, kind=_WIRE_KIND[r.kind], capacity=r.capacity,
                              holding=r.holding, claimed=r.claimed)
        return reply.SerializeToString()

    return grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "claim": server_stream(claim, dispatch.ClaimRequest),
            "listRunners": unary("RunnerDispatch.listRunners", list_runners, dispatch.ListRunnersRequest),
        },
    )
