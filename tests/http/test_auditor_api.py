"""The vault's auditor API over HTTP: read-only, never key material, and every read is audited."""

from __future__ import annotations

import asyncio

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from entrypoints.runtime.bootstrap import KeyAdmin
from vault.audit.checkpoint import open_note, parse_verifier_key


def _all_entries(client, headers) -> list[dict]:
    entries, cursor = [], None
    while True:
        page = client.get("/v1/audit/entries", params={"limit": 200, **({"cursor": cursor} if cursor else {})},
                          headers=headers).json()
        entries += page["data"]
        cursor = page["next_cursor"]
        if cursor is None:
            return entries


def test_key_inventory_shows_states_and_kcvs_never_material(vault_client, vault_keys):
    body = vault_client.get("/v1/keys", headers=vault_keys.headers("auditor")).json()
    by_purpose = {k["purpose"]: k for k in body["data"] if k["state"] == "active"}
    assert set(by_purpose) == {"kek", "blind_index", "cvv", "audit_signing"}
    assert by_purpose["kek"]["kcv_algorithm"] == "AES-ECB-ZERO-BLOCK" and len(by_purpose["kek"]["kcv"]) == 6
    assert by_purpose["cvv"]["kcv_algorithm"] == "HMAC-SHA256-ZERO-BLOCK"
    for key in body["data"]:
        assert key["attributes"]["local"] and key["attributes"]["sensitive"]
        assert not key["attributes"]["extractable"] and "value" not in key["attributes"]
        assert key["cryptoperiod_ends_at"] > key["created_at"]
    (vkey,) = body["verifier_keys"]
    assert parse_verifier_key(vkey).public_key.hex() == by_purpose["audit_signing"]["public_key"]


def test_ceremonies_come_with_signed_transcripts(vault_client, vault_keys):
    headers = vault_keys.headers("auditor")
    listed = vault_client.get("/v1/ceremonies", headers=headers).json()["data"]
    assert len(listed) >= 4 and all(c["status"] == "executed" for c in listed)
    audit_key = next(k for k in vault_client.get("/v1/keys", headers=headers).json()["data"]
                     if k["purpose"] == "audit_signing")
    for summary in listed:
        ceremony = vault_client.get(f"/v1/ceremonies/{summary['id']}", headers=headers).json()
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(audit_key["public_key"])).verify(
            bytes.fromhex(ceremony["transcript_signature"]), ceremony["transcript_canonical"].encode()
        )
        assert len(ceremony["transcript"]["approvals"]) >= 2
        assert ceremony["transcript"]["step_hash"] == ceremony["step_hash"]
    missing = vault_client.get("/v1/ceremonies/nope", headers=headers)
    assert missing.status_code == 404 and missing.json()["code"] == "ceremony_not_found"


def test_checkpoints_verify_against_the_entries(vault_client, vault_keys):
    headers = vault_keys.headers("auditor")
    vkeys = [parse_verifier_key(k) for k in vault_client.get("/v1/keys", headers=headers).json()["verifier_keys"]]
    checkpoints = vault_client.get("/v1/audit/checkpoints", headers=headers).json()["data"]
    assert checkpoints, "the ceremonies' entries are checkpointed"
    entries = {e["seq"]: e for e in _all_entries(vault_client, headers)}
    for record in checkpoints:
        checkpoint, _ = open_note(record["note"], vkeys)
        assert checkpoint.size == record["size"]
        assert checkpoint.head.hex() == record["head"] == entries[checkpoint.size]["hash"]


def test_refusals_credentials_and_reads_are_audited(vault_client, vault_keys, settings):
    vault_client.get("/v1/audit/entries", headers={"Authorization": "Bearer bsk_nosuchkey_secret"})
    vault_client.get("/v1/keys", headers=vault_keys.headers("core"))
    created = asyncio.run(KeyAdmin(settings).create("vault", "reveal", "audited"))
    vault_client.get("/v1/keys", headers={**vault_keys.headers("auditor"), "X-Request-Id": "audit-read-1"})
    entries = _all_entries(vault_client, vault_keys.headers("auditor"))
    by_action = {}
    for entry in entries:
        by_action.setdefault(entry["action"], []).append(entry)
    failed = [e for e in by_action["auth.failed"] if e["actor"]["id"] == "nosuchkey"]
    assert failed and failed[-1]["outcome"] == "denied" and failed[-1]["origin"]["request_id"]
    denied = [e for e in by_action["auth.denied"] if e["resource"]["id"] == "/v1/keys"]
    assert denied and denied[-1]["actor"]["role"] == "core"
    assert any(e["resource"]["id"] == created.key.id for e in by_action["credential.created"])
    reads = [e for e in by_action["audit.read"] if e["origin"]["request_id"] == "audit-read-1"]
    assert reads and reads[0]["actor"]["role"] == "auditor" and reads[0]["resource"]["type"] == "key"
    assert "service.started" in by_action
    serialized = str(entries)
    assert created.token not in serialized
