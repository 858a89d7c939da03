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

import hashlib
import hmac

from vault.crypto.cache import BoundedCache
from vault.keys.manager import KeyManager
from vault.keys.model import OPENS, KeyPurpose


class WorkingKeys:
    def __init__(self, keys: KeyManager, *, ttl: float = 300.0) -> None:
        self._keys = keys
        self._cache: BoundedCache[tuple[KeyPurpose, int, bool], bytes] = BoundedCache(ttl=ttl, size=64)

    async def active_version(self, purpose: KeyPurpose) -> int:
        return (await self._keys.active(purpose)).version

    async def mac_with_active(self, purpose: KeyPurpose, data: bytes) -> tuple[int, bytes]:
        """``(version, HMAC)`` under the active version of ``purpose``."""
        version = await self.active_version(purpose)
        return version, hmac.digest(await self._key(purpose, version, True), data, hashlib.sha256)

    async def mac_with_each(self, purpose: KeyPurpose, data: bytes) -> list[tuple[int, bytes]]:
        """``(version, HMAC)`` under every version that may still open data (active, decrypt_only)."""
        versions = [r.version for r in await self._keys.store.of_purpose(purpose) if r.state in OPENS]
        return [(v, hmac.digest(await self._key(purpose, v, False), data, hashlib.sha256)) for v in versions]

    async def mac_with(self, purpose: KeyPurpose, version: int, data: bytes) -> bytes:
        return hmac.digest(await self._key(purpose, version, False), data, hashlib.sha256)

    async def _key(self, purpose: KeyPurpose, version: int, for_new_data: bool) -> bytes:
        cached = self._cache.get((purpose, version, for_new_data))
        if cached is None:
            cached = await self._keys.derive_working_key(purpose, version, for_new_data=for_new_data)
            self._cache.put((purpose, version, for_new_data), cached)
        return cached
