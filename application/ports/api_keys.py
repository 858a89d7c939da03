from __future__ import annotations

from datetime import datetime
from typing import Protocol

from domain.access.model import ApiKey, App


class ApiKeyRepository(Protocol):
    """Stored API keys of one app (core or vault). Each app keeps its own, in its own schema."""

    async def add(self, key: ApiKey) -> None: ...

    async def get(self, key_id: str) -> ApiKey | None: ...

    async def revoke(self, key_id: str, at: datetime) -> ApiKey | None:
        """Revoke an active key; returns it (revoked) or None when no such key exists."""
        ...

    async def list(self, app: App) -> list[ApiKey]: ...

    async def count_active(self) -> int: ...
