"""The two execution kinds, each described once: agent and workflow.

Everything kind-specific lives here: the wire classes, the id prefix, which spec fields a
create must carry, the status merge rules of ``../shared/API.md``, and the owner fields the
store indexes (session for agents, workflow for workflows). The actors, the store and the
edge are written once and take a ``Kind``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from google.protobuf.message import Message

from stigmer_actors import wire
from stigmer_actors.domain.errors import InvalidArgument
from stigmer_actors.domain.merge import Rule
from stigmer_actors.domain.validation import check_optional_id

API_VERSION = "agentic.stigmer.ai/v1"

_SET = Rule.REPLACE_WHEN_SET
_SERVER = Rule.SERVER_OWNED


@dataclass(frozen=True, eq=False)
class Kind:
    """One execution kind and everything that differs between kinds."""

    name: str
    """"agent" or "workflow": what the CLI and logs call it."""
    tag: str
    """One character stored with each record, so a get can tell kinds apart."""
    id_prefix: str
    resource_kind: str
    """The value of the message's ``kind`` field."""
    message_cls: type[wire.Execution]
    status_cls: type[wire.ExecutionStatus]
    status_rules: dict[str, Rule]
    check_spec: Callable[[wire.Execution], None]
    """Raises InvalidArgument when a spec could not be created (or updated to)."""
    owner_terms: Callable[[wire.Execution], frozenset[str]]
    """The values listBySession / listByWorkflow find this execution under."""

    def __repr__(self) -> str:
        return f"Kind({self.name})"


def _check_agent_spec(execution: wire.Execution) -> None:
    spec = execution.spec
    if not spec.message:
        raise InvalidArgument("spec.message is empty: an agent execution needs a message")
    if not spec.session_id and not spec.agent_id:
        raise InvalidArgument("spec.session_id and spec.agent_id are both empty: set one")
    check_optional_id(spec.session_id, "spec.session_id")
    check_optional_id(spec.agent_id, "spec.agent_id")


def _check_workflow_spec(execution: wire.Execution) -> None:
    spec = execution.spec
    if not spec.workflow_instance_id and not spec.workflow_id:
        raise InvalidArgument(
            "spec.workflow_instance_id and spec.workflow_id are both empty: set one"
        )
    check_optional_id(spec.workflow_instance_id, "spec.workflow_instance_id")
    check_optional_id(spec.workflow_id, "spec.workflow_id")


AGENT = Kind(
    name="agent",
    tag="a",
    id_prefix="aex",
    resource_kind="AgentExecution",
    message_cls=wire.AgentExecution,
    status_cls=wire.AgentExecutionStatus,
    status_rules={
        "audit": _SERVER,
        "version": _SERVER,
        "messages": _SET,
        "phase": _SET,
        "tool_calls": _SET,
        "sub_agent_executions": _SET,
        "error": _SET,
        "started_at": _SET,
        "completed_at": _SET,
        "todos": _SET,
        "callback_token": _SET,
    },
    check_spec=_check_agent_spec,
    owner_terms=lambda e: frozenset(v for v in (e.spec.session_id,) if v),
)

WORKFLOW = Kind(
    name="workflow",
    tag="w",
    id_prefix="wex",
    resource_kind="WorkflowExecution",
    message_cls=wire.WorkflowExecution,
    status_cls=wire.WorkflowExecutionStatus,
    status_rules={
        "audit": _SERVER,
        "version": _SERVER,
        "phase": _SET,
        "tasks": _SET,
        "output": _SET,
        "error": _SET,
        "started_at": _SET,
        "completed_at": _SET,
        "temporal_workflow_id": _SET,
    },
    check_spec=_check_workflow_spec,
    # listByWorkflow finds an execution by its workflow or by its workflow instance.
    owner_terms=lambda e: frozenset(
        v for v in (e.spec.workflow_id, e.spec.workflow_instance_id) if v
    ),
)

KINDS: tuple[Kind, ...] = (AGENT, WORKFLOW)
BY_TAG = {k.tag: k for k in KINDS}
_BY_MESSAGE = {k.message_cls: k for k in KINDS}
_BY_STATUS = {k.status_cls: k for k in KINDS}
BY_NAME = {k.name: k for k in KINDS}


def of_message(execution: Message) -> Kind:
    """The kind of an AgentExecution or WorkflowExecution message."""
    try:
        return _BY_MESSAGE[type(execution)]
    except KeyError:
        raise InvalidArgument(f"not an execution message: {type(execution).__name__}") from None


def of_status(status: Message) -> Kind:
    """The kind of an AgentExecutionStatus or WorkflowExecutionStatus message."""
    try:
        return _BY_STATUS[type(status)]
    except KeyError:
        raise InvalidArgument(f"not an execution status: {type(status).__name__}") from None


def of_id(execution_id: str) -> Kind | None:
    """The kind a server-assigned id's prefix names, if any (client ids may have none)."""
    prefix = execution_id.split("-", 1)[0]
    return next((k for k in KINDS if k.id_prefix == prefix), None)
