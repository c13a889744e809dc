"""The immutable messages actors exchange: commands in, snapshots out."""

from stigmer_actors.messages.commands import (
    CatchUp,
    Command,
    Create,
    Delete,
    Expire,
    Subscribe,
    Unsubscribe,
    Update,
    UpdateStatus,
)
from stigmer_actors.messages.snapshot import Closed, Snapshot

__all__ = [
    "CatchUp",
    "Closed",
    "Command",
    "Create",
    "Delete",
    "Expire",
    "Snapshot",
    "Subscribe",
    "Unsubscribe",
    "Update",
    "UpdateStatus",
]
