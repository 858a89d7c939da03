"""One contract for VaultClient, run against the in-memory vault and the HTTP adapter talking to a
real vault process (SoftHSM2 and PostgreSQL behind it)."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from adapters.memory.vault import InMemoryVault
from adapters.vault_http.client import HttpVaultClient
from application.ports.vault import VaultClient
from domain.shared.errors import Conflict, DomainError, InvalidInput, NotFound, Unavailable


@pytest.fixture(params=["memory", "http"])
def make_client(request):
    def build() -> VaultClient:
        if request.param == "memory":
            return InMemoryVault()
        urls, settings, _ = request.getfixturevalue("running_stack")
        return HttpVaultClient(urls["vault"], settings.vault_api_key)

    return build


def run(make_client, scenario):
    client = make_client()

    async def main():
        try:
            return await scenario(client)
        finally:
            if hasattr(client, "close"):
                await client.close()

    return asyncio.run(main())


def key() -> str:
    return f"card-{uuid.uuid4()}"


def test_issue_returns_a_token_and_never_a_pan(make_client):
    async def scenario(vault):
        await vault.ping()
        return await vault.issue_pan("prog_1", "45678901", 6, 2030, key())

    card = run(make_client, scenario)
    assert card.token.startswith("tok_") and len(card.token) == 30
    assert card.bin == "45678901" and len(card.last4) == 4 and card.last4.isdigit()
    assert (card.exp_month, card.exp_year) == (6, 2030)


def test_issue_is_idempotent_by_key(make_client):
    async def scenario(vault):
        k = key()
        first = await vault.issue_pan("prog_1", "456789", 1, 2031, k)
        again = await vault.issue_pan("prog_1", "456789", 1, 2031, k)
        other = await vault.issue_pan("prog_1", "456789", 1, 2031, key())
        with pytest.raises(Conflict) as conflict:
            await vault.issue_pan("prog_1", "456789", 2, 2031, k)
        return first, again, other, conflict.value.code

    first, again, other, code = run(make_client, scenario)
    assert first == again and other.token != first.token
    assert code == "idempotency_conflict"


@pytest.mark.parametrize("bin_, month", [("0123456", 1), ("12345", 1), ("456789", 13)])
def test_bad_requests_are_invalid_input(make_client, bin_, month):
    async def scenario(vault):
        with pytest.raises(InvalidInput):
            await vault.issue_pan("prog_1", bin_, month, 2031, key())

    run(make_client, scenario)


def test_shred_is_repeatable_and_unknown_tokens_are_not_found(make_client):
    async def scenario(vault):
        card = await vault.issue_pan("prog_1", "456789", 1, 2031, key())
        await vault.shred(card.token)
        await vault.shred(card.token)
        with pytest.raises(NotFound) as missing:
            await vault.shred("tok_" + "0" * 26)
        return missing.value.code

    assert run(make_client, scenario) == "token_not_found"


def test_unreachable_vault_is_unavailable():
    async def scenario():
        client = HttpVaultClient("http://127.0.0.1:9", "bsk_x_y", timeout=0.5)
        try:
            with pytest.raises(Unavailable):
                await client.ping()
            with pytest.raises(Unavailable) as exc:
                await client.issue_pan("p", "456789", 1, 2031, key())
            assert isinstance(exc.value, DomainError)
        finally:
            await client.close()

    asyncio.run(scenario())
