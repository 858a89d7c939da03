"""The key inventory's PostgreSQL storage (table ``vault.keys``)."""

from __future__ import annotations

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

import msgspec

from vault.errors import Conflict, NotFound
from vault.keys.model import KeyPurpose, KeyRecord, KeyState

_FIELDS = tuple(KeyRecord.__struct_fields__)
_COLUMNS = ", ".join(_FIELDS)


class PostgresKeyStore:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def all(self) -> list[KeyRecord]:
        return await self._select("ORDER BY purpose, version", ())

    async def of_purpose(self, purpose: KeyPurpose) -> list[KeyRecord]:
        return await self._select("WHERE purpose = %s ORDER BY version", (purpose.value,))

    async def get(self, purpose: KeyPurpose, version: int) -> KeyRecord:
        found = await self._select("WHERE purpose = %s AND version = %s", (purpose.value, version))
        if not found:
            raise NotFound(f"no {purpose} key version {version}")
        return found[0]

    async def active(self, purpose: KeyPurpose) -> KeyRecord | None:
        found = await self._select("WHERE purpose = %s AND state = 'active'", (purpose.value,))
        return found[0] if found else None

    async def next_version(self, purpose: KeyPurpose) -> int:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT coalesce(max(version), 0) + 1 FROM vault.keys WHERE purpose = %s", (purpose.value,)
            )
            (version,) = await cur.fetchone()
            return version

    async def insert(self, record: KeyRecord) -> None:
        values = msgspec.to_builtins(record, builtin_types=(bytes, type(record.created_at)))
        values["attributes"] = Jsonb(values["attributes"])
        async with self._pool.connection() as conn:
            await conn.execute(
                f"INSERT INTO vault.keys ({_COLUMNS}) VALUES ({', '.join(['%s'] * len(_FIELDS))})",
                [values[field] for field in _FIELDS],
            )

    async def save_states(self, records: list[KeyRecord]) -> None:
        """Store the states of ``records`` in one transaction.

        Demotions are written before promotions, so the one-active-per-purpose
        index holds at every statement.
        """
        ordered = sorted(records, key=lambda r: r.state == KeyState.ACTIVE)
        async with self._pool.connection() as conn, conn.transaction():
            for record in ordered:
                await _save_state(conn, record)

    async def save_attributes(self, record: KeyRecord) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                "UPDATE vault.keys SET attributes = %s WHERE purpose = %s AND version = %s",
                (Jsonb(record.attributes), record.purpose.value, record.version),
            )

    async def _select(self, where: str, params: tuple) -> list[KeyRecord]:
        async with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(f"SELECT {_COLUMNS} FROM vault.keys {where}", params)
            rows = await cur.fetchall()
        return [msgspec.convert(row, KeyRecord, from_attributes=False, strict=False) for row in rows]


async def _save_state(conn: AsyncConnection, record: KeyRecord) -> None:
    cur = await conn.execute(
        "UPDATE vault.keys SET state = %s, activated_at = %s, deactivated_at = %s, retired_at = %s, "
        "destroyed_at = %s WHERE purpose = %s AND version = %s AND state <> 'destroyed'",
        (
            record.state.value, record.activated_at, record.deactivated_at, record.retired_at,
            record.destroyed_at, record.purpose.value, record.version,
        ),
    )
    if cur.rowcount != 1:
        raise Conflict(f"{record.label} changed meanwhile; run the step again")
