"""One contract, two ApiKeyRepository adapters: in memory and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest

from adapters.memory.api_keys import InMemoryApiKeys
from adapters.postgres.api_keys import PostgresApiKeys
from adapters.postgres.database import Database
from domain.access.model import ApiKey

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture(params=["memory", "postgres"])
def repo_factory(request, database):
    async def make():
        if request.param == "memory":
            return InMemoryApiKeys(), None
        db = Database(database.core_url, min_size=1, max_size=2)
        await db.open()
        return PostgresApiKeys(db.pool, schema="core"), db

    return make


def run_contract(repo_factory, body):
    async def scenario():
        repo, db = await repo_factory()
        try:
            await body(repo)
        finally:
            if db:
                await db.close()

    asyncio.run(scenario())


def key(**overrides) -> ApiKey:
    fields = dict(id=uuid.uuid4().hex, app="core", role="app", name="n", secret_hash="h", created_at=NOW)
    return ApiKey(**{**fields, **overrides})


def test_add_get_round_trip(repo_factory):
    async def body(repo):
        k = key()
        await repo.add(k)
        assert await repo.get(k.id) == k
        assert await repo.get("missing") is None

    run_contract(repo_factory, body)


def test_revoke_is_idempotent_and_keeps_first_time(repo_factory):
    async def body(repo):
        k = key()
        await repo.add(k)
        first = await repo.revoke(k.id, NOW)
        again = await repo.revoke(k.id, datetime(2027, 1, 1, tzinfo=UTC))
        assert first.revoked_at == again.revoked_at == NOW
        assert await repo.revoke("missing", NOW) is None

    run_contract(repo_factory, body)


def test_list_contains_added_keys_in_id_order(repo_factory):
    async def body(repo):
        ids = sorted(uuid.uuid4().hex for _ in range(3))
        for key_id in reversed(ids):
            await repo.add(key(id=key_id))
        listed = [k.id for k in await repo.list("core") if k.id in ids]
        assert listed == ids

    run_contract(repo_factory, body)
