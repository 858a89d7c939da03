"""In-memory working keys derived on the HSM, for the per-PAN keyed hashes.

A blind index or a CVV2 is an HMAC of the PAN. Computing it on the HSM for
every request would cost one HSM round trip per tokenization and per reveal,
so the HSM instead derives, once per key version, a working key
``W = HMAC-SHA256(K, "bursar-working-key/v1:<purpose>:<version>")`` -- ``K``
never leaves the token -- and the vault computes ``HMAC-SHA256(W, data)`` in
process. ``W`` is cached for a bounded time, like an unwrapped data key, and
is as strong as ``K``: recovering ``K`` from ``W`` means inverting HMAC.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time

from vault.crypto.cache import BoundedCache
from vault.keys.manager import KeyManager
from vault.errors import KeyStateError
from vault.keys.model import OPENS, KeyPurpose, KeyRecord, KeyState


class WorkingKeys:
    """Working keys (cached ``ttl`` seconds) and the key versions they belong to.

    The versions of a purpose are re-read from the inventory every
    ``versions_ttl`` seconds, and at once after a life-cycle change made in this
    process: a tokenization or reveal costs no database round trip for them.
    """

    def __init__(self, keys: KeyManager, *, ttl: float = 300.0, versions_ttl: float = 5.0) -> None:
        self._keys = keys
        self._cache: BoundedCache[tuple[KeyPurpose, int], bytes] = BoundedCache(ttl=ttl, size=64)
        self._versions_ttl = versions_ttl
        self._versions: dict[KeyPurpose, tuple[float, int, list[KeyRecord]]] = {}
        self._reading: dict[tuple[KeyPurpose, int], asyncio.Task[list[KeyRecord]]] = {}

    async def active_version(self, purpose: KeyPurpose) -> int:
        for record in await self._records(purpose):
            if record.state == KeyState.ACTIVE:
                return record.version
        raise KeyStateError(f"there is no active {purpose} key: run a key ceremony to generate one")

    async def mac_with_active(self, purpose: KeyPurpose, data: bytes) -> tuple[int, bytes]:
        """``(version, HMAC)`` under the active version of ``purpose``."""
        version = await self.active_version(purpose)
        return version, hmac.digest(await self._key(purpose, version), data, hashlib.sha256)

    async def opening_versions(self, purpose: KeyPurpose) -> list[int]:
        """Versions that may still open data (active, decrypt_only)."""
        return [r.version for r in await self._records(purpose) if r.state in OPENS]

    async def mac_with_each(self, purpose: KeyPurpose, data: bytes) -> list[tuple[int, bytes]]:
        """``(version, HMAC)`` under every version that may still open data (active, decrypt_only)."""
        versions = await self.opening_versions(purpose)
        return [(v, hmac.digest(await self._key(purpose, v), data, hashlib.sha256)) for v in versions]

    async def mac_with(self, purpose: KeyPurpose, version: int, data: bytes) -> bytes:
        return hmac.digest(await self._key(purpose, version), data, hashlib.sha256)

    async def _records(self, purpose: KeyPurpose) -> list[KeyRecord]:
        hit = self._versions.get(purpose)
        if hit is not None and hit[0] > time.monotonic() and hit[1] == self._keys.generation:
            return hit[2]
        # One read at a time per purpose and key generation, shared by whoever needs it meanwhile.
        reading_key = (purpose, self._keys.generation)
        reading = self._reading.get(reading_key)
        if reading is None or reading.get_loop() is not asyncio.get_running_loop():
            reading = self._reading[reading_key] = asyncio.ensure_future(self._read(*reading_key))
        return await asyncio.shield(reading)  # a waiter cancelled does not cancel the others' read

    async def _read(self, purpose: KeyPurpose, generation: int) -> list[KeyRecord]:
        try:
            records = await self._keys.store.of_purpose(purpose)
            self._versions[purpose] = (time.monotonic() + self._versions_ttl, generation, records)
            return records
        finally:
            if self._reading.get((purpose, generation)) is asyncio.current_task():
                del self._reading[(purpose, generation)]

    async def _key(self, purpose: KeyPurpose, version: int) -> bytes:
        cached = self._cache.get((purpose, version))
        if cached is None:
            cached = await self._keys.derive_working_key(purpose, version)
            self._cache.put((purpose, version), cached)
        return cached
