"""The vault's services for a CLI command: database pool open, HSM on first use, audit drained."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager

from dependency_injector import providers

from entrypoints.containers import VaultContainer
from entrypoints.runtime.stack import prepare_environment
from entrypoints.settings import Settings


def vault_settings(stack: ExitStack) -> Settings:
    """Settings with a database and an HSM: configured ones, or the local ones under .data/."""
    return prepare_environment(Settings.from_env(), stack, say=lambda *_: None)


@asynccontextmanager
async def open_vault(settings: Settings) -> AsyncIterator[VaultContainer]:
    container = VaultContainer()
    container.settings.override(providers.Object(settings))
    database = container.database()
    await database.open()
    try:
        yield container
    finally:
        await container.audit().drain()
        await database.close()
        await asyncio.to_thread(container.hsm().close)
