"""The audit log on PostgreSQL and SoftHSM2: chained appends, signed checkpoints, exports that
`bursar audit verify` checks offline -- and catches every kind of tampering."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from entrypoints.cli.main import cli
from vault.audit import checkpoint as notes
from vault.audit.entry import GENESIS, Actor, AuditEvent, Resource, chain_hash
from vault.audit.export import export_audit
from vault.audit.verify import verify_export
from vault.ceremony.model import Step, StepKind
from vault.keys.model import KeyPurpose

ACTOR = Actor(id="key_123", role="reveal")


def event(n: int) -> AuditEvent:
    return AuditEvent(action="reveal", actor=ACTOR, resource=Resource(type="token", id=f"tok_{n}"),
                      details={"n": n, "note": "ünïcode ✓"})


@pytest.fixture
def exported(make_vault, tmp_path) -> Path:
    """A real export: a bootstrapped vault, 60 concurrent entries, checkpoints every 25."""
    vault = make_vault(BURSAR_AUDIT_CHECKPOINT_ENTRIES="25")

    async def scenario(c):
        await vault.add_custodians(["alice", "bob", "carol"])
        await vault.ceremony(Step(kind=StepKind.GENERATE, purpose=KeyPurpose.AUDIT_SIGNING), ["alice", "bob"])
        audit = c.audit()
        await asyncio.gather(*(audit.record(event(n)) for n in range(30)))
        await audit.checkpoint()
        await asyncio.gather(*(audit.record(event(n)) for n in range(30, 60)))
        return await export_audit(audit, await c.keys().verifier_keys(), tmp_path / "export",
                                  Actor(id="auditor-test", role="operator"), lambda: datetime.now(UTC))

    summary = vault.run(scenario)
    assert summary.checkpoints >= 2
    return Path(summary.directory)


def read_entries(directory: Path) -> list[dict]:
    return [json.loads(line) for line in (directory / "entries.jsonl").read_text().splitlines()]


def write_entries(directory: Path, entries: list[dict]) -> None:
    (directory / "entries.jsonl").write_text("".join(json.dumps(e) + "\n" for e in entries))


def rehash_from(entries: list[dict], start: int) -> None:
    """What a careful forger does after an edit: recompute every hash from ``start`` on."""
    prev = bytes.fromhex(entries[start - 1]["hash"]) if start else GENESIS
    for entry in entries[start:]:
        entry["prev_hash"] = prev.hex()
        body = {k: v for k, v in entry.items() if k not in ("prev_hash", "hash")}
        entry["hash"] = chain_hash(prev, body).hex()
        prev = bytes.fromhex(entry["hash"])


def test_untouched_export_is_valid(exported):
    result = verify_export(exported)
    entries = read_entries(exported)
    assert result.valid, result.problem
    assert result.entries == len(entries) and result.uncovered == 0
    assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1))
    assert entries[-1]["action"] == "audit.exported"
    assert {e["action"] for e in entries} >= {"custodian.registered", "ceremony.executed", "key.generated"}


def test_cli_verifies_offline_with_the_public_key(exported, tmp_path):
    key_file = tmp_path / "audit.pub"
    shutil.copy(exported / "verifier-keys.txt", key_file)
    runner = CliRunner()
    ok = runner.invoke(cli, ["audit", "verify", str(exported), "--public-key", str(key_file)])
    assert ok.exit_code == 0 and ok.output.startswith("valid:"), ok.output
    entries = read_entries(exported)
    entries[10]["outcome"] = "denied"
    write_entries(exported, entries)
    bad = runner.invoke(cli, ["audit", "verify", str(exported), "--public-key", str(key_file)])
    assert bad.exit_code == 1 and "entry 11 was altered" in bad.output


def test_edited_field_is_detected(exported):
    entries = read_entries(exported)
    entries[20]["resource"]["id"] = "tok_other"
    write_entries(exported, entries)
    result = verify_export(exported)
    assert not result.valid and result.broken_seq == 21
    assert result.problem == "entry 21 was altered: its contents do not match its hash"


def test_deleted_entry_is_detected(exported):
    entries = read_entries(exported)
    del entries[15]
    write_entries(exported, entries)
    result = verify_export(exported)
    assert not result.valid and result.broken_seq == 16
    assert "entry 16 is missing" in result.problem


def test_inserted_entry_is_detected(exported):
    entries = read_entries(exported)
    forged = dict(entries[30], resource={"type": "token", "id": "tok_forged"})
    entries.insert(31, forged)
    write_entries(exported, entries)
    result = verify_export(exported)
    assert not result.valid and result.broken_seq == 31
    assert "holds entry 31 again" in result.problem


def test_inserted_entry_with_renumbering_is_detected(exported):
    entries = read_entries(exported)
    forged = dict(entries[30], resource={"type": "token", "id": "tok_forged"})
    entries.insert(31, forged)
    for seq, entry in enumerate(entries, start=1):
        entry["seq"] = seq
    write_entries(exported, entries)
    result = verify_export(exported)
    assert not result.valid and result.broken_seq == 32
    assert "altered" in result.problem or "does not link" in result.problem


def test_reordered_entries_are_detected(exported):
    entries = read_entries(exported)
    entries[40], entries[41] = entries[41], entries[40]
    write_entries(exported, entries)
    result = verify_export(exported)
    assert not result.valid and result.broken_seq == 41
    assert "entry 41 is missing: line 41 holds entry 42" in result.problem


def test_truncation_after_the_last_checkpoint_is_detected(exported):
    entries = read_entries(exported)
    write_entries(exported, entries[:-3])
    result = verify_export(exported)
    assert not result.valid and result.broken_seq == len(entries) - 2
    assert re.fullmatch(rf"the log was truncated: a signed checkpoint covers \d+ entries "
                        rf"but the export ends at entry {len(entries) - 3}", result.problem)


def test_rewritten_history_is_caught_by_a_checkpoint(exported):
    entries = read_entries(exported)
    entries[5]["actor"]["id"] = "someone_else"
    rehash_from(entries, 5)
    write_entries(exported, entries)
    result = verify_export(exported)
    assert not result.valid and "do not match the signed checkpoint" in result.problem


def test_forged_checkpoint_and_wrong_key_are_refused(exported, tmp_path):
    lines = (exported / "checkpoints.jsonl").read_text().splitlines()
    record = json.loads(lines[-1])
    body, signature_line = record["note"].split("\n\n")
    name, blob = signature_line[2:].split(" ")
    raw = base64.b64decode(blob)
    tampered = raw[:4] + bytes([raw[4] ^ 1]) + raw[5:]
    record["note"] = f"{body}\n\n\u2014 {name} {base64.b64encode(tampered).decode()}\n"
    (exported / "checkpoints.jsonl").write_text("\n".join([*lines[:-1], json.dumps(record)]) + "\n")
    result = verify_export(exported)
    assert not result.valid and "does not verify" in result.problem

    stranger = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    wrong = verify_export(exported, [notes.verifier_key("bursar.local/vault/audit-log", stranger)])
    assert not wrong.valid and "no signature from a known audit key" in wrong.problem


def test_database_refuses_rewrites_and_broken_links(make_vault):
    vault = make_vault()

    async def scenario(c):
        await c.audit().record(event(1))
        await c.audit().record(event(2))

    vault.run(scenario)
    url = vault.container.settings().database.for_vault()
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in ("UPDATE vault.audit_log SET outcome = 'denied' WHERE seq = 1",
                          "DELETE FROM vault.audit_log WHERE seq = 2",
                          "TRUNCATE vault.audit_log"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
        with pytest.raises(psycopg.errors.CheckViolation, match="hash chain"):
            conn.execute(
                "INSERT INTO vault.audit_log (seq, at, action, actor_id, actor_role, resource_type, resource_id, "
                "outcome, details, prev_hash, hash) VALUES (3, now(), 'x', 'a', 'b', 'c', 'd', 'success', '{}', %s, %s)",
                (bytes(32), bytes(32)),
            )
    admin = vault.container.settings().database.require_admin()
    with psycopg.connect(admin, autocommit=True) as conn:  # even the owner cannot rewrite it
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            conn.execute("DELETE FROM vault.audit_log")


def test_concurrent_appends_form_one_chain(make_vault):
    vault = make_vault()

    async def scenario(c):
        audit = c.audit()
        await asyncio.gather(*(audit.record(event(n)) for n in range(300)))
        return await audit.store.entries(limit=1000)

    entries = vault.run(scenario)
    assert [e.seq for e in entries] == list(range(1, 301))
    prev = GENESIS
    for entry in entries:
        assert entry.prev_hash == prev and chain_hash(prev, entry.body()) == entry.hash
        prev = entry.hash
    assert sorted(e.event.details["n"] for e in entries) == list(range(300))
