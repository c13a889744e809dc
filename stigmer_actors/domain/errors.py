"""Typed errors of the engine, one per outcome a client can act on.

The gRPC edge maps each class to one status code (``grpc_edge/status.py``); embedded users
catch them directly. Actors *return* these instead of raising them, so an expected refusal
never goes through pykka's exception path (which logs a stack trace per call).
"""

from __future__ import annotations


class EngineError(Exception):
    """Base class: a request the engine refused or could not carry out."""

    code = "INTERNAL"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(EngineError):
    """The request itself is malformed; retrying it unchanged cannot succeed."""

    code = "INVALID_ARGUMENT"


class NotFound(EngineError):
    """No execution of the requested kind has that id."""

    code = "NOT_FOUND"


class AlreadyExists(EngineError):
    """Create with an id that is taken."""

    code = "ALREADY_EXISTS"


class FailedPrecondition(EngineError):
    """The request is well-formed but the execution's state forbids it (e.g. terminal)."""

    code = "FAILED_PRECONDITION"


class ResourceExhausted(EngineError):
    """A bound (streams, message size) was hit; retry later or send less."""

    code = "RESOURCE_EXHAUSTED"


class OutOfRange(EngineError):
    """A position the server no longer has (a resume token older than its memory of changes)."""

    code = "OUT_OF_RANGE"


class Aborted(EngineError):
    """An operation cut short that the client can resume (e.g. from its last resume token)."""

    code = "ABORTED"


class Unavailable(EngineError):
    """The engine is closed or its store is failing; nothing was changed."""

    code = "UNAVAILABLE"


class Internal(EngineError):
    """A bug or an unexpected fault; nothing was changed, details are in the server log."""

    code = "INTERNAL"
