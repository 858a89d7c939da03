"""Data-encryption keys (DEKs): made in the vault, stored wrapped by the HSM KEK, cached unwrapped.

A DEK is 256 random bits used with AES-256-GCM for card data. It is stored
(``vault.data_keys``) only wrapped: AES-256-GCM on the HSM under the active KEK
version, with AAD ``bursar-dek/v1:<dek id>:<kek version>``. The vault encrypts
with the current DEK until it has protected ``max_uses`` records or is
``max_age`` seconds old, then makes a new one; unwrapped DEKs stay in memory
for ``ttl`` seconds (at most ``cache_size`` of them). So the HSM is called
once per DEK, not once per card.

Rotating the KEK changes nothing here at once: new DEKs wrap under the new
version, old ones still unwrap under ``decrypt_only`` versions, and
:meth:`DataKeys.rewrap` moves them -- without touching any card ciphertext.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from datetime import datetime

import msgspec
from psycopg_pool import AsyncConnectionPool

from vault.crypto.cache import BoundedCache
from vault.errors import NotFound
from vault.keys.manager import KeyManager


def dek_aad(dek_id: str, kek_version: int) -> bytes:
    return f"bursar-dek/v1:{dek_id}:{kek_version}".encode()


class DataKey(msgspec.Struct, frozen=True):
    id: str
    value: bytes

    def __repr__(self) -> str:  # never the key
        return f"DataKey({self.id!r})"


class DataKeys:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        keys: KeyManager,
        new_id: Callable[[], str],
        now: Callable[[], datetime],
        *,
        max_uses: int = 100_000,
        max_age: float = 3600.0,
        ttl: float = 600.0,
        cache_size: int = 1024,
    ) -> None:
        self._pool = pool
        self._keys = keys
        self._new_id = new_id
        self._now = now
        self._max_uses = max_uses
        self._max_age = max_age
        self._cache: BoundedCache[str, DataKey] = BoundedCache(ttl=ttl, size=cache_size)
        self._current: tuple[DataKey, float] | None = None
        self._uses = 0
        self._lock = asyncio.Lock()

    async def for_encryption(self) -> DataKey:
        """The DEK to protect the next record with (a new one when the current is used up)."""
        current = self._current
        if current is not None and self._uses < self._max_uses and time.monotonic() - current[1] < self._max_age:
            self._uses += 1
            return current[0]
        async with self._lock:
            if self._current is current:
                self._current = (await self._create(), time.monotonic())
                self._uses = 0
            self._uses += 1
            return self._current[0]

    async def get(self, dek_id: str) -> DataKey:
        """The unwrapped DEK ``dek_id`` (from memory, or unwrapped on the HSM)."""
        cached = self._cache.get(dek_id)
        if cached is not None:
            return cached
        async with self._pool.connection() as conn:
            cur = await conn.execute("SELECT kek_version, wrapped FROM vault.data_keys WHERE id = %s", (dek_id,))
            row = await cur.fetchone()
        if row is None:
            raise NotFound(f"no data key {dek_id!r}")
        kek_version, wrapped = row
        key = DataKey(dek_id, await self._keys.unwrap_data_key(kek_version, bytes(wrapped), dek_aad(dek_id, kek_version)))
        self._cache.put(dek_id, key)
        return key

    def forget(self) -> None:
        """Drop every unwrapped DEK from memory (after a KEK retirement, say)."""
        self._cache.clear()
        self._current = None

    async def _create(self) -> DataKey:
        key = DataKey(self._new_id(), secrets.token_bytes(32))
        kek_version, wrapped = await self._keys.wrap_data_key(key.value, lambda v: dek_aad(key.id, v))
        async with self._pool.connection() as conn:
            await conn.execute(
                "INSERT INTO vault.data_keys (id, kek_version, wrapped, created_at) VALUES (%s, %s, %s, %s)",
                (key.id, kek_version, wrapped, self._now()),
            )
        self._cache.put(key.id, key)
        return key

    async def rewrap(self, batch: int = 100, progress: Callable[[int, int], None] | None = None) -> int:
        """Rewrap every DEK not under the active KEK version; resumable, returns how many moved.

        Each DEK is unwrapped and wrapped again on the HSM and updated only if
        it is still under the version read (so a concurrent run is harmless).
        No card ciphertext is read or decrypted.
        """
        active = (await self._keys.active_kek()).version
        moved = 0
        async with self._pool.connection() as conn:
            cur = await conn.execute("SELECT count(*) FROM vault.data_keys WHERE kek_version <> %s", (active,))
            (remaining,) = await cur.fetchone()
        while True:
            async with self._pool.connection() as conn:
                cur = await conn.execute(
                    "SELECT id, kek_version, wrapped FROM vault.data_keys WHERE kek_version <> %s ORDER BY id LIMIT %s",
                    (active, batch),
                )
                rows = await cur.fetchall()
            if not rows:
                return moved
            for dek_id, old_version, wrapped in rows:
                value = await self._keys.unwrap_data_key(old_version, bytes(wrapped), dek_aad(dek_id, old_version))
                new_version, rewrapped = await self._keys.wrap_data_key(value, lambda v, i=dek_id: dek_aad(i, v))
                async with self._pool.connection() as conn:
                    await conn.execute(
                        "UPDATE vault.data_keys SET kek_version = %s, wrapped = %s WHERE id = %s AND kek_version = %s",
                        (new_version, rewrapped, dek_id, old_version),
                    )
                moved += 1
                if progress:
                    progress(moved, remaining)
