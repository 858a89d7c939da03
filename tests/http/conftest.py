"""Both apps in process, wired to the session's real PostgreSQL database and SoftHSM token."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from dependency_injector import providers
from litestar.testing import TestClient

from entrypoints.containers import CoreContainer, VaultContainer
from entrypoints.http.core.app import create_core_app
from entrypoints.http.vault.app import create_vault_app
from entrypoints.runtime.bootstrap import KeyAdmin
from entrypoints.settings import Settings


@dataclass
class Keys:
    """One key per role of an app: role -> bearer token."""

    tokens: dict[str, str]

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


@pytest.fixture(scope="session")
def settings(vault_bootstrapped) -> Settings:
    return Settings.from_env(vault_bootstrapped)


def _keys(settings: Settings, app: str) -> Keys:
    from domain.access.model import ROLES

    admin = KeyAdmin(settings)

    async def create_all() -> dict[str, str]:
        return {role: (await admin.create(app, role, f"test {role}")).token for role in sorted(ROLES[app])}

    return Keys(asyncio.run(create_all()))


@pytest.fixture(scope="session")
def core_keys(settings) -> Keys:
    return _keys(settings, "core")


@pytest.fixture(scope="session")
def vault_keys(settings) -> Keys:
    return _keys(settings, "vault")


@pytest.fixture(scope="session")
def core_container(settings) -> CoreContainer:
    container = CoreContainer()
    container.settings.override(providers.Object(settings))
    return container


@pytest.fixture(scope="session")
def vault_container(settings, hsm, softhsm_token) -> VaultContainer:
    container = VaultContainer()
    container.settings.override(providers.Object(settings))
    container.hsm_config.override(providers.Object(softhsm_token))
    container.hsm.override(providers.Object(hsm))
    return container


@pytest.fixture(scope="session")
def core_client(core_container) -> Iterator[TestClient]:
    with TestClient(create_core_app(core_container)) as client:
        yield client


@pytest.fixture(scope="session")
def vault_client(vault_container) -> Iterator[TestClient]:
    with TestClient(create_vault_app(vault_container)) as client:
        yield client
