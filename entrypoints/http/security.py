"""Deny by default: every route names the roles it admits, or it admits nobody.

A route handler declares ``opt=roles("app", "ops")``; health probes declare ``opt=PUBLIC``.
``authorize``, run first on every matched route (``app_factory.admit``), authenticates the bearer key (401 when absent, unknown or revoked) and
then checks the key's role against the handler's list (403 otherwise). A handler that names
no roles is refused to everyone, so a forgotten declaration fails closed.
"""

from __future__ import annotations

import contextvars
import hashlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from domain.access.model import App, Principal, parse_token
from entrypoints.http.problems import ApiError

# Called on every refused request: (HTTP status, the principal if the key was valid, the key id
# the caller claimed if any, the path). The vault writes these to its audit log.
RefusalHook = Callable[[int, Principal | None, str | None, str], Awaitable[None]]

PUBLIC: dict[str, Any] = {"public": True}
principal_var: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("principal", default=None)
_BEARER = "bearer "
_DOCS_PREFIX = "/schema"


def roles(*names: str) -> dict[str, Any]:
    return {"roles": frozenset(names)}


class Authenticator:
    """Resolves bearer tokens to principals, caching successes for ``ttl`` seconds.

    Revoking a key therefore takes effect within ``ttl`` seconds on every process; failures are
    never cached, so a new key works at once.
    """

    def __init__(
        self,
        app: App,
        lookup: Callable[[str], Awaitable[Principal | None]],
        ttl: float,
        on_refusal: RefusalHook | None = None,
    ) -> None:
        self.app = app
        self.on_refusal = on_refusal
        self._lookup = lookup
        self._ttl = ttl
        self._cache: dict[bytes, tuple[float, Principal]] = {}

    async def authenticate(self, token: str) -> Principal | None:
        digest = hashlib.sha256(token.encode()).digest()
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit is not None and hit[0] > now:
            return hit[1]
        principal = await self._lookup(token)
        if principal is None:
            self._cache.pop(digest, None)
            return None
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (now + self._ttl, principal)
        return principal


async def authorize(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """Admit the caller to ``handler``'s route, or raise a 401 or 403 problem."""
    if handler.opt.get("public") or connection.scope["path"].startswith(_DOCS_PREFIX):
        return
    authenticator: Authenticator = connection.app.state.authenticator
    header = connection.headers.get("authorization", "")
    path = connection.scope["path"]
    if not header[: len(_BEARER)].lower() == _BEARER:
        await _refused(authenticator, 401, None, None, path)
        raise ApiError(401, "unauthorized", "send an API key as 'Authorization: Bearer <key>'",
                       headers={"WWW-Authenticate": "Bearer"})
    token = header[len(_BEARER):].strip()
    principal = await authenticator.authenticate(token)
    if principal is None:
        parsed = parse_token(token)
        await _refused(authenticator, 401, None, parsed[0] if parsed else None, path)
        raise ApiError(401, "unauthorized", "the API key is unknown or revoked", headers={"WWW-Authenticate": "Bearer"})
    allowed: frozenset[str] = handler.opt.get("roles", frozenset())
    connection.state.principal = principal
    principal_var.set(principal)
    if principal.role not in allowed:
        await _refused(authenticator, 403, principal, principal.key_id, path)
        raise ApiError(403, "forbidden", f"role '{principal.role}' may not call this route")


async def _refused(
    authenticator: Authenticator, status: int, principal: Principal | None, key_id: str | None, path: str
) -> None:
    if authenticator.on_refusal is not None:
        await authenticator.on_refusal(status, principal, key_id, path)


def current_principal(connection: ASGIConnection) -> Principal:
    return connection.state.principal
