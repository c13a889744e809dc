"""Resume tokens: opaque strings naming a position in one feed's sequence of changes.

A token carries the feed's *epoch* (a random id drawn when the feed starts, so a token
from before a restart is recognized as such) and a sequence number (the last change the
holder has been told about). Clients must treat it as opaque: its shape may change.
"""

from __future__ import annotations

import base64
import binascii

from stigmer_actors.domain.errors import InvalidArgument

_MAGIC = "rt1"
MAX_TOKEN_CHARS = 128
"""Longer ``since`` values are refused before decoding (ours are ~30 characters)."""


def encode(epoch: str, seq: int) -> str:
    raw = f"{_MAGIC}:{epoch}:{seq}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(token: str) -> tuple[str, int]:
    """(epoch, sequence) of a token this server issued; INVALID_ARGUMENT for anything else."""
    if len(token) > MAX_TOKEN_CHARS:
        raise InvalidArgument(f"since is {len(token)} characters long: not a resume token this "
                              f"server issued (at most {MAX_TOKEN_CHARS})")
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        magic, epoch, seq = text.split(":")
        if magic != _MAGIC or not epoch or not seq.isdigit():
            raise ValueError(text)
        return epoch, int(seq)
    except (binascii.Error, UnicodeError, ValueError):
        raise InvalidArgument("since is not a resume token this server issued") from None
