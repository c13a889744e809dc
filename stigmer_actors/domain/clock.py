"""Timestamps as the wire carries them: RFC 3339 UTC with milliseconds (``...T12:00:00.000Z``)."""

from __future__ import annotations

from datetime import UTC, datetime


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
