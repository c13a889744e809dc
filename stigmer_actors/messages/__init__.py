"""The immutable messages actors exchange: commands in, snapshots out."""

from stigmer_actors.messages.commands import (
    Command,
    Create,
    Delete,
    Subscribe,
    Unsubscribe,
    Update,
    UpdateStatus,
)
from stigmer_actors.messages.snapshot import Closed, Snapshot

__all__ = [
    "Closed",
    "Command",
    "Create",
    "Delete",
    "Snapshot",
    "Subscribe",
    "Unsubscribe",
    "Update",
    "UpdateStatus",
]
