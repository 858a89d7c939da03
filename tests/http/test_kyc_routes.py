"""KYC over HTTP on the session's PostgreSQL: with the simulated vendor a new cardholder comes back
verified (and can get a card at once); a sanctions-blocked one is held for ops; with the default
manual provider a new cardholder waits for ops, whose decision records who decided and why."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator

import pytest
from dependency_injector import providers
from litestar.testing import TestClient

from adapters.memory.compliance import InMemoryComplianceTransactions
from adapters.memory.vault import InMemoryVault
from domain.access.model import parse_token
from entrypoints.containers import CoreContainer
from entrypoints.http.core.app import create_core_app
from entrypoints.settings import KycSettings


@pytest.fixture(scope="module")
def simulated(settings) -> Iterator[TestClient]:
    """A core with the simulated vendor; compliance in memory, so start-up stores the shipped sample list."""
    assert settings.env == "development"
    container = CoreContainer()
    container.settings.override(providers.Object(dataclasses.replace(
        settings, kyc=KycSettings(provider="simulated", simulated_tier="standard"))))
    container.compliance_transactions.override(providers.Object(InMemoryComplianceTransactions()))
    container.vault_client.override(providers.Object(InMemoryVault()))
    with TestClient(create_core_app(container)) as client:
        yield client


@pytest.fixture(scope="module")
def program_id(simulated, core_keys) -> str:
    program_id = f"prog_kyc_{uuid.uuid4().hex[:8]}"
    program = simulated.post("/v1/programs", headers=core_keys.headers("ops"),
                             json={"id": program_id, "name": "KYC", "bin": "424242", "currency": "EUR"})
    assert program.status_code == 201, program.text
    return program_id


def test_with_the_simulated_vendor_a_new_cardholder_comes_back_verified(simulated, core_keys, program_id):
    app = core_keys.headers("app")
    created = simulated.post("/v1/cardholders", headers=app,
                             json={"name": "Jane Traveller", "country": "DE", "email": "jane@example.com"})
    assert created.status_code == 201, created.text
    holder = created.json()
    assert holder["screening"]["status"] == "clear"
    assert (holder["kyc_status"], holder["kyc_tier"], holder["kyc_source"]) == ("verified", "standard", "simulated")
    assert "simulated" in holder["kyc_reason"]
    stored = simulated.get(f"/v1/cardholders/{holder['id']}", headers=app).json()
    assert {k: stored[k] for k in ("kyc_status", "kyc_tier", "kyc_source", "kyc_reason")} == {
        k: holder[k] for k in ("kyc_status", "kyc_tier", "kyc_source", "kyc_reason")}

    # no ops step: the card is issued at once
    card = simulated.post("/v1/cards", headers=app, json={"cardholder_id": holder["id"], "program_id": program_id})
    assert card.status_code == 201, card.text


def test_the_simulated_vendor_rejects_by_its_marker_and_a_rejected_holder_gets_no_card(simulated, core_keys,
                                                                                      program_id):
    app = core_keys.headers("app")
    holder = simulated.post("/v1/cardholders", headers=app, json={"name": "Rejected Example", "country": "FR"}).json()
    assert (holder["kyc_status"], holder["kyc_tier"], holder["kyc_source"]) == ("rejected", None, "simulated")
    refused = simulated.post("/v1/cards", headers=app, json={"cardholder_id": holder["id"], "program_id": program_id})
    assert refused.status_code == 409 and refused.json()["code"] == "cardholder_rejected"


def test_a_sanctions_blocked_cardholder_is_not_verified_by_the_vendor(simulated, core_keys):
    holder = simulated.post("/v1/cardholders", headers=core_keys.headers("app"), json={
        "name": "Elvis Logan Morey", "birth_date": "1963-07-28", "country": "BZ"}).json()
    assert holder["screening"]["status"] == "blocked"
    assert (holder["kyc_status"], holder["kyc_tier"], holder["kyc_source"]) == ("pending", None, "screening")


def test_a_replay_answers_the_same_kyc(simulated, core_keys):
    headers = {**core_keys.headers("app"), "Idempotency-Key": f"kyc-{uuid.uuid4().hex}"}
    body = {"name": "Needs Review", "country": "DE"}
    first = simulated.post("/v1/cardholders", headers=headers, json=body)
    again = simulated.post("/v1/cardholders", headers=headers, json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["kyc_source"] == again.json()["kyc_source"] == "simulated"
    assert first.json()["kyc_status"] == again.json()["kyc_status"] == "pending"


def test_with_the_default_manual_provider_ops_decide(core_client, core_keys):
    app, ops = core_keys.headers("app"), core_keys.headers("ops")
    holder = core_client.post("/v1/cardholders", headers=app, json={"name": "Margarethe Quill", "country": "DE"})
    assert holder.status_code == 201, holder.text
    holder = holder.json()
    # the shared database screens against whichever list another test stored last: clear, surely, for this name
    assert holder["screening"]["status"] == "clear"
    assert (holder["kyc_status"], holder["kyc_tier"], holder["kyc_source"], holder["kyc_reason"]) == (
        "pending", None, "manual", "awaiting manual review by ops")

    decided = core_client.post(f"/v1/cardholders/{holder['id']}/kyc", headers=ops,
                               json={"decision": "verified", "tier": "premium", "evidence": "passport checked"})
    assert decided.status_code == 200, decided.text
    ops_key = parse_token(core_keys.tokens["ops"])[0]
    assert {k: decided.json()[k] for k in ("kyc_status", "kyc_tier", "kyc_source", "kyc_reason")} == {
        "kyc_status": "verified", "kyc_tier": "premium", "kyc_source": f"ops:{ops_key}",
        "kyc_reason": "passport checked"}
    stored = core_client.get(f"/v1/cardholders/{holder['id']}", headers=app).json()
    assert (stored["kyc_source"], stored["kyc_reason"]) == (f"ops:{ops_key}", "passport checked")
