"""Key ceremonies on SoftHSM2 and PostgreSQL: quorum, key life cycle, backups, signed transcripts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from dependency_injector import providers
from pkcs11 import Attribute

from hsm.keys import destroy_keys
from vault.canonical import sha256_hex
from vault.ceremony.custodian_keys import sign_acknowledgement, sign_proposal
from vault.ceremony.model import CeremonyStatus, Step, StepKind
from vault.errors import Conflict, Forbidden, InvalidRequest, KeyStateError, NotFound
from vault.keys.model import PROTECTS, KeyPurpose, KeyState

from .conftest import OPERATOR

AUDIT = Step(kind=StepKind.GENERATE, purpose=KeyPurpose.AUDIT_SIGNING)
KEK = KeyPurpose.KEK
CUSTODIANS = ["alice", "bob", "carol"]


class Clock:
    def __init__(self) -> None:
        self.moment = datetime.now(UTC)

    def now(self) -> datetime:
        return self.moment


async def _bootstrapped(vault):
    await vault.add_custodians(CUSTODIANS)
    return await vault.ceremony(AUDIT, ["alice", "bob"])


def test_first_ceremony_generates_the_audit_key_and_signs_its_transcript(make_vault):
    vault = make_vault()

    async def scenario(c):
        outcome = await _bootstrapped(vault)
        return outcome.ceremony, await c.keys().active(KeyPurpose.AUDIT_SIGNING)

    ceremony, audit_key = vault.run(scenario)
    assert ceremony.status == CeremonyStatus.EXECUTED
    transcript = json.loads(ceremony.transcript)
    Ed25519PublicKey.from_public_bytes(audit_key.public_key).verify(
        ceremony.transcript_signature, ceremony.transcript.encode()
    )
    assert ceremony.transcript_hash == sha256_hex(ceremony.transcript.encode())
    assert [a["name"] for a in transcript["approvals"]] == ["alice", "bob"]
    (key,) = transcript["result"]["keys"]
    assert key["state_before"] is None and key["state_after"] == "active" and key["algorithm"] == "Ed25519"
    assert key["attributes"]["local"] and key["attributes"]["never_extractable"]
    assert key["attributes"]["always_sensitive"] and not key["attributes"]["extractable"]
    assert transcript["software"]["token"]["label"] and transcript["software"]["bursar"]
    assert transcript["proposal"]["step"] == {"kind": "generate", "purpose": "audit_signing"}


def test_every_generated_key_is_local_sensitive_and_never_extractable(make_vault):
    vault = make_vault()

    async def scenario(c):
        await _bootstrapped(vault)
        for purpose in (KeyPurpose.KEK, KeyPurpose.BLIND_INDEX, KeyPurpose.CVV):
            await vault.ceremony(Step(kind=StepKind.GENERATE, purpose=purpose), ["bob", "carol"])
        return await c.key_store().all()

    records = vault.run(scenario)
    assert {r.purpose for r in records} == set(KeyPurpose)
    for record in records:
        assert record.state == KeyState.ACTIVE
        attributes = record.attributes
        assert attributes["local"] and attributes["sensitive"] and attributes["always_sensitive"]
        assert attributes["never_extractable"] and not attributes["extractable"]
        assert attributes["token"] and attributes["private"]
        if record.algorithm != "Ed25519":
            assert len(record.kcv) == 6 and record.kcv_algorithm in ("AES-ECB-ZERO-BLOCK", "HMAC-SHA256-ZERO-BLOCK")
        assert record.cryptoperiod_ends_at > record.created_at


def test_quorum_rules(make_vault):
    vault = make_vault()

    async def scenario(c):
        ceremonies = c.ceremonies()
        await _bootstrapped(vault)
        proposal = await ceremonies.propose(Step(kind=StepKind.GENERATE, purpose=KEK), OPERATOR)
        await vault.approve(proposal, ["alice"])

        with pytest.raises(Forbidden, match="quorum not met: 1 of 2"):  # M-1 signatures
            await ceremonies.execute(proposal.id, OPERATOR)
        with pytest.raises(Forbidden, match="already approved"):  # the same custodian twice
            await vault.approve(proposal, ["alice"])

        other = await ceremonies.propose(Step(kind=StepKind.GENERATE, purpose=KeyPurpose.CVV), OPERATOR)
        _, wrong_step = sign_proposal(vault.custodians["bob"], other.proposal)
        with pytest.raises(Forbidden, match="not this custodian's signature of this step"):
            await ceremonies.approve(proposal.id, "bob", wrong_step)
        _, by_stranger = sign_proposal(Ed25519PrivateKey.generate(), proposal.proposal)
        with pytest.raises(Forbidden, match="not this custodian's signature"):  # an unknown key
            await ceremonies.approve(proposal.id, "bob", by_stranger)
        with pytest.raises(NotFound):  # not a registered custodian
            await ceremonies.approve(proposal.id, "mallory", by_stranger)
        assert (await c.key_store().active(KEK)) is None

        await vault.approve(proposal, ["carol"])  # M distinct custodians
        outcome = await ceremonies.execute(proposal.id, OPERATOR)
        with pytest.raises(Forbidden, match="executed"):  # a ceremony runs once
            await ceremonies.execute(proposal.id, OPERATOR)
        return outcome.ceremony, await c.audit().store.entries(limit=1000)

    ceremony, entries = vault.run(scenario)
    assert ceremony.status == CeremonyStatus.EXECUTED
    refusals = [e.event for e in entries if e.event.outcome == "denied"]
    assert [r.action for r in refusals].count("ceremony.approved") == 4
    assert [r.action for r in refusals].count("ceremony.executed") == 2


def test_expired_proposal_is_refused(make_vault):
    vault = make_vault(BURSAR_CEREMONY_PROPOSAL_HOURS="1")
    clock = Clock()
    vault.container.clock.override(providers.Object(clock))

    async def scenario(c):
        ceremonies = c.ceremonies()
        await _bootstrapped(vault)
        proposal = await ceremonies.propose(Step(kind=StepKind.GENERATE, purpose=KEK), OPERATOR)
        await vault.approve(proposal, ["alice"])
        clock.moment += timedelta(hours=1, seconds=1)
        with pytest.raises(Forbidden, match="expired"):
            await vault.approve(proposal, ["bob"])
        with pytest.raises(Forbidden, match="expired"):
            await ceremonies.execute(proposal.id, OPERATOR)

    vault.run(scenario)


def test_custodians_must_acknowledge_and_seats_are_limited(make_vault):
    vault = make_vault(BURSAR_CEREMONY_CUSTODIANS="3")

    async def scenario(c):
        ceremonies = c.ceremonies()
        await vault.add_custodians(["alice", "bob"])
        key = Ed25519PrivateKey.generate()
        from vault.ceremony.custodian_keys import public_key_of

        dave = await ceremonies.register_custodian("dave", public_key_of(key), OPERATOR)
        with pytest.raises(Forbidden):  # someone else's signature on dave's acknowledgement
            await ceremonies.acknowledge("dave", sign_acknowledgement(vault.custodians["alice"], dave.acknowledgement))
        with pytest.raises(Conflict, match="seats"):
            await ceremonies.register_custodian("erin", public_key_of(Ed25519PrivateKey.generate()), OPERATOR)
        proposal = await ceremonies.propose(AUDIT, OPERATOR)
        _, signature = sign_proposal(key, proposal.proposal)
        with pytest.raises(Forbidden, match="not acknowledged"):
            await ceremonies.approve(proposal.id, "dave", signature)
        await ceremonies.acknowledge("dave", sign_acknowledgement(key, dave.acknowledgement))
        await ceremonies.approve(proposal.id, "dave", signature)

    vault.run(scenario)


def test_steps_need_the_audit_key_first(make_vault):
    vault = make_vault()

    async def scenario(c):
        await vault.add_custodians(CUSTODIANS)
        with pytest.raises(Conflict, match="audit signing key first"):
            await c.ceremonies().propose(Step(kind=StepKind.GENERATE, purpose=KEK), OPERATOR)

    vault.run(scenario)


def test_rotation_retirement_and_destruction(make_vault, hsm):
    vault = make_vault()

    async def scenario(c):
        keys = c.keys()
        await _bootstrapped(vault)
        await vault.ceremony(Step(kind=StepKind.GENERATE, purpose=KEK), ["alice", "bob"])
        await vault.ceremony(Step(kind=StepKind.ROTATE, purpose=KEK), ["alice", "carol"])
        old, new = await c.key_store().of_purpose(KEK)
        assert (old.state, new.state) == (KeyState.DECRYPT_ONLY, KeyState.ACTIVE)
        assert (await keys.active(KEK)).version == 2
        await keys.usable(KEK, 1, "unwrap")  # decrypt_only still opens existing data
        with pytest.raises(KeyStateError, match="decrypt_only"):
            old.require(PROTECTS, "wrap")

        with pytest.raises(KeyStateError, match="cannot become retired"):  # the active version
            await c.ceremonies().propose(Step(kind=StepKind.RETIRE, purpose=KEK, version=2), OPERATOR)
        with pytest.raises(KeyStateError, match="cannot become destroyed"):  # not retired yet
            await c.ceremonies().propose(Step(kind=StepKind.DESTROY, purpose=KEK, version=1), OPERATOR)
        await vault.ceremony(Step(kind=StepKind.RETIRE, purpose=KEK, version=1), ["bob", "carol"])
        with pytest.raises(KeyStateError, match="retired"):
            await keys.usable(KEK, 1, "unwrap")
        outcome = await vault.ceremony(Step(kind=StepKind.DESTROY, purpose=KEK, version=1), ["alice", "bob"])
        return outcome.ceremony, await c.key_store().get(KEK, 1)

    ceremony, destroyed = vault.run(scenario)
    assert destroyed.state == KeyState.DESTROYED and destroyed.destroyed_at is not None
    with hsm.session() as session:
        assert not list(session.get_objects({Attribute.LABEL: destroyed.label}))
    (change,) = json.loads(ceremony.transcript)["result"]["keys"]
    assert (change["state_before"], change["state_after"]) == ("retired", "destroyed")


def test_backup_restores_only_with_m_shares(make_vault, hsm):
    vault = make_vault()

    async def scenario(c):
        ceremonies = c.ceremonies()
        await _bootstrapped(vault)
        outcome = await vault.ceremony(Step(kind=StepKind.GENERATE, purpose=KEK, backup=True), ["alice", "bob"])
        record = await c.keys().active(KEK)
        with hsm.session() as session:  # the HSM loses the key
            assert destroy_keys(session, record.label) == 1
        backup_id = json.loads(outcome.ceremony.transcript)["result"]["backup"]["id"]
        restore = await ceremonies.propose(Step(kind=StepKind.RESTORE_BACKUP, purpose=KEK, backup_id=backup_id), OPERATOR)
        await vault.approve(restore, ["bob", "carol"])
        with pytest.raises(InvalidRequest, match="needs 2"):  # M-1 shares
            await ceremonies.execute(restore.id, OPERATOR, shares_in=[outcome.shares["carol"]])
        mixed = [outcome.shares["alice"], outcome.shares["alice"]]
        with pytest.raises(InvalidRequest):
            await ceremonies.execute(restore.id, OPERATOR, shares_in=mixed)
        assert (await ceremonies.store.ceremony(restore.id)).status == CeremonyStatus.PROPOSED
        done = await ceremonies.execute(restore.id, OPERATOR, shares_in=[outcome.shares["carol"], outcome.shares["alice"]])
        return outcome, record, done.ceremony, await c.key_store().get(KEK, record.version)

    generated, record, restored_ceremony, restored = vault.run(scenario)
    assert sorted(generated.shares) == CUSTODIANS and len(set(generated.shares.values())) == 3
    assert not record.attributes["extractable"] and not record.attributes["never_extractable"]
    assert restored.kcv == record.kcv and restored.state == KeyState.ACTIVE
    assert restored.attributes["local"] is False and not restored.attributes["extractable"]
    backup = json.loads(restored_ceremony.transcript)["result"]["backup"]
    assert backup["restored"] and backup["key_kcv"] == record.kcv


def test_signing_keys_are_never_backed_up():
    with pytest.raises(InvalidRequest, match="never backed up"):
        Step(kind=StepKind.GENERATE, purpose=KeyPurpose.AUDIT_SIGNING, backup=True)
