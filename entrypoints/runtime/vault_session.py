"""The vault's services for a CLI command: database pool open, HSM on first use, audit drained."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import ExitStack, asynccontextmanager
from typing import TypeVar

from dependency_injector import providers

from entrypoints.containers import VaultContainer
from entrypoints.runtime.stack import prepare_environment
from entrypoints.settings import Settings

T = TypeVar("T")


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


def run_with_vault(work: Callable[[VaultContainer], Awaitable[T]]) -> T:
    """Run ``work`` against the vault's services from synchronous code (a CLI command)."""

    async def run() -> T:
        async with open_vault(settings) as vault:
            return await work(vault)

    with ExitStack() as stack:
        settings = vault_settings(stack)
        return asyncio.run(run())
