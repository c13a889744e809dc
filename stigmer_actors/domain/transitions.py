"""The three ways an execution changes, as pure functions over protobuf messages.

Each check that can refuse a change runs before anything is touched, so a refused request
leaves the message exactly as it was. The ExecutionActor calls these on its cached copy and
persists the result; nothing here knows about actors or storage.
"""

from __future__ import annotations

from stigmer_actors.domain import phases
from stigmer_actors.domain.errors import FailedPrecondition
from stigmer_actors.domain.kinds import API_VERSION, Kind
from stigmer_actors.domain.merge import merge_status, stamp
from stigmer_actors.wire import Execution, ExecutionStatus


def created(kind: Kind, request: Execution, execution_id: str) -> Execution:
    """A new execution from a create request: PENDING, version 1, audit stamped.

    Any status the client sent is dropped: a new execution always starts PENDING.
    """
    execution: Execution = kind.message_cls()
    execution.CopyFrom(request)
    execution.api_version = API_VERSION
    execution.kind = kind.resource_kind
    execution.metadata.id = execution_id
    execution.ClearField("status")
    status = execution.status
    status.phase = phases.PENDING
    status.version = 1
    audit = status.audit
    stamp(audit.spec_audit.created_at)
    audit.spec_audit.updated_at.CopyFrom(audit.spec_audit.created_at)
    audit.status_audit.created_at.CopyFrom(audit.spec_audit.created_at)
    audit.status_audit.updated_at.CopyFrom(audit.spec_audit.created_at)
    return execution


def apply_update(stored: Execution, request: Execution) -> None:
    """Replace spec and metadata (all but ``metadata.id``), keep the status, bump the version."""
    execution_id = stored.metadata.id
    stored.metadata.CopyFrom(request.metadata)
    stored.metadata.id = execution_id
    stored.spec.CopyFrom(request.spec)
    stamp(stored.status.audit.spec_audit.updated_at)
    stored.status.version += 1


def check_status(stored: Execution, incoming: ExecutionStatus) -> None:
    """Refuse a phase change away from a terminal phase (terminal is final)."""
    current = stored.status.phase
    if phases.is_terminal(current) and incoming.phase not in (phases.UNSPECIFIED, current):
        raise FailedPrecondition(
            f"execution {stored.metadata.id} is already {phases.name(current)}; "
            f"it cannot become {phases.name(incoming.phase)}"
        )


def apply_status(kind: Kind, stored: Execution, incoming: ExecutionStatus) -> None:
    """Merge a status update as ``../shared/API.md`` says, stamp it, bump the version."""
    check_status(stored, incoming)
    merge_status(stored.status, incoming, kind.status_rules)
    stamp(stored.status.audit.status_audit.updated_at)
    stored.status.version += 1
