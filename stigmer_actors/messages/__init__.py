"""The immutable messages actors exchange: commands in, snapshots out."""

from stigmer_actors.messages.commands import (
    CHANGES,
    CatchUp,
    Command,
    Create,
    Delete,
    Expire,
    Refresh,
    Subscribe,
    Unsubscribe,
    Update,
    UpdateStatus,
)
from stigmer_actors.messages.snapshot import Snapshot

__all__ = [
    "CHANGES",
    "CatchUp",
    "Command",
    "Create",
    "Delete",
    "Expire",
    "Refresh",
    "Snapshot",
    "Subscribe",
    "Unsubscribe",
    "Update",
    "UpdateStatus",
]
