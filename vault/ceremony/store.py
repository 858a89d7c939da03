"""Ceremonies, custodians, approvals and key backups in PostgreSQL (schema ``vault``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

import msgspec
from psycopg import errors
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from vault.ceremony.model import Approval, Ceremony, Custodian, KeyBackup
from vault.errors import Conflict, NotFound

_CUSTODIAN = (
    "id, name, public_key, registered_at, registered_by, acknowledgement, ack_signature, acknowledged_at"
)
_CEREMONY = (
    "id, kind, proposal, step_hash, proposed_by, proposed_at, expires_at, status, executed_by, "
    "executed_at, transcript, transcript_signature, transcript_hash, failure"
)
_BACKUP = (
    "id, purpose, version, wrapped, mechanism, key_kcv, transport_kcv, threshold, shares, "
    "share_fingerprints, ceremony_id, created_at"
)


def _convert(row: dict, kind: type):
    return msgspec.convert(row, kind, strict=False)


class PostgresCeremonyStore:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    # -- custodians ----------------------------------------------------------------------

    async def add_custodian(self, custodian: Custodian) -> None:
        try:
            async with self._pool.connection() as conn:
                await conn.execute(
                    f"INSERT INTO vault.custodians ({_CUSTODIAN}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                    (
                        custodian.id, custodian.name, custodian.public_key, custodian.registered_at,
                        custodian.registered_by, custodian.acknowledgement, None, None,
                    ),
                )
        except errors.UniqueViolation:
            raise Conflict("a custodian with that name or public key is registered already",
                           code="custodian_exists") from None

    async def custodians(self) -> list[Custodian]:
        return await self._rows(f"SELECT {_CUSTODIAN} FROM vault.custodians ORDER BY registered_at, id", (), Custodian)

    async def custodian(self, id_or_name: str) -> Custodian:
        found = await self._rows(
            f"SELECT {_CUSTODIAN} FROM vault.custodians WHERE id = %s OR name = %s", (id_or_name, id_or_name), Custodian
        )
        if not found:
            raise NotFound(f"no custodian {id_or_name!r}", code="custodian_not_found")
        return found[0]

    async def acknowledge(self, custodian_id: str, signature: bytes, at: datetime) -> None:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "UPDATE vault.custodians SET ack_signature = %s, acknowledged_at = %s "
                "WHERE id = %s AND ack_signature IS NULL",
                (signature, at, custodian_id),
            )
            if cur.rowcount != 1:
                raise Conflict("the custodian has acknowledged already", code="already_acknowledged")

    # -- ceremonies ----------------------------------------------------------------------

    async def add_ceremony(self, ceremony: Ceremony) -> None:
        values = msgspec.structs.asdict(ceremony)
        async with self._pool.connection() as conn:
            await conn.execute(
                f"INSERT INTO vault.ceremonies ({_CEREMONY}) VALUES ({', '.join(['%s'] * 14)})",
                [values[column.strip()] for column in _CEREMONY.split(",")],
            )

    async def ceremony(self, ceremony_id: str) -> Ceremony:
        found = await self._ceremonies("WHERE id = %s", (ceremony_id,))
        if not found:
            raise NotFound(f"no ceremony {ceremony_id!r}", code="ceremony_not_found")
        return found[0]

    async def ceremonies(self, after_id: str | None, limit: int) -> list[Ceremony]:
        return await self._ceremonies("WHERE %s::text IS NULL OR id > %s ORDER BY id LIMIT %s", (after_id, after_id, limit))

    async def _ceremonies(self, where: str, params: tuple) -> list[Ceremony]:
        """Ceremonies and their approvals in two queries."""
        rows = await self._rows(f"SELECT {_CEREMONY} FROM vault.ceremonies {where}", params, dict)
        approvals = await self._rows(
            "SELECT ceremony_id, custodian_id, signature, signed_at FROM vault.ceremony_approvals "
            "WHERE ceremony_id = ANY(%s) ORDER BY signed_at, custodian_id",
            ([row["id"] for row in rows],),
            Approval,
        )
        by_ceremony: dict[str, list[Approval]] = {}
        for approval in approvals:
            by_ceremony.setdefault(approval.ceremony_id, []).append(approval)
        return [_convert({**row, "approvals": by_ceremony.get(row["id"], [])}, Ceremony) for row in rows]

    async def add_approval(self, approval: Approval) -> None:
        try:
            async with self._pool.connection() as conn:
                await conn.execute(
                    "INSERT INTO vault.ceremony_approvals (ceremony_id, custodian_id, signature, signed_at) "
                    "VALUES (%s, %s, %s, %s)",
                    (approval.ceremony_id, approval.custodian_id, approval.signature, approval.signed_at),
                )
        except errors.UniqueViolation:
            raise Conflict("this custodian has already approved this ceremony", code="duplicate_approval") from None

    async def finish(self, ceremony: Ceremony) -> None:
        """Record the outcome of a proposed ceremony (once)."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "UPDATE vault.ceremonies SET status = %s, executed_by = %s, executed_at = %s, transcript = %s, "
                "transcript_signature = %s, transcript_hash = %s, failure = %s "
                "WHERE id = %s AND status = 'proposed'",
                (
                    ceremony.status.value, ceremony.executed_by, ceremony.executed_at, ceremony.transcript,
                    ceremony.transcript_signature, ceremony.transcript_hash, ceremony.failure, ceremony.id,
                ),
            )
            if cur.rowcount != 1:
                raise Conflict("the ceremony has run already", code="ceremony_finished")

    @asynccontextmanager
    async def exclusive(self, ceremony_id: str) -> AsyncIterator[None]:
        """Hold a lock so that one process at a time executes ``ceremony_id``."""
        async with self._pool.connection() as conn:
            cur = await conn.execute("SELECT pg_try_advisory_lock(hashtext('ceremony:' || %s))", (ceremony_id,))
            (locked,) = await cur.fetchone()
            if not locked:
                raise Conflict("the ceremony is being executed elsewhere", code="ceremony_busy")
            try:
                yield
            finally:
                await conn.execute("SELECT pg_advisory_unlock(hashtext('ceremony:' || %s))", (ceremony_id,))

    # -- backups -------------------------------------------------------------------------

    async def add_backup(self, backup: KeyBackup) -> None:
        values = msgspec.to_builtins(backup, builtin_types=(bytes, datetime))
        values["share_fingerprints"] = Jsonb(values["share_fingerprints"])
        async with self._pool.connection() as conn:
            await conn.execute(
                f"INSERT INTO vault.key_backups ({_BACKUP}) VALUES ({', '.join(['%s'] * 12)})",
                [values[column.strip()] for column in _BACKUP.split(",")],
            )

    async def backup(self, backup_id: str) -> KeyBackup:
        found = await self._rows(f"SELECT {_BACKUP} FROM vault.key_backups WHERE id = %s", (backup_id,), KeyBackup)
        if not found:
            raise NotFound(f"no key backup {backup_id!r}", code="backup_not_found")
        return found[0]

    async def _rows(self, query: str, params: tuple, kind: type) -> list:
        async with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query, params)
            rows = await cur.fetchall()
        return rows if kind is dict else [_convert(row, kind) for row in rows]
