"""PostgresStore: executions, their listing columns and the key-value space in PostgreSQL,
shared by every node of a cluster.

Each write is ONE statement in autocommit: the execution's row is inserted, updated only
if its version is still the one the writer read (compare-and-set), or deleted likewise, and
the same statement appends the write to ``changes`` (``schema.py``), so a change and its
announcement commit together or not at all. No row touched means another node wrote
first: ``Conflict``, and the writer applies its changes again on what is stored now.
Concurrent writes run on pooled connections (psycopg releases the GIL while it waits), and
PostgreSQL flushes their commits together.

While the database cannot be reached, calls fail fast with UNAVAILABLE naming the cause
and ``health`` reports the outage; a background probe (``store/health.py``) finds it back.
"""

from __future__ import annotations

import builtins
import contextlib
import os
import secrets
import socket
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import psycopg
from loguru import logger
from psycopg_pool import ConnectionPool, PoolTimeout

from stigmer_actors.domain.errors import Unavailable
from stigmer_actors.domain.kinds import Kind
from stigmer_actors.domain.sizes import MAX_STATE_BYTES, entry_bytes
from stigmer_actors.store.base import Conflict, Write
from stigmer_actors.store.group_commit import GroupCommit
from stigmer_actors.store.health import StoreHealth
from stigmer_actors.store.listing import ListQuery, Page, Record, encode_token, plan
from stigmer_actors.store.postgres.dsn import redact
from stigmer_actors.store.postgres.schema import migrate

POOL_SIZE = 32
"""Connections at most: enough for every gRPC worker to wait on a commit at once."""
CONNECT_SECONDS = 5
POOL_WAIT_SECONDS = 10.0
"""How long a call waits for a free or new connection before UNAVAILABLE."""

_RETURNING = "RETURNING id, kind, version, phase, workflow_id"
_ANNOUNCE = ("INSERT INTO changes (execution_id, kind, version, phase, workflow_id, origin) "
             "SELECT id, kind, {version}, phase, workflow_id, %(origin)s FROM w RETURNING seq")
_CREATE = (
    "WITH w AS (INSERT INTO executions (id, kind, version, phase, tags, owners, workflow_id, "
    "data, deadline_at, deadline_reason) VALUES (%(id)s, %(kind)s, %(version)s, %(phase)s, "
    "%(tags)s, %(owners)s, %(workflow_id)s, %(data)s, to_timestamp(%(deadline_at)s), "
    "%(deadline_reason)s) ON CONFLICT (id) DO NOTHING " + _RETURNING + ") "
    + _ANNOUNCE.format(version="version")
)
_UPDATE = (
    "WITH w AS (UPDATE executions SET version = %(version)s, phase = %(phase)s, data = %(data)s, "
    "deadline_at = to_timestamp(%(deadline_at)s), deadline_reason = %(deadline_reason)s{terms} "
    "WHERE id = %(id)s AND version = %(expected)s " + _RETURNING + ") "
    + _ANNOUNCE.format(version="version")
)
_UPDATE_SAME_TERMS = _UPDATE.format(terms="")
_UPDATE_NEW_TERMS = _UPDATE.format(
    terms=", tags = %(tags)s, owners = %(owners)s, workflow_id = %(workflow_id)s")
_DELETE = (
    "WITH w AS (DELETE FROM executions WHERE id = %(id)s AND version = %(expected)s "
    + _RETURNING + ") " + _ANNOUNCE.format(version="0")
)


class PostgresStore:
    """A ``store.base.Store`` on a PostgreSQL database (``dsn``: a libpq URL or string)."""

    def __init__(self, dsn: str, node: str = "", on_commit: Callable[[], None] | None = None) -> None:
        self.dsn = dsn
        self.node = node or node_name()
        """This node's name, recorded with each change it writes (it skips its own)."""
        self.durability = "postgres"
        self.shared = True
        self.group: GroupCommit[Any] | None = None
        self.on_commit = on_commit or (lambda: None)
        """Called after each committed write (the cluster's notifier batches a NOTIFY)."""
        self._closed = False
        self.pool = ConnectionPool(
            dsn, min_size=2, max_size=POOL_SIZE, timeout=POOL_WAIT_SECONDS, open=False,
            kwargs={"autocommit": True, "connect_timeout": CONNECT_SECONDS},
            name="stigmer-store",
        )
        try:
            self.pool.open(wait=True, timeout=POOL_WAIT_SECONDS)
            with self.pool.connection() as conn:
                self.schema_version = migrate(conn)
        except (psycopg.Error, PoolTimeout) as error:
            self.pool.close()
            raise Unavailable(f"cannot use the database at {redact(dsn)}: {_cause(error)}") from None
        self.health = StoreHealth(self._probe)

    # Executions

    def load(self, execution_id: str) -> tuple[str, bytes] | None:
        row = self._one("SELECT kind, data FROM executions WHERE id = %s", (execution_id,))
        return None if row is None else (row[0], bytes(row[1]))

    def commit(self, write: Write) -> None:
        terms = write.terms
        params: dict[str, Any] = {
            "id": write.execution_id, "kind": write.kind.tag, "version": write.version,
            "expected": write.expected, "data": write.data, "phase": write.phase,
            "origin": self.node,
            "deadline_at": write.deadline.at if write.deadline else None,
            "deadline_reason": write.deadline.reason if write.deadline else None,
        }
        if write.data is None:
            statement = _DELETE
        elif write.expected == 0:
            statement = _CREATE
        else:
            statement = _UPDATE_NEW_TERMS if terms else _UPDATE_SAME_TERMS
        if terms is not None:
            params.update(tags=sorted(terms.tags), owners=sorted(terms.owners),
                          workflow_id=terms.workflow_id)
        if self._one(statement, params) is None:
            raise Conflict(f"execution {write.execution_id} was written elsewhere since version "
                           f"{write.expected}")
        self.on_commit()

    def list(self, query: ListQuery, max_bytes: int = MAX_STATE_BYTES) -> Page:
        checked = plan(query)
        condition, args = _where(query)
        total = self._one(f"SELECT count(*) FROM executions WHERE {condition}", args)[0]
        if checked.after is not None:
            condition += " AND id > %s"
            args.append(checked.after)
        rows = self._all(
            f"SELECT id, kind, data FROM executions WHERE {condition} ORDER BY id "
            f"LIMIT %s OFFSET %s", [*args, checked.size + 1, checked.skip])
        records: list[Record] = []
        used = 0
        for execution_id, tag, data in rows[: checked.size]:
            cost = entry_bytes(len(data))
            if records and used + cost > max_bytes:
                break
            records.append(Record(execution_id, tag, bytes(data)))
            used += cost
        more = len(rows) > len(records)
        return Page(records, encode_token(records[-1].execution_id) if more else "",
                    -(-total // checked.size))

    def ids(self, query: ListQuery) -> Iterator[str]:
        condition, args = _where(query)
        rows = self._all(f"SELECT id FROM executions WHERE {condition} ORDER BY id", args)
        return (row[0] for row in rows)

    def unfinished(self, kind: Kind, phase: int) -> Iterator[str]:
        rows = self._all("SELECT id FROM executions WHERE kind = %s AND phase = %s ORDER BY id",
                         (kind.tag, phase))
        return (row[0] for row in rows)

    # The key-value space

    def get(self, key: bytes) -> bytes | None:
        row = self._one("SELECT value FROM kv WHERE key = %s", (key,))
        return None if row is None else bytes(row[0])

    def write(self, puts: dict[bytes, bytes], deletes: Iterable[bytes] = ()) -> None:
        deletes = list(deletes)

        def run(conn: psycopg.Connection) -> None:
            with conn.transaction():
                if deletes:
                    conn.execute("DELETE FROM kv WHERE key = ANY(%s)", (deletes,))
                if puts:
                    with conn.cursor() as cur:
                        cur.executemany(
                            "INSERT INTO kv (key, value) VALUES (%s, %s) "
                            "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                            list(puts.items()))

        self._run(run)

    def scan(self, prefix: bytes, start: bytes | None = None) -> Iterator[bytes]:
        upper = prefix[:-1] + bytes([prefix[-1] + 1])
        rows = self._all("SELECT key FROM kv WHERE key >= %s AND key < %s ORDER BY key",
                         (start or prefix, upper))
        return (bytes(row[0]) for row in rows)

    @contextlib.contextmanager
    def exclusive(self, name: str) -> Iterator[None]:
        """Held by one caller at a time across every node (a session advisory lock)."""
        try:
            with self.pool.connection() as conn:
                conn.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (name,))
                try:
                    yield
                finally:
                    conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (name,))
        except (psycopg.OperationalError, PoolTimeout) as error:
            raise self._unavailable(error) from None

    # Leases (a run's owner in a cluster)

    def acquire_lease(self, name: str, owner: str, seconds: float) -> bool:
        """Take or renew ``name`` for ``owner`` unless another owner holds it unexpired."""
        row = self._one(
            "INSERT INTO leases (name, owner, until) VALUES (%s, %s, now() + make_interval(secs => %s)) "
            "ON CONFLICT (name) DO UPDATE SET owner = EXCLUDED.owner, until = EXCLUDED.until "
            "WHERE leases.until < now() OR leases.owner = EXCLUDED.owner RETURNING owner",
            (name, owner, seconds))
        return row is not None

    def release_lease(self, name: str, owner: str) -> None:
        self._one("DELETE FROM leases WHERE name = %s AND owner = %s RETURNING name", (name, owner))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.health.stop()
        try:
            self.pool.close(timeout=5)
        except Exception as error:  # never raises: the database keeps what was committed
            logger.warning("closing the database pool: {error}", error=error)

    # Plumbing

    def _one(self, sql: str, args: Any = None) -> Any:
        return self._run(lambda conn: conn.execute(sql, args).fetchone())

    def _all(self, sql: str, args: Any = None) -> builtins.list[Any]:  # `list` here is the method above
        rows: builtins.list[Any] = self._run(lambda conn: conn.execute(sql, args).fetchall())
        return rows

    def _run(self, work: Callable[[psycopg.Connection], Any]) -> Any:
        if self._closed:
            raise Unavailable("the store is closed")
        cause = self.health.cause
        if cause is not None:  # refused at once while the probe has not found the database back
            raise Unavailable(f"the database cannot be reached now ({cause}); nothing was "
                              "changed: try again shortly")
        try:
            with self.pool.connection() as conn:
                return work(conn)
        except (psycopg.OperationalError, PoolTimeout, psycopg.InterfaceError) as error:
            raise self._unavailable(error) from None

    def _unavailable(self, error: BaseException) -> Unavailable:
        cause = _cause(error)
        self.health.failed(cause)
        return Unavailable(f"the database cannot be reached now ({cause}); nothing was changed "
                           "by this call unless it was already acknowledged: try again shortly")

    def _probe(self) -> bool:
        """One recovery attempt: a connection that answers (``health``'s retry calls it)."""
        try:
            with psycopg.connect(self.dsn, connect_timeout=CONNECT_SECONDS, autocommit=True) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error:
            return False
        self.pool.check()  # drop the pooled connections that died with the outage
        return True


def node_name() -> str:
    """A name for this process, unique across the cluster's life."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def _cause(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def _where(query: ListQuery) -> tuple[str, list[object]]:
    """The SQL condition of ``query``'s filters and its arguments (every filter must match)."""
    where = ["kind = %s"]
    args: list[object] = [query.kind.tag]
    if query.phase:
        where.append("phase = %s")
        args.append(query.phase)
    if query.tags:
        where.append("tags @> %s")
        args.append(sorted(set(query.tags)))
    if query.owner:
        where.append("owners @> %s")
        args.append([query.owner])
    return " AND ".join(where), args
