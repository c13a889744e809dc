"""The PostgreSQL schema, as numbered migrations applied at start-up.

Plain SQL in order, with the version reached kept in ``stigmer_schema``: no migration
library, because the schema is small, owned by this program alone, and only ever moves
forward. Every node runs ``migrate`` when it opens the store; a transaction-level advisory
lock makes concurrent starts take turns, so each migration runs exactly once per database.

Tables:
- ``executions``: one row per execution, its serialized state and the columns listings and
  timers use (phase, tags, owners, the workflow id, the deadline, the dispatch lease).
- ``changes``: one row per committed write (a short-retention feed): the nodes read it to
  tell their watchers about changes made elsewhere. ``xid`` is the writing transaction's
  id, so a reader can take only the rows of transactions that have finished.
- ``kv``: the key-value space (workflow definitions, the runner's recorded progress).
- ``leases``: named leases with an owner and an expiry (a run's owner in a cluster).
"""

from __future__ import annotations

import psycopg

LOCK_KEY = 0x5717_6E3E
"""The advisory lock migrations take (any constant private to this program)."""

MIGRATIONS: tuple[str, ...] = (
    # 1: the first schema
    """
    CREATE TABLE executions (
        id text PRIMARY KEY,
        kind text NOT NULL,
        version bigint NOT NULL,
        phase smallint NOT NULL,
        tags text[] NOT NULL DEFAULT '{}',
        owners text[] NOT NULL DEFAULT '{}',
        workflow_id text NOT NULL DEFAULT '',
        data bytea NOT NULL,
        deadline_at timestamptz,
        deadline_reason text,
        claimed_by text,
        claim_until timestamptz
    );
    CREATE INDEX executions_by_phase ON executions (kind, phase, id);
    CREATE INDEX executions_by_tags ON executions USING gin (tags);
    CREATE INDEX executions_by_owners ON executions USING gin (owners);
    CREATE INDEX executions_by_deadline ON executions (deadline_at) WHERE deadline_at IS NOT NULL;
    CREATE TABLE changes (
        seq bigserial PRIMARY KEY,
        xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
        at timestamptz NOT NULL DEFAULT now(),
        execution_id text NOT NULL,
        kind text NOT NULL,
        version bigint NOT NULL,
        phase smallint NOT NULL,
        workflow_id text NOT NULL DEFAULT '',
        origin text NOT NULL DEFAULT ''
    );
    CREATE INDEX changes_by_xid ON changes (xid, seq);
    CREATE INDEX changes_by_time ON changes (at);
    CREATE TABLE kv (
        key bytea PRIMARY KEY,
        value bytea NOT NULL
    );
    CREATE TABLE leases (
        name text PRIMARY KEY,
        owner text NOT NULL,
        until timestamptz NOT NULL
    );
    """,
)


def migrate(conn: psycopg.Connection) -> int:
    """Bring the database to the latest schema; returns the version it is at now."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        conn.execute("CREATE TABLE IF NOT EXISTS stigmer_schema (version int NOT NULL)")
        row = conn.execute("SELECT max(version) FROM stigmer_schema").fetchone()
        current = row[0] if row and row[0] is not None else 0
        if current > len(MIGRATIONS):
            raise RuntimeError(
                f"the database's schema is version {current}, newer than this program knows "
                f"({len(MIGRATIONS)}): upgrade stigmer-actors on this node")
        for version in range(current + 1, len(MIGRATIONS) + 1):
            conn.execute(MIGRATIONS[version - 1])
            conn.execute("INSERT INTO stigmer_schema (version) VALUES (%s)", (version,))
    return len(MIGRATIONS)
