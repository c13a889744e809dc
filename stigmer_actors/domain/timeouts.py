"""When an execution that nobody moves is declared FAILED, and what the watchers are told.

Two timers, both measured from timestamps stored with the execution (so they survive a
restart, and time already elapsed counts):
- pending: PENDING for ``pending`` seconds after creation -> no runner picked it up;
- heartbeat: IN_PROGRESS with no updateStatus for ``heartbeat`` seconds -> runner gone.
0 turns a timer off. Per execution, ``metadata.annotations`` may override either:

    stigmer-actors/pending-timeout-seconds: "30"
    stigmer-actors/heartbeat-timeout-seconds: "0"     (off for this execution)

Every timeout is at most ``MAX_TIMEOUT_SECONDS`` (30 days): a request or flag beyond it is
refused (INVALID_ARGUMENT), and a larger value already on disk (written before the bound
existed) is read as the bound, so no stored value can stop the timers on a restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from stigmer_actors.domain import phases
from stigmer_actors.domain.errors import InvalidArgument

if TYPE_CHECKING:
    from stigmer_actors.wire import Execution

PENDING_ANNOTATION = "stigmer-actors/pending-timeout-seconds"
HEARTBEAT_ANNOTATION = "stigmer-actors/heartbeat-timeout-seconds"
PENDING = "pending"
HEARTBEAT = "heartbeat"
MAX_TIMEOUT_SECONDS = 30 * 24 * 3600.0
"""The longest timeout a request, a flag or an embedding caller may set (30 days)."""


def check_timeout(value: float, what: str, given: object = None) -> float:
    """``value`` if it is a number of seconds from 0 to the bound, else INVALID_ARGUMENT
    naming ``what``, the bound and what was ``given`` (``value`` if not said)."""
    if not 0 <= value <= MAX_TIMEOUT_SECONDS:  # also refuses NaN
        raise InvalidArgument(
            f"{what} must be a number of seconds from 0 to {MAX_TIMEOUT_SECONDS:,.0f} (30 days), "
            f"not {value if given is None else given!r}"
        )
    return value


@dataclass(frozen=True)
class Timeouts:
    pending: float = 60.0
    heartbeat: float = 120.0

    def __post_init__(self) -> None:
        check_timeout(self.pending, "pending_timeout")
        check_timeout(self.heartbeat, "heartbeat_timeout")


@dataclass(frozen=True)
class Deadline:
    reason: str
    """PENDING or HEARTBEAT."""
    timeout: float
    at: float
    """Wall-clock seconds since the epoch."""


def check_annotations(execution: Execution) -> None:
    """Reject override values that are not numbers of seconds within the bound (names the
    annotation)."""
    for key in (PENDING_ANNOTATION, HEARTBEAT_ANNOTATION):
        if key in execution.metadata.annotations:
            text = execution.metadata.annotations[key]
            try:
                value = float(text)
            except ValueError:
                value = float("nan")
            check_timeout(value, f"metadata.annotations[{key}]", text)


def deadline(execution: Execution, defaults: Timeouts) -> Deadline | None:
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


def failure_message(reason: str, timeout: float, kind_name: str, why: str | None = None) -> str:
    """What the watchers read in ``status.error``: what happened, and what to check.

    ``why``, for a pending timeout: what is known about the missing runner (the daemon's
    supervisor says which of its runners is down, and its last output); without it the
    message asks the reader to check.
    """
    if reason == PENDING:
        return (
            f"no runner picked up this execution within {timeout:g} s: "
            + (why or f"is a runner for {kind_name} executions running and connected?")
        )
    return (
        f"the runner stopped sending updates: none for {timeout:g} s while IN_PROGRESS "
        "(crashed or hung?)"
    )


def _override(annotations: object, key: str, default: float) -> float:
    """The annotation's timeout, read as leniently as a stored value must be: requests were
    checked at the door, but an older version may have stored what is refused now (over the
    bound: the bound; not a number: the default)."""
    text = annotations.get(key)  # type: ignore[attr-defined]
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        return default
    if value != value or value < 0:
        return default
    return min(value, MAX_TIMEOUT_SECONDS)
