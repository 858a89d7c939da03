"""The audit log's PostgreSQL storage (schema ``vault``, role ``bursar_vault``).

Appends are serialised by a transaction-scoped advisory lock: each batch reads
the head (last ``seq`` and ``hash``), chains its entries onto it and inserts
them in one statement (one JSON parameter, see :mod:`vault.db`), in two round
trips in all. The database re-checks every link (trigger ``audit_log_links``)
and refuses UPDATE, DELETE and TRUNCATE.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from psycopg import AsyncClientCursor, AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from vault.audit.entry import GENESIS, Actor, AuditEntry, AuditEvent, Origin, Resource, chain
from vault.db import autocommit, bytea, json_rows

_APPEND_LOCK = 0x42_55_52_53_41_55_44  # "BURSAUD": one appender at a time, across processes

_COLUMNS = (
    "seq, at, action, actor_id, actor_role, resource_type, resource_id, outcome, reason, "
    "origin_ip, request_id, details, prev_hash, hash"
)


class StoredCheckpoint(msgspec.Struct, frozen=True):
    """A signed checkpoint as stored: ``note`` is the C2SP signed note itself."""

    size: int
    head: bytes
    at: datetime
    key_version: int
    note: str


class PostgresAuditStore:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def append(self, events: list[AuditEvent], at: datetime) -> list[AuditEntry]:
        """Chain ``events`` onto the head and commit them: two round trips, whatever their number."""
        async with autocommit(self._pool) as conn:
            cur = await conn.execute(_BEGIN_LOCK_AND_READ_HEAD)
            cur.nextset()  # past BEGIN's and the lock's results
            cur.nextset()
            seq, head = _head_of(await cur.fetchone())
            entries = chain(events, after_seq=seq, after_hash=head, at=at)
            await AsyncClientCursor(conn).execute(_INSERT_AND_COMMIT, (_rows(entries),))
            return entries

    async def head(self) -> tuple[int, bytes]:
        async with self._pool.connection() as conn:
            return await _head(conn)

    async def entries(self, after_seq: int = 0, limit: int = 100) -> list[AuditEntry]:
        async with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                f"SELECT {_COLUMNS} FROM vault.audit_log WHERE seq > %s ORDER BY seq LIMIT %s",
                (after_seq, limit),
            )
            return [_entry(row) for row in await cur.fetchall()]

    async def save_checkpoint(self, checkpoint: StoredCheckpoint) -> bool:
        """Store a checkpoint; False if one of that size exists already."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "INSERT INTO vault.audit_checkpoints (size, head, at, key_version, note) "
                "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (size) DO NOTHING",
                (checkpoint.size, checkpoint.head, checkpoint.at, checkpoint.key_version, checkpoint.note),
            )
            return cur.rowcount == 1

    async def checkpoints(self, after_size: int = -1, limit: int = 100) -> list[StoredCheckpoint]:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT size, head, at, key_version, note FROM vault.audit_checkpoints "
                "WHERE size > %s ORDER BY size LIMIT %s",
                (after_size, limit),
            )
            return [StoredCheckpoint(*row) for row in await cur.fetchall()]

    async def latest_checkpoint(self) -> StoredCheckpoint | None:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT size, head, at, key_version, note FROM vault.audit_checkpoints "
                "ORDER BY size DESC LIMIT 1"
            )
            row = await cur.fetchone()
            return StoredCheckpoint(*row) if row else None


_HEAD = "SELECT seq, hash FROM vault.audit_log ORDER BY seq DESC LIMIT 1"


async def _head(conn: AsyncConnection) -> tuple[int, bytes]:
    return _head_of(await (await conn.execute(_HEAD)).fetchone())


def _head_of(row: tuple[Any, ...] | None) -> tuple[int, bytes]:
    """The chain's head, ``(seq, hash)``, from its last row (the genesis hash when empty)."""
    return (row[0], bytes(row[1])) if row else (0, GENESIS)


# The lock is taken before the head is read: statements of one query string each take their own
# snapshot, so the head read is the one the previous appender committed.
_BEGIN_LOCK_AND_READ_HEAD = (
    f"BEGIN; SELECT pg_advisory_xact_lock({_APPEND_LOCK}); {_HEAD}"
)
_INSERT_AND_COMMIT = (  # bound client-side (a JSON literal), so that COMMIT rides along
    f"INSERT INTO vault.audit_log ({_COLUMNS}) SELECT {_COLUMNS} "
    "FROM json_populate_recordset(NULL::vault.audit_log, %s::json); COMMIT"
)


class _Row(msgspec.Struct):
    """A ``vault.audit_log`` row for :data:`_INSERT_AND_COMMIT`."""

    seq: int
    at: datetime
    action: str
    actor_id: str
    actor_role: str
    resource_type: str
    resource_id: str
    outcome: str
    reason: str | None
    origin_ip: str | None
    request_id: str | None
    details: dict
    prev_hash: str  # bytea, hex input format
    hash: str


def _rows(entries: list[AuditEntry]) -> str:
    return json_rows([_row(entry) for entry in entries])


def _row(entry: AuditEntry) -> _Row:
    event = entry.event
    return _Row(
        entry.seq, entry.at, event.action, event.actor.id, event.actor.role,
        event.resource.type, event.resource.id, event.outcome, event.reason,
        event.origin.ip, event.origin.request_id, event.details,
        bytea(entry.prev_hash), bytea(entry.hash),
    )


def _entry(row: dict) -> AuditEntry:
    event = AuditEvent(
        action=row["action"],
        actor=Actor(id=row["actor_id"], role=row["actor_role"]),
        resource=Resource(type=row["resource_type"], id=row["resource_id"]),
        outcome=row["outcome"],
        reason=row["reason"],
        origin=Origin(ip=row["origin_ip"], request_id=row["request_id"]),
        details=row["details"],
    )
    return AuditEntry(
        seq=row["seq"], at=row["at"], event=event,
        prev_hash=bytes(row["prev_hash"]), hash=bytes(row["hash"]),
    )
