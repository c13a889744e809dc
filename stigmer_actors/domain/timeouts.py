"""When an execution that nobody moves is declared FAILED, and what the watchers are told.

Two timers, both measured from timestamps stored with the execution (so they survive a
restart, and time already elapsed counts):
- pending: PENDING for ``pending`` seconds after creation -> no runner picked it up;
- heartbeat: IN_PROGRESS with no updateStatus for ``heartbeat`` seconds -> runner gone.
0 turns a timer off. Per execution, ``metadata.annotations`` may override either:

    stigmer-actors/pending-timeout-seconds: "30"
    stigmer-actors/heartbeat-timeout-seconds: "0"     (off for this execution)
"""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.message import Message

from stigmer_actors.domain import phases
from stigmer_actors.domain.errors import InvalidArgument

PENDING_ANNOTATION = "stigmer-actors/pending-timeout-seconds"
HEARTBEAT_ANNOTATION = "stigmer-actors/heartbeat-timeout-seconds"
PENDING = "pending"
HEARTBEAT = "heartbeat"


@dataclass(frozen=True)
class Timeouts:
    pending: float = 60.0
    heartbeat: float = 120.0


@dataclass(frozen=True)
class Deadline:
    reason: str
    """PENDING or HEARTBEAT."""
    timeout: float
    at: float
    """Wall-clock seconds since the epoch."""


def check_annotations(execution: Message) -> None:
    """Reject override values that are not non-negative numbers (names the annotation)."""
    for key in (PENDING_ANNOTATION, HEARTBEAT_ANNOTATION):
        if key in execution.metadata.annotations:
            _seconds(execution.metadata.annotations[key], key)


def deadline(execution: Message, defaults: Timeouts) -> Deadline | None:
    """The timer this execution's phase runs under now, or None (terminal, or turned off)."""
    status = execution.status
    annotations = execution.metadata.annotations
    if status.phase == phases.PENDING:
        timeout = _override(annotations, PENDING_ANNOTATION, defaults.pending)
        since = status.audit.spec_audit.created_at
        reason = PENDING
    elif status.phase == phases.IN_PROGRESS:
        timeout = _override(annotations, HEARTBEAT_ANNOTATION, defaults.heartbeat)
        since = status.audit.status_audit.updated_at
        reason = HEARTBEAT
    else:
        return None
    if timeout <= 0:
        return None
    return Deadline(reason, timeout, since.ToNanoseconds() / 1e9 + timeout)


def failure_message(reason: str, timeout: float, kind_name: str) -> str:
    """What the watchers read in ``status.error``: what happened, and what to check."""
    if reason == PENDING:
        return (
            f"no runner picked up this execution within {timeout:g} s: "
            f"is a runner for {kind_name} executions running and connected?"
        )
    return (
        f"the runner stopped sending updates: none for {timeout:g} s while IN_PROGRESS "
        "(crashed or hung?)"
    )


def _override(annotations: object, key: str, default: float) -> float:
    value = annotations.get(key)  # type: ignore[attr-defined]
    return default if value is None else _seconds(value, key)


def _seconds(text: str, key: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise InvalidArgument(f"metadata.annotations[{key}] must be a number of seconds >= 0, not {text!r}")
    return value
