"""The SQL the nodes of a cluster coordinate with, beside the store's own reads and writes:
the feed of committed changes, timers kept in the rows, and dispatch leases.

Nothing here decides anything: ``stigmer_actors/cluster`` runs the loops that call these
and tells the actors what they found.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import psycopg

from stigmer_actors.store.postgres.store import PostgresStore

CHANNEL = "stigmer_changes"
"""The NOTIFY channel: a payload-free "there are new rows in ``changes``"."""


@dataclass(frozen=True, slots=True)
class Change:
    """One committed write, as ``changes`` holds it."""

    seq: int
    execution_id: str
    kind: str
    version: int
    """0 when the execution was deleted."""
    phase: int
    workflow_id: str
    origin: str
    """The node that wrote it."""


class Coordination:
    def __init__(self, store: PostgresStore) -> None:
        self.store = store

    # The feed

    def finished_changes(self, after: tuple[int, int],
                         limit: int) -> tuple[int, list[tuple[int, Change]]]:
        """The horizon, and the rows of finished transactions after the cursor ``after`` =
        (xid, seq), in (xid, seq) order, each with its xid; one round trip.

        Every transaction with an id below the horizon (the snapshot's xmin) has finished:
        its rows are all visible, and no more will come. Reading by transaction, not by
        ``seq``: a transaction may append a lower ``seq`` and commit after a higher one was
        read; its xid is at or above that horizon, so it is read later, never skipped."""
        rows = self.store._all(
            "WITH h AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS x) "
            "SELECT h.x::text::bigint, c.xid::text::bigint, c.seq, c.execution_id, c.kind, "
            "c.version, c.phase, c.workflow_id, c.origin FROM h LEFT JOIN LATERAL ("
            "SELECT * FROM changes WHERE (xid, seq) > (%s::text::xid8, %s) AND xid < h.x "
            "ORDER BY xid, seq LIMIT %s) c ON true", (str(after[0]), after[1], limit))
        horizon = int(rows[0][0])
        return horizon, [(row[1], Change(*row[2:])) for row in rows if row[1] is not None]

    def horizon(self) -> int:
        """The current horizon (see ``finished_changes``): where a new reader starts."""
        return int(self.store._one("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")[0])

    def states(self, execution_ids: list[str]) -> dict[str, tuple[str, bytes]]:
        """The stored (kind tag, data) of each of ``execution_ids`` that exists."""
        rows = self.store._all("SELECT id, kind, data FROM executions WHERE id = ANY(%s)",
                               (execution_ids,))
        return {row[0]: (row[1], bytes(row[2])) for row in rows}

    def notify(self) -> None:
        self.store._one(f"SELECT pg_notify('{CHANNEL}', '')")

    def listener(self) -> psycopg.Connection:
        """A connection of its own (not pooled) LISTENing on the channel."""
        conn = psycopg.connect(self.store.dsn, autocommit=True, connect_timeout=5,
                               application_name="stigmer-listener")
        conn.execute(f"LISTEN {CHANNEL}")
        return conn

    def forget_changes_older_than(self, seconds: float) -> int:
        row = self.store._one(
            "WITH gone AS (DELETE FROM changes WHERE at < now() - make_interval(secs => %s) "
            "RETURNING 1) SELECT count(*) FROM gone", (seconds,))
        return int(row[0])

    # Timers

    def claim_due(self, limit: int, lease_seconds: float) -> list[tuple[str, str]]:
        """Executions whose deadline passed, each taken by this node alone: its deadline is
        pushed ``lease_seconds`` ahead (if this node dies before failing it, another node
        finds it due again then). Returns (execution id, reason)."""
        return [tuple(row) for row in self.store._all(
            "UPDATE executions SET deadline_at = now() + make_interval(secs => %s) "
            "WHERE id IN (SELECT id FROM executions WHERE deadline_at <= now() "
            "ORDER BY deadline_at LIMIT %s FOR UPDATE SKIP LOCKED) "
            "RETURNING id, deadline_reason", (lease_seconds, limit))]

    def set_deadline(self, execution_id: str, at: float | None, reason: str | None) -> None:
        self.store._one(
            "UPDATE executions SET deadline_at = to_timestamp(%s), deadline_reason = %s "
            "WHERE id = %s RETURNING id", (at, reason, execution_id))

    # Dispatch leases

    def claim(self, execution_id: str, owner: str, seconds: float) -> bool:
        """Take a PENDING execution for ``owner`` unless another owner's lease is current."""
        return self.store._one(
            "UPDATE executions SET claimed_by = %s, claim_until = now() + make_interval(secs => %s) "
            "WHERE id = %s AND phase = 1 AND (claim_until IS NULL OR claim_until < now() "
            "OR claimed_by = %s) RETURNING id", (owner, seconds, execution_id, owner)) is not None

    def renew(self, owner: str, execution_ids: Sequence[str], seconds: float) -> set[str]:
        """Extend ``owner``'s leases; returns the ids still PENDING and held (the others
        need no lease any more)."""
        if not execution_ids:
            return set()
        return {row[0] for row in self.store._all(
            "UPDATE executions SET claim_until = now() + make_interval(secs => %s) "
            "WHERE claimed_by = %s AND id = ANY(%s) AND phase = 1 RETURNING id",
            (seconds, owner, list(execution_ids)))}

    def release(self, owner: str, execution_ids: Sequence[str]) -> None:
        if execution_ids:
            self.store._one(
                "WITH r AS (UPDATE executions SET claimed_by = NULL, claim_until = NULL "
                "WHERE claimed_by = %s AND id = ANY(%s) RETURNING 1) SELECT count(*) FROM r",
                (owner, list(execution_ids)))

    def unclaimed_pending(self, limit: int) -> list[tuple[str, str, str]]:
        """PENDING executions no node holds a current lease on: (id, kind tag, workflow id)."""
        return [tuple(row) for row in self.store._all(
            "SELECT id, kind, workflow_id FROM executions WHERE phase = 1 "
            "AND (claim_until IS NULL OR claim_until < now()) ORDER BY id LIMIT %s", (limit,))]
