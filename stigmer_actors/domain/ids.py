"""Server-assigned execution ids: a kind prefix, then a time-ordered unique part.

The time comes first (hex microseconds) so that ids sort by creation time, which makes the
store's id-ordered listings read oldest first without a separate time index.
"""

from __future__ import annotations

import secrets
import time


def new_id(prefix: str) -> str:
    """A fresh id such as ``aex-0006123456789ab3f9c1d2e``; unique without coordination."""
    return f"{prefix}-{time.time_ns() // 1000:014x}{secrets.token_hex(5)}"
