"""The whole product over HTTP, as real processes on real PostgreSQL and SoftHSM2:

cardholder -> KYC -> card (PAN issued in the vault) -> funding -> authorization in a foreign
currency through the vault's PAN entry -> clearing -> refund -> reveal with a grant (once) ->
the audit log exports and verifies; and nowhere in the core's tables is the PAN.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import psycopg
import pytest

from domain.access.model import parse_token
from entrypoints.runtime.bootstrap import KeyAdmin

ROOT = Path(__file__).resolve().parents[2]
MERCHANT = {"name": "Blue Bottle NYC", "mcc": "5814", "country": "US"}


@pytest.fixture(scope="module")
def keys(running_stack):
    _, settings, _ = running_stack

    async def create():
        admin = KeyAdmin(settings)
        core = {role: (await admin.create("core", role, f"flow {role}")).token for role in ("app", "ops", "reveal")}
        vault = {"reveal": (await admin.create("vault", "reveal", "flow reveal")).token,
                 "network": (await admin.create("vault", "network", "flow network")).token}
        return core, vault

    return asyncio.run(create())


def _h(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **extra}


def test_cardholder_to_refund_through_the_vault_with_reveal_and_audit(running_stack, keys, database, tmp_path,
                                                                     vault_bootstrapped):
    urls, settings, _ = running_stack
    core_keys, vault_keys = keys
    core, vault = httpx.Client(base_url=urls["core"]), httpx.Client(base_url=urls["vault"])
    tag = uuid.uuid4().hex[:8]

    program = core.post("/v1/programs", headers=_h(core_keys["ops"]), json={
        "id": f"prog_{tag}", "name": "Travel EUR", "bin": "45678901", "currency": "EUR", "fx_markup_bps": 200})
    assert program.status_code == 201, program.text
    holder = core.post("/v1/cardholders", headers=_h(core_keys["app"], **{"Idempotency-Key": tag}),
                       json={"name": "Jane Traveller", "country": "DE", "birth_date": "1990-04-01"})
    assert holder.status_code == 201, holder.text
    holder_id = holder.json()["id"]
    assert holder.json()["kyc_status"] == "pending" and "screening" in holder.json()
    kyc = core.post(f"/v1/cardholders/{holder_id}/kyc", headers=_h(core_keys["ops"]),
                    json={"decision": "verified", "tier": "standard"})
    assert kyc.status_code == 200 and kyc.json()["kyc_status"] == "verified"

    issued = core.post("/v1/cards", headers=_h(core_keys["app"], **{"Idempotency-Key": f"card-{tag}"}),
                       json={"cardholder_id": holder_id, "program_id": f"prog_{tag}"})
    assert issued.status_code == 201, issued.text
    card = issued.json()
    again = core.post("/v1/cards", headers=_h(core_keys["app"], **{"Idempotency-Key": f"card-{tag}"}),
                      json={"cardholder_id": holder_id, "program_id": f"prog_{tag}"})
    assert again.status_code == 200 and again.json()["token"] == card["token"]
    assert card["token"].startswith("tok_") and card["bin"] == "45678901" and card["currency"] == "EUR"

    funded = core.post(f"/v1/cards/{card['id']}/fundings", headers=_h(core_keys["app"]),
                       json={"id": f"fund-{tag}", "amount": 10_000, "currency": "EUR"})
    assert funded.status_code == 201, funded.text

    # The reveal client gets a grant from the core and the card details from the vault, once.
    redeemer = parse_token(vault_keys["reveal"])[0]
    grant = core.post(f"/v1/cards/{card['id']}/reveal-grants", headers=_h(core_keys["reveal"]),
                      json={"vault_credential_id": redeemer})
    assert grant.status_code == 201, grant.text
    revealed = vault.post("/v1/reveal", headers=_h(vault_keys["reveal"]), json={"grant": grant.json()["grant"]})
    assert revealed.status_code == 200 and revealed.headers["cache-control"] == "no-store"
    pan = revealed.json()["pan"]
    assert pan.startswith("45678901") and pan.endswith(card["last4"])
    replay = vault.post("/v1/reveal", headers=_h(vault_keys["reveal"]), json={"grant": grant.json()["grant"]})
    assert replay.status_code == 403 and replay.json()["code"] == "grant_replayed"

    # A USD purchase arrives with the PAN at the vault, which asks the core by token.
    message = {"message_id": f"auth-{tag}", "pan": pan, "amount": 2_000, "currency": "USD", "merchant": MERCHANT}
    decision = vault.post("/v1/network/authorizations", headers=_h(vault_keys["network"]), json=message)
    assert decision.status_code == 200, decision.text
    auth = decision.json()
    assert auth["approved"] and auth["response_code"] == "00" and auth["card_currency"] == "EUR"
    assert vault.post("/v1/network/authorizations", headers=_h(vault_keys["network"]), json=message).json() == auth
    balance = core.get(f"/v1/cards/{card['id']}/balance", headers=_h(core_keys["app"])).json()
    assert balance == {"currency": "EUR", "posted": 10_000, "pending": auth["card_amount"],
                       "available": 10_000 - auth["card_amount"]}

    network = _h(settings.core_api_key)
    cleared = core.post("/v1/network/clearings", headers=network, json={
        "message_id": f"clear-{tag}", "authorization_id": auth["authorization_id"], "card_token": card["token"],
        "amount": 2_000, "currency": "USD", "merchant": MERCHANT})
    assert cleared.status_code == 200, cleared.text
    clearing = cleared.json()
    assert clearing["card_amount"] == auth["card_amount"] and clearing["fee"] > 0 and clearing["shortfall"] == 0
    refund = core.post("/v1/network/refunds", headers=network, json={
        "message_id": f"refund-{tag}", "card_token": card["token"], "amount": 500, "currency": "EUR",
        "merchant": MERCHANT})
    assert refund.status_code == 200, refund.text
    balance = core.get(f"/v1/cards/{card['id']}/balance", headers=_h(core_keys["app"])).json()
    assert balance == {"currency": "EUR", "posted": 10_000 - clearing["card_amount"] + 500, "pending": 0,
                       "available": 10_000 - clearing["card_amount"] + 500}

    # Every cent is in the ledger: the fee sits in the program's FX revenue account.
    fees = core.get(f"/v1/ledger/accounts/prog_{tag}:fx_fees", headers=_h(core_keys["app"])).json()
    assert fees["balances"]["credits_posted"] == clearing["fee"]
    settlement = core.get(f"/v1/ledger/accounts/prog_{tag}:settlement", headers=_h(core_keys["app"])).json()
    owed = settlement["balances"]["credits_posted"] - settlement["balances"]["debits_posted"]
    assert owed == clearing["card_amount"] - clearing["fee"] - 500

    listed = core.get(f"/v1/cards/{card['id']}/authorizations", headers=_h(core_keys["app"])).json()["data"]
    assert [(a["id"], a["status"]) for a in listed] == [(auth["authorization_id"], "closed")]
    assert listed[0]["ledger_transfer_ids"]

    # The core's tables never hold the PAN; every state change wrote its event in its transaction.
    with psycopg.connect(database.admin_url) as conn:
        events = [t for (t,) in conn.execute(
            "SELECT type FROM core.events WHERE data->>'id' = %s OR data->>'card_id' = %s ORDER BY id",
            (card["id"], card["id"])).fetchall()]
        assert events == ["card.created", "authorization.approved", "transaction.cleared", "transaction.refunded"]
        tables = conn.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'core'").fetchall()
        for (table,) in tables:
            hits = conn.execute(f'SELECT count(*) FROM core."{table}" t WHERE t::text LIKE %s', (f"%{pan}%",)).fetchone()
            assert hits[0] == 0, f"core.{table} holds the PAN"

    # The audit log (reveals, refusals, issuance) exports and verifies offline.
    env = {**os.environ, **vault_bootstrapped}
    export = subprocess.run([sys.executable, "-m", "entrypoints.cli.main", "audit", "export", str(tmp_path / "a")],
                            cwd=ROOT, env=env, capture_output=True, text=True)
    assert export.returncode == 0, export.stderr
    verify = subprocess.run([sys.executable, "-m", "entrypoints.cli.main", "audit", "verify", str(tmp_path / "a")],
                            cwd=ROOT, env=env, capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    exported = (tmp_path / "a").read_text() if (tmp_path / "a").is_file() else "".join(
        p.read_text() for p in (tmp_path / "a").iterdir())
    assert pan not in exported and "card.revealed" in exported
