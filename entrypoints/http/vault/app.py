"""The vault API (default port 8001): Bursar's PCI zone, its own credentials and database role."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar

from entrypoints.containers import VaultContainer
from entrypoints.http.api_keys import ApiKeysController
from entrypoints.http.app_factory import build_app
from entrypoints.http.security import Authenticator

DESCRIPTION = (
    "Bursar's vault: the only process that holds card numbers in clear. PANs are encrypted under "
    "data keys wrapped by keys that never leave the HSM. Authenticate with the vault's own API keys."
)

ROUTES = [ApiKeysController]


def create_vault_app(container: VaultContainer | None = None) -> Litestar:
    container = container or VaultContainer()
    settings = container.settings()
    api_keys = container.api_keys()
    database = container.database()
    hsm = container.hsm()

    @asynccontextmanager
    async def resources(app: Litestar) -> AsyncIterator[None]:
        await database.open()
        await asyncio.to_thread(hsm.open)
        try:
            yield
        finally:
            await asyncio.to_thread(hsm.close)
            await database.close()

    async def hsm_ready() -> None:
        await asyncio.to_thread(hsm.ping)

    return build_app(
        title="Bursar vault API",
        description=DESCRIPTION,
        route_handlers=ROUTES,
        authenticator=Authenticator("vault", api_keys.authenticate, settings.api_key_cache_seconds),
        readiness={"database": database.check, "hsm": hsm_ready},
        lifespan=[resources],
        max_body_bytes=settings.max_body_bytes,
        state={"container": container, "api_keys": api_keys},
    )
