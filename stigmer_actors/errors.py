"""The errors an embedding caller can catch (re-exported from ``domain.errors``)."""

from stigmer_actors.domain.errors import (
    AlreadyExists,
    EngineError,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    Unavailable,
)

__all__ = [
    "AlreadyExists",
    "EngineError",
    "FailedPrecondition",
    "Internal",
    "InvalidArgument",
    "NotFound",
    "ResourceExhausted",
    "Unavailable",
]
