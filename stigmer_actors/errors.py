"""The errors an embedding caller can catch (re-exported from ``domain.errors``)."""

from stigmer_actors.domain.errors import (
    Aborted,
    AlreadyExists,
    EngineError,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    NotFound,
    OutOfRange,
    ResourceExhausted,
    Unavailable,
)

__all__ = [
    "Aborted",
    "AlreadyExists",
    "EngineError",
    "FailedPrecondition",
    "Internal",
    "InvalidArgument",
    "NotFound",
    "OutOfRange",
    "ResourceExhausted",
    "Unavailable",
]
