"""The core API (default port 8000): ledger, cards, FX, compliance, network entry."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar

from application.ledger.sweeper import sweep_forever
from entrypoints.containers import CoreContainer
from entrypoints.http.api_keys import ApiKeysController
from entrypoints.http.app_factory import build_app
from entrypoints.runtime import garbage
from entrypoints.http.core.compliance import (
    STATUS_OVERRIDES as COMPLIANCE_STATUS_OVERRIDES,
    ComplianceController,
    compliance_lifespan,
    compliance_state,
)
from entrypoints.http.core.cards import CardholdersController, CardsController, ProgramsController
from entrypoints.http.core.network import NetworkController
from entrypoints.http.core.fx import FxController, seed_development_rates
from entrypoints.http.core.ledger import LedgerController
from entrypoints.http.core.simulate import SimulationController
from entrypoints.http.core.webhooks import WebhooksController, webhook_lifespan
from entrypoints.http.security import Authenticator

DESCRIPTION = (
    "Bursar's core: a double-entry ledger with two-phase transfers, virtual cards with real-time "
    "authorization, FX and compliance. Authenticate with `Authorization: Bearer <API key>`; errors "
    "are RFC 9457 problem+json with a stable `code`."
)

ROUTES = [
    LedgerController,
    FxController,
    ComplianceController,
    ProgramsController,
    CardholdersController,
    CardsController,
    NetworkController,
    WebhooksController,
    ApiKeysController,
]


def create_core_app(container: CoreContainer | None = None) -> Litestar:
    container = container or CoreContainer()
    settings = container.settings()
    api_keys = container.api_keys()
    database = container.database()
    vault = container.vault_client()

    @asynccontextmanager
    async def resources(app: Litestar) -> AsyncIterator[None]:
        await database.open()
        await seed_development_rates(container)
        sweepers = [
            asyncio.create_task(sweep_forever(container.ledger_expire_holds(), settings.sweep_seconds)),
            asyncio.create_task(sweep_forever(container.cards_expire(), settings.sweep_seconds,
                                              "expired authorizations")),
            # what a crash (or another process that stopped) left awaiting its alert rules
            asyncio.create_task(sweep_forever(container.compliance_monitor().evaluate_awaiting, settings.sweep_seconds,
                                              "evaluated the alert rules of appended activity")),
        ]
        garbage.settle(settings.gc_threshold)  # startup is over: short collections from here on
        try:
            yield
        finally:
            for sweeper in sweepers:
                sweeper.cancel()
            await asyncio.gather(*sweepers, return_exceptions=True)
            await container.cards_authorize().drain()  # batches and alert evaluations under way
            await vault.close()
            await container.decision_webhooks().close()
            await database.close()

    app = build_app(
        title="Bursar core API",
        description=DESCRIPTION,
        route_handlers=ROUTES if settings.env == "production" else [*ROUTES, SimulationController],
        authenticator=Authenticator("core", api_keys.authenticate, settings.api_key_cache_seconds),
        readiness={"database": database.check, "vault": vault.ping},
        lifespan=[resources, compliance_lifespan(container), webhook_lifespan(container)],
        max_body_bytes=settings.max_body_bytes,
        status_overrides=COMPLIANCE_STATUS_OVERRIDES,
        state={
            "container": container,
            "api_keys": api_keys,
            "clock": container.clock(),
            "ledger_open_account": container.ledger_open_account(),
            "ledger_post_transfers": container.ledger_post_transfers(),
            "ledger_read": container.ledger_read(),
            **compliance_state(container),
        },
    )
    return app
