"""Connection strings in messages and logs: never with their password."""

from __future__ import annotations

import psycopg


def redact(dsn: str) -> str:
    """``dsn`` without its password, for messages and logs."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "(an unreadable connection string)"
    info.pop("password", None)
    return psycopg.conninfo.make_conninfo("", **info)
