"""Execution phases, shared by both kinds (their enums have the same numbers)."""

from __future__ import annotations

UNSPECIFIED = 0
PENDING = 1
IN_PROGRESS = 2
COMPLETED = 3
FAILED = 4
CANCELLED = 5

TERMINAL = frozenset({COMPLETED, FAILED, CANCELLED})

NAMES = {
    UNSPECIFIED: "EXECUTION_PHASE_UNSPECIFIED",
    PENDING: "EXECUTION_PENDING",
    IN_PROGRESS: "EXECUTION_IN_PROGRESS",
    COMPLETED: "EXECUTION_COMPLETED",
    FAILED: "EXECUTION_FAILED",
    CANCELLED: "EXECUTION_CANCELLED",
}


def is_terminal(phase: int) -> bool:
    """True for COMPLETED, FAILED and CANCELLED: no later change may leave such a phase."""
    return phase in TERMINAL


def name(phase: int) -> str:
    """The enum name as clients see it, for error messages."""
    return NAMES.get(phase, f"phase {phase}")
