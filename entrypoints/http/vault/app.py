"""The vault API (default port 8001): Bursar's PCI zone, its own credentials and database role."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar

from entrypoints.containers import VaultContainer
from entrypoints.http.api_keys import ApiKeysController
from entrypoints.http.app_factory import build_app
from entrypoints.http.security import Authenticator
from entrypoints.http.vault.auditing import AuditedApiKeys, refusal_recorder
from entrypoints.http.vault.auditor import AuditorController
from entrypoints.http.vault.cards import CardDataController
from entrypoints.http.vault.metrics import MetricsController, registry_for
from entrypoints.http.vault.network import NetworkEntryController
from entrypoints.http.vault.reveal import RevealController
from vault.audit.entry import SYSTEM, AuditEvent, Resource
from vault.keys.model import KeyPurpose

DESCRIPTION = (
    "Bursar's vault: the only process that holds card numbers in clear. PANs are encrypted under "
    "data keys wrapped by keys that never leave the HSM. Authenticate with the vault's own API keys."
)

ROUTES = [ApiKeysController, AuditorController, CardDataController, RevealController, NetworkEntryController,
          MetricsController]
NONCE_PRUNE_SECONDS = 600
log = logging.getLogger("bursar.vault")


def create_vault_app(container: VaultContainer | None = None) -> Litestar:
    container = container or VaultContainer()
    settings = container.settings()
    database = container.database()
    hsm = container.hsm()
    audit = container.audit()
    keys = container.keys()
    api_keys = AuditedApiKeys(container.api_keys(), audit)
    reveals = container.reveals()  # fails fast when grant verification keys are not configured
    core = container.core_authorizations()

    @asynccontextmanager
    async def resources(app: Litestar) -> AsyncIterator[None]:
        await database.open()
        await asyncio.to_thread(hsm.open)
        await _service_event(audit, "service.started")
        background = [
            asyncio.create_task(audit.run_checkpoints(settings.audit_checkpoint_seconds)),
            asyncio.create_task(_prune_nonces(reveals)),
        ]
        try:
            yield
        finally:
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            await core.close()
            await _service_event(audit, "service.stopped")
            with contextlib.suppress(Exception):  # best effort: the next start checkpoints anyway
                await audit.checkpoint()
            await audit.drain()
            await asyncio.to_thread(hsm.close)
            await database.close()

    async def hsm_ready() -> None:
        await asyncio.to_thread(hsm.ping)

    async def keys_ready() -> None:
        missing = [p.value for p in KeyPurpose if await keys.store.active(p) is None]
        if missing:
            raise LookupError(f"no active key for {', '.join(missing)}: run a key ceremony")

    return build_app(
        title="Bursar vault API",
        description=DESCRIPTION,
        route_handlers=ROUTES,
        authenticator=Authenticator(
            "vault", api_keys.authenticate, settings.api_key_cache_seconds, on_refusal=refusal_recorder(audit)
        ),
        readiness={"database": database.check, "hsm": hsm_ready, "keys": keys_ready},
        lifespan=[resources],
        max_body_bytes=settings.max_body_bytes,
        state={"container": container, "api_keys": api_keys, "metrics": registry_for(container)},
    )


async def _service_event(audit, action: str) -> None:
    try:
        await audit.record(AuditEvent(action=action, actor=SYSTEM, resource=Resource(type="service", id="vault")))
    except Exception as exc:  # never block start-up or shutdown on it; readiness shows the database
        log.error("could not audit %s: %s", action, exc.__class__.__name__)


async def _prune_nonces(reveals) -> None:
    while True:
        await asyncio.sleep(NONCE_PRUNE_SECONDS)
        try:
            await reveals.prune()
        except Exception as exc:  # the next round tries again; nonces only accumulate meanwhile
            log.warning("could not prune reveal grant nonces: %s", exc.__class__.__name__)
