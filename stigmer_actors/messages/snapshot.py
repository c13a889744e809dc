"""Snapshot: one accepted state of one execution, serialized once.

The ExecutionActor serializes each new state exactly once, to write it; the same bytes are
then handed to every subscriber and returned to the caller. Bytes are immutable, so the
snapshot can cross threads without copies or locks, and the gRPC edge sends them as-is.
"""

from __future__ import annotations

from dataclasses import dataclass

from stigmer_actors.domain import phases
from stigmer_actors.domain.kinds import Kind
from stigmer_actors.wire import Execution


@dataclass(frozen=True, slots=True)
class Snapshot:
    kind: Kind
    execution_id: str
    version: int
    phase: int
    data: bytes
    """The serialized AgentExecution or WorkflowExecution."""
    deleted: bool = False
    """True for the last snapshot of a deleted execution: ``data`` is the state it had."""

    @property
    def terminal(self) -> bool:
        return phases.is_terminal(self.phase)

    @property
    def final(self) -> bool:
        """Nothing follows this snapshot on a subscription."""
        return self.deleted or self.terminal

    def message(self) -> Execution:
        """A fresh protobuf message parsed from the bytes (the caller may mutate it)."""
        return self.kind.message_cls.FromString(self.data)
