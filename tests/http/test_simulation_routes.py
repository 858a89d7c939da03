"""``/v1/simulate/*`` over HTTP: an ops key drives an authorization, an increment, a partial
reversal, a clearing, a force post and a refund by card id, each answered like the network entry;
an Idempotency-Key repeats the answer without a second effect; in production the routes are gone."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator

import pytest
from dependency_injector import providers
from litestar.testing import TestClient

from adapters.memory.vault import InMemoryVault
from entrypoints.containers import CoreContainer
from entrypoints.http.core.app import create_core_app


def _client(settings) -> TestClient:
    container = CoreContainer()
    container.settings.override(providers.Object(settings))
    container.vault_client.override(providers.Object(InMemoryVault()))
    return TestClient(create_core_app(container))


@pytest.fixture(scope="module")
def client(settings) -> Iterator[TestClient]:
    with _client(settings) as client:
        yield client


@pytest.fixture(scope="module")
def card(client, core_keys) -> dict:
    ops, app = core_keys.headers("ops"), core_keys.headers("app")
    tag = uuid.uuid4().hex[:8]
    program = client.post("/v1/programs", headers=ops, json={"id": f"prog_sim_{tag}", "name": "Sim", "bin": "424242",
                                                             "currency": "USD"})
    assert program.status_code == 201, program.text
    holder = client.post("/v1/cardholders", headers=app, json={"name": "Simone Ulator", "country": "US"}).json()
    assert client.post(f"/v1/cardholders/{holder['id']}/kyc", headers=ops,
                       json={"decision": "verified", "tier": "standard"}).status_code == 200
    card = client.post("/v1/cards", headers=app, json={"cardholder_id": holder["id"], "program_id": program.json()["id"]})
    assert card.status_code == 201, card.text
    card = card.json()
    funded = client.post(f"/v1/cards/{card['id']}/fundings", headers=app,
                         json={"id": f"fund-{tag}", "amount": 100_00, "currency": "USD"})
    assert funded.status_code == 201, funded.text
    return card


def _balance(client, core_keys, card_id: str) -> dict:
    return client.get(f"/v1/cards/{card_id}/balance", headers=core_keys.headers("app")).json()


def test_a_purchase_lifecycle_driven_by_card_id(client, core_keys, card):
    ops = core_keys.headers("ops")
    auth = client.post(f"/v1/simulate/cards/{card['id']}/authorizations", headers=ops, json={"amount": 40_00})
    assert auth.status_code == 200, auth.text
    auth = auth.json()
    assert (auth["approved"], auth["response_code"], auth["card_currency"]) == (True, "00", "USD")
    auth_id = auth["authorization_id"]
    assert _balance(client, core_keys, card["id"])["pending"] == 40_00

    grown = client.post(f"/v1/simulate/authorizations/{auth_id}/increments", headers=ops, json={"amount": 10_00})
    assert grown.json()["approved"], grown.text
    cut = client.post(f"/v1/simulate/authorizations/{auth_id}/reversals", headers=ops, json={"amount": 20_00})
    assert cut.json()["approved"], cut.text
    assert _balance(client, core_keys, card["id"])["pending"] == 30_00

    cleared = client.post(f"/v1/simulate/authorizations/{auth_id}/clearings", headers=ops, json={})
    assert cleared.status_code == 200, cleared.text
    balance = _balance(client, core_keys, card["id"])
    assert (balance["posted"], balance["pending"]) == (70_00, 0)

    refund = client.post(f"/v1/simulate/cards/{card['id']}/refunds", headers=ops, json={"amount": 5_00})
    assert refund.status_code == 200, refund.text
    forced = client.post(f"/v1/simulate/cards/{card['id']}/force-posts", headers=ops,
                         json={"amount": 1_00, "merchant": {"name": "Late Café", "mcc": "5814", "country": "FR"}})
    assert forced.status_code == 200, forced.text
    assert _balance(client, core_keys, card["id"])["posted"] == 70_00 + 5_00 - 1_00


def test_an_idempotency_key_repeats_the_answer_without_a_second_hold(client, core_keys, card):
    headers = {**core_keys.headers("ops"), "Idempotency-Key": f"sim-{uuid.uuid4()}"}
    before = _balance(client, core_keys, card["id"])["pending"]
    first = client.post(f"/v1/simulate/cards/{card['id']}/authorizations", headers=headers, json={"amount": 3_00})
    again = client.post(f"/v1/simulate/cards/{card['id']}/authorizations", headers=headers, json={"amount": 3_00})
    assert first.json() == again.json()
    assert _balance(client, core_keys, card["id"])["pending"] == before + 3_00
    other = client.post(f"/v1/simulate/cards/{card['id']}/authorizations", headers=headers, json={"amount": 4_00})
    assert (other.status_code, other.json()["code"]) == (409, "idempotency_conflict")


def test_unknown_card_and_bad_input_are_problems(client, core_keys):
    ops = core_keys.headers("ops")
    missing = client.post("/v1/simulate/cards/card_nope/authorizations", headers=ops, json={"amount": 1})
    assert (missing.status_code, missing.json()["code"]) == (404, "card_not_found")
    bad = client.post("/v1/simulate/cards/card_nope/authorizations", headers=ops, json={"amount": -5})
    assert bad.status_code == 400 and bad.headers["content-type"].startswith("application/problem+json")


def test_simulation_is_ops_only(client, core_keys, card):
    for role in ("app", "network", "auditor"):
        refused = client.post(f"/v1/simulate/cards/{card['id']}/authorizations", headers=core_keys.headers(role),
                              json={"amount": 1})
        assert refused.status_code == 403, role


def test_there_is_no_simulation_in_production(settings, core_keys):
    app = create_core_app(_container(dataclasses.replace(settings, env="production")))
    assert not [r for r in app.routes if r.path.startswith("/v1/simulate")]
    assert [r for r in create_core_app(_container(settings)).routes if r.path.startswith("/v1/simulate")]


def _container(settings) -> CoreContainer:
    container = CoreContainer()
    container.settings.override(providers.Object(settings))
    return container


def test_a_sharded_program_settles_each_card_on_its_own_shard(client, core_keys):
    ops, app = core_keys.headers("ops"), core_keys.headers("app")
    tag = uuid.uuid4().hex[:8]
    program = client.post("/v1/programs", headers=ops, json={
        "id": f"prog_shard_{tag}", "name": "Sharded", "bin": "424242", "currency": "USD", "settlement_shards": 4})
    assert program.status_code == 201, program.text
    assert program.json()["settlement_shards"] == 4
    settlement = program.json()["accounts"]["settlement"]
    shards = [f"{settlement}:{k:02d}" for k in range(4)]
    for shard in shards:
        assert client.get(f"/v1/ledger/accounts/{shard}", headers=app).status_code == 200
    spent = 0
    for n in range(3):
        holder = client.post("/v1/cardholders", headers=app, json={"name": f"Shard Holder {n}", "country": "US"}).json()
        client.post(f"/v1/cardholders/{holder['id']}/kyc", headers=ops, json={"decision": "verified"})
        card = client.post("/v1/cards", headers=app, json={"cardholder_id": holder["id"],
                                                           "program_id": f"prog_shard_{tag}"}).json()
        client.post(f"/v1/cards/{card['id']}/fundings", headers=app,
                    json={"id": f"fund-{tag}-{n}", "amount": 50_00, "currency": "USD"})
        auth = client.post(f"/v1/simulate/cards/{card['id']}/authorizations", headers=ops,
                           json={"amount": 10_00 + n}).json()
        assert auth["approved"], auth
        client.post(f"/v1/simulate/authorizations/{auth['authorization_id']}/clearings", headers=ops, json={})
        spent += 10_00 + n
    owed = 0
    for account in [settlement, *shards]:
        balances = client.get(f"/v1/ledger/accounts/{account}", headers=app).json()["balances"]
        owed += balances["credits_posted"] - balances["debits_posted"]
    assert owed == spent, "what the program owes the network is the sum over its shards"
    base = client.get(f"/v1/ledger/accounts/{settlement}", headers=app).json()["balances"]
    assert base["credits_posted"] == 0, "a sharded program's cards never touch the base account"
