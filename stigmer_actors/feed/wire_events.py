"""List-watch events as ``ai.stigmer.actors.v1.ExecutionEvent`` messages (gRPC and Engine)."""

from __future__ import annotations

from stigmer_actors import wire
from stigmer_actors.domain.kinds import AGENT, Kind
from stigmer_actors.feed.list_watch import Event
from stigmer_actors.messages.snapshot import Snapshot

_TYPES = {
    "ADDED": wire.watch.ADDED, "MODIFIED": wire.watch.MODIFIED, "DELETED": wire.watch.DELETED,
    "BOOKMARK": wire.watch.BOOKMARK,
}


def wire_kind(kind: Kind) -> wire.dispatch.ExecutionKind:
    return wire.dispatch.AGENT if kind is AGENT else wire.dispatch.WORKFLOW


def summary(snapshot: Snapshot, execution: wire.Execution) -> wire.watch.ExecutionSummary:
    """The list's view of an execution (``execution`` is ``snapshot.message()``)."""
    status, spec, audit = execution.status, execution.spec, execution.status.audit
    created = audit.spec_audit.created_at
    updated = max(audit.spec_audit.updated_at.ToNanoseconds(), audit.status_audit.updated_at.ToNanoseconds())
    stamp = wire.Timestamp()
    stamp.FromNanoseconds(updated)
    out = wire.watch.ExecutionSummary(
        id=snapshot.execution_id,
        kind=wire_kind(snapshot.kind),
        phase=snapshot.phase,
        version=snapshot.version,
        tags=list(execution.metadata.tags),
        created_at=created.ToJsonString() if created.ByteSize() else "",
        updated_at=stamp.ToJsonString() if updated else "",
        started_at=status.started_at,
        completed_at=status.completed_at,
        error=status.error,
    )
    if snapshot.kind is AGENT:
        out.session_id, out.agent_id = spec.session_id, spec.agent_id
    else:
        out.workflow_id, out.workflow_instance_id = spec.workflow_id, spec.workflow_instance_id
    return out


def to_wire(event: Event, full_state: bool) -> wire.watch.ExecutionEvent:
    """The event as sent: summary always (but on BOOKMARK), the execution with ``full_state``."""
    out = wire.watch.ExecutionEvent(
        type=_TYPES[event.type], resume_token=event.token, left_filter=event.left_filter,
        initial=event.initial, initial_list_done=event.initial_list_done,
    )
    snapshot = event.snapshot
    if snapshot is not None:
        execution = event.message or snapshot.message()
        out.summary.CopyFrom(summary(snapshot, execution))
        if full_state:
            (out.agent if snapshot.kind is AGENT else out.workflow).CopyFrom(execution)
    return out
