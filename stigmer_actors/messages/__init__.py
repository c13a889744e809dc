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
from stigmer_actors.messages.snapshot import Snapshot

__all__ = [
    "Command",
    "Create",
    "Delete",
    "Snapshot",
    "Subscribe",
    "Unsubscribe",
    "Update",
    "UpdateStatus",
]
