"""Create, revoke and authenticate API keys."""

from __future__ import annotations

import msgspec

from application.ports.api_keys import ApiKeyRepository
from application.ports.clock import Clock, IdGenerator, SecretGenerator
from domain.access.model import ApiKey, App, Principal, check_role, format_token, hash_secret, parse_token
from domain.shared.errors import NotFound


class CreateApiKey(msgspec.Struct, frozen=True, kw_only=True):
    role: str
    name: str = ""


class CreatedApiKey(msgspec.Struct, frozen=True, kw_only=True):
    key: ApiKey
    token: str  # shown once, never stored


class ApiKeys:
    """The API keys of one app (core or vault)."""

    def __init__(self, app: App, repo: ApiKeyRepository, clock: Clock, ids: IdGenerator, secrets: SecretGenerator) -> None:
        self.app = app
        self._repo = repo
        self._clock = clock
        self._ids = ids
        self._secrets = secrets

    async def create(self, cmd: CreateApiKey) -> CreatedApiKey:
        check_role(self.app, cmd.role)
        key_id = self._ids.new_id().replace("-", "")
        secret = self._secrets.token(32)
        key = ApiKey(
            id=key_id,
            app=self.app,
            role=cmd.role,
            name=cmd.name or f"{self.app}-{cmd.role}",
            secret_hash=hash_secret(key_id, secret),
            created_at=self._clock.now(),
        )
        await self._repo.add(key)
        return CreatedApiKey(key=key, token=format_token(key_id, secret))

    async def revoke(self, key_id: str) -> ApiKey:
        key = await self._repo.revoke(key_id, self._clock.now())
        if key is None:
            raise NotFound(f"no API key {key_id!r}", code="api_key_not_found")
        return key

    async def list(self) -> list[ApiKey]:
        return await self._repo.list(self.app)

    async def count_active(self) -> int:
        return await self._repo.count_active()

    async def authenticate(self, token: str) -> Principal | None:
        """The principal for a presented token, or None when it is unknown, wrong or revoked."""
        parsed = parse_token(token)
        if parsed is None:
            return None
        key_id, secret = parsed
        key = await self._repo.get(key_id)
        if key is None or key.app != self.app or not key.active or not key.matches(secret):
            return None
        return Principal(key_id=key.id, app=key.app, role=key.role)
