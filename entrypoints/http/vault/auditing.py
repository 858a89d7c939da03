"""What the vault's HTTP layer writes to the audit log: who called, from where, and refusals."""

from __future__ import annotations

from application.access.manage_api_keys import ApiKeys, CreateApiKey, CreatedApiKey
from domain.access.model import ApiKey, Principal
from entrypoints.http.middleware import client_ip_var
from entrypoints.http.security import principal_var
from entrypoints.observability.logging import request_id_var
from vault.audit.entry import Actor, AuditEvent, Origin, Resource
from vault.audit.log import AuditLog

ANONYMOUS = Actor(id="anonymous", role="none")


def request_origin() -> Origin:
    """The current request's client address and request id (empty outside a request)."""
    return Origin(ip=client_ip_var.get(), request_id=request_id_var.get())


def actor_of(principal: Principal | None) -> Actor:
    return Actor(id=principal.key_id, role=principal.role) if principal else ANONYMOUS


def current_actor(default: Actor = ANONYMOUS) -> Actor:
    principal = principal_var.get()
    return actor_of(principal) if principal else default


def refusal_recorder(audit: AuditLog):
    """An :data:`entrypoints.http.security.RefusalHook` that audits failed authentication (401)
    and refused authorization (403)."""

    async def record(status: int, principal: Principal | None, key_id: str | None, path: str) -> None:
        actor = actor_of(principal) if principal else Actor(id=key_id or "anonymous", role="none")
        await audit.record(AuditEvent(
            action="auth.failed" if status == 401 else "auth.denied",
            actor=actor,
            resource=Resource(type="route", id=path),
            outcome="denied",
            reason="unknown, revoked or missing API key" if status == 401 else "role not admitted",
            origin=request_origin(),
        ))

    return record


class AuditedApiKeys:
    """The vault's API-key service, auditing every credential created or revoked."""

    def __init__(self, keys: ApiKeys, audit: AuditLog, operator: Actor | None = None) -> None:
        self._keys = keys
        self._audit = audit
        self._operator = operator

    async def create(self, cmd: CreateApiKey) -> CreatedApiKey:
        created = await self._keys.create(cmd)
        await self._record("credential.created", created.key)
        return created

    async def revoke(self, key_id: str) -> ApiKey:
        key = await self._keys.revoke(key_id)
        await self._record("credential.revoked", key)
        return key

    async def list(self) -> list[ApiKey]:
        return await self._keys.list()

    async def count_active(self) -> int:
        return await self._keys.count_active()

    async def authenticate(self, token: str) -> Principal | None:
        return await self._keys.authenticate(token)

    async def _record(self, action: str, key: ApiKey) -> None:
        await self._audit.record(AuditEvent(
            action=action,
            actor=current_actor(self._operator or ANONYMOUS),
            resource=Resource(type="api_key", id=key.id),
            origin=request_origin(),
            details={"role": key.role, "name": key.name},
        ))
