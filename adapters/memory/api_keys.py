from __future__ import annotations

from datetime import datetime

import msgspec

from domain.access.model import ApiKey, App


class InMemoryApiKeys:
    """ApiKeyRepository for unit tests; passes the same contract tests as the PostgreSQL one."""

    def __init__(self) -> None:
        self._keys: dict[str, ApiKey] = {}

    async def add(self, key: ApiKey) -> None:
        if key.id in self._keys:
            raise ValueError(f"duplicate API key id {key.id}")
        self._keys[key.id] = key

    async def get(self, key_id: str) -> ApiKey | None:
        return self._keys.get(key_id)

    async def revoke(self, key_id: str, at: datetime) -> ApiKey | None:
        key = self._keys.get(key_id)
        if key is None:
            return None
        if key.revoked_at is None:
            key = msgspec.structs.replace(key, revoked_at=at)
            self._keys[key_id] = key
        return key

    async def list(self, app: App) -> list[ApiKey]:
        return sorted((k for k in self._keys.values() if k.app == app), key=lambda k: k.id)

    async def count_active(self) -> int:
        return sum(1 for k in self._keys.values() if k.active)
