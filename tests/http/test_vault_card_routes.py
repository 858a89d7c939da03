"""The vault's card-data routes: tokens and last four digits out, never a PAN; idempotent issuance."""

from __future__ import annotations

import uuid


def test_issue_returns_a_token_never_the_pan_and_is_idempotent(vault_client, vault_keys):
    headers = {**vault_keys.headers("core"), "Idempotency-Key": f"issue-{uuid.uuid4()}"}
    body = {"bin": "45678901", "exp_month": 11, "exp_year": 2030, "program_id": "prog_1"}
    first = vault_client.post("/v1/pans", json=body, headers=headers)
    assert first.status_code == 201, first.text
    card = first.json()
    assert set(card) == {"token", "bin", "last4", "exp_month", "exp_year"}
    assert card["token"].startswith("tok_") and card["bin"] == "45678901" and len(card["last4"]) == 4
    again = vault_client.post("/v1/pans", json=body, headers=headers)
    assert again.status_code == 200 and again.json() == card
    conflict = vault_client.post("/v1/pans", json={**body, "exp_year": 2031}, headers=headers)
    assert conflict.status_code == 409 and conflict.json()["code"] == "idempotency_conflict"
    other = vault_client.post("/v1/pans", json=body, headers=vault_keys.headers("core"))
    assert other.status_code == 201 and other.json()["token"] != card["token"]


def test_tokenize_is_stable_and_refuses_bad_pans_without_echo(vault_client, vault_keys):
    headers = vault_keys.headers("core")
    pan = "4012888888881881"
    first = vault_client.post("/v1/tokens", json={"pan": pan, "exp_month": 5, "exp_year": 2031}, headers=headers)
    again = vault_client.post("/v1/tokens", json={"pan": pan, "exp_month": 5, "exp_year": 2031}, headers=headers)
    assert first.status_code in (200, 201) and again.status_code == 200
    assert first.json() == again.json() == {"token": first.json()["token"], "last4": "1881"}
    for bad in ("4012888888881882", "4012 8888 8888 1881", "12345"):
        refused = vault_client.post("/v1/tokens", json={"pan": bad, "exp_month": 5, "exp_year": 2031}, headers=headers)
        assert refused.status_code == 422 and refused.json()["code"] == "invalid_pan"
        assert bad not in refused.text
    bad_bin = vault_client.post("/v1/pans", json={"bin": "0123", "exp_month": 1, "exp_year": 2030}, headers=headers)
    assert bad_bin.status_code == 400 and bad_bin.json()["code"] == "validation_error"
