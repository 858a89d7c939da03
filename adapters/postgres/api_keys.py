from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from domain.access.model import ApiKey, App

_COLUMNS = "id, app, role, name, secret_hash, created_at, revoked_at"


class PostgresApiKeys:
    """ApiKeyRepository over ``<schema>.api_keys``; the core and the vault each have their own table."""

    def __init__(self, pool: AsyncConnectionPool, schema: str) -> None:
        self._pool = pool
        self._table = sql.Identifier(schema, "api_keys")

    async def add(self, key: ApiKey) -> None:
        query = sql.SQL("INSERT INTO {} (" + _COLUMNS + ") VALUES (%s, %s, %s, %s, %s, %s, %s)").format(self._table)
        async with self._pool.connection() as conn:
            await conn.execute(
                query, (key.id, key.app, key.role, key.name, key.secret_hash, key.created_at, key.revoked_at)
            )

    async def get(self, key_id: str) -> ApiKey | None:
        rows = await self._fetch(sql.SQL("SELECT " + _COLUMNS + " FROM {} WHERE id = %s"), (key_id,))
        return rows[0] if rows else None

    async def revoke(self, key_id: str, at: datetime) -> ApiKey | None:
        query = sql.SQL(
            "UPDATE {} SET revoked_at = coalesce(revoked_at, %s) WHERE id = %s RETURNING " + _COLUMNS
        )
        rows = await self._fetch(query, (at, key_id))
        return rows[0] if rows else None

    async def list(self, app: App) -> list[ApiKey]:
        return await self._fetch(sql.SQL("SELECT " + _COLUMNS + " FROM {} WHERE app = %s ORDER BY id"), (app,))

    async def count_active(self) -> int:
        async with self._pool.connection() as conn:
            cur = await conn.execute(sql.SQL("SELECT count(*) FROM {} WHERE revoked_at IS NULL").format(self._table))
            row = await cur.fetchone()
            return int(row[0]) if row else 0

    async def _fetch(self, query: sql.SQL, params: tuple[Any, ...]) -> list[ApiKey]:
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(query.format(self._table), params)
            return [ApiKey(**row) for row in await cur.fetchall()]
