"""A fresh vault per test: its own PostgreSQL database, a private key-label prefix on the
session's SoftHSM token, and custodians with real Ed25519 keys."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from dependency_injector import providers

from entrypoints.containers import VaultContainer
from entrypoints.runtime import embedded_postgres
from entrypoints.runtime.bootstrap import migrate_schemas
from entrypoints.settings import Settings
from vault.ceremony.custodian_keys import public_key_of, sign_acknowledgement, sign_proposal
from vault.ceremony.model import Ceremony, Step
from vault.ceremony.service import Outcome

T = TypeVar("T")
OPERATOR = "test-operator"


@dataclass
class Vault:
    """The vault's services over a fresh database; ``run`` drives a coroutine against them."""

    container: VaultContainer
    custodians: dict[str, Ed25519PrivateKey] = field(default_factory=dict)

    def run(self, scenario: Callable[[VaultContainer], Awaitable[T]]) -> T:
        async def main() -> T:
            database = self.container.database()
            await database.open()
            try:
                return await scenario(self.container)
            finally:
                await self.container.audit().drain()
                await database.close()
                self.container.reset_singletons()  # a pool cannot reopen: the next run gets fresh ones

        return asyncio.run(main())

    async def add_custodians(self, names: list[str]) -> None:
        ceremonies = self.container.ceremonies()
        for name in names:
            key = Ed25519PrivateKey.generate()
            custodian = await ceremonies.register_custodian(name, public_key_of(key), OPERATOR)
            await ceremonies.acknowledge(name, sign_acknowledgement(key, custodian.acknowledgement))
            self.custodians[name] = key

    async def approve(self, ceremony: Ceremony, names: list[str]) -> Ceremony:
        ceremonies = self.container.ceremonies()
        for name in names:
            _, signature = sign_proposal(self.custodians[name], ceremony.proposal)
            ceremony = await ceremonies.approve(ceremony.id, name, signature)
        return ceremony

    async def ceremony(self, step: Step, approvers: list[str], **execute: Any) -> Outcome:
        """Propose ``step``, have ``approvers`` sign it, execute it."""
        ceremonies = self.container.ceremonies()
        proposal = await ceremonies.propose(step, OPERATOR)
        await self.approve(proposal, approvers)
        return await ceremonies.execute(proposal.id, OPERATOR, **execute)


@pytest.fixture
def make_vault(postgres_server_uri, hsm, softhsm_token) -> Iterator[Callable[..., Vault]]:
    """Build a fresh vault; keyword arguments are extra BURSAR_* settings."""
    names: list[str] = []

    def build(**env: str) -> Vault:
        name = f"bursar_vault_{uuid.uuid4().hex[:10]}"
        names.append(name)
        admin = embedded_postgres.ensure_database(postgres_server_uri, name)
        migrate_schemas(admin)
        settings = Settings.from_env({
            "DATABASE_URL": admin,
            "BURSAR_HSM_KEY_PREFIX": f"test-{uuid.uuid4().hex[:8]}",
            "BURSAR_DB_POOL_MIN": "1",
            "BURSAR_DB_POOL_MAX": "4",
            **env,
        })
        container = VaultContainer()
        container.settings.override(providers.Object(settings))
        container.hsm_config.override(providers.Object(softhsm_token))
        container.hsm.override(providers.Object(hsm))
        return Vault(container)

    yield build
    for name in names:
        embedded_postgres.drop_database(postgres_server_uri, name)
