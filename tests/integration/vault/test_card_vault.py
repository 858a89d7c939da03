"""Card data in the vault on SoftHSM2 and PostgreSQL: issuance, tokenization, envelope encryption,
tamper detection, KEK rotation with rewrap, shredding."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from entrypoints.runtime.dev_ceremony import ensure_dev_keys, run_dev_ceremony
from vault.audit.entry import Actor, Origin
from vault.cards.pan import luhn_valid, validate_pan
from vault.cards.service import CardShredded, pan_aad
from vault.ceremony.model import Step, StepKind
from vault.errors import IntegrityError, InvalidRequest
from vault.keys.model import KeyPurpose, KeyState

ACTOR, ORIGIN = Actor(id="key_core", role="core"), Origin(request_id="test")
VISA_TEST = "4111111111111111"


@pytest.fixture
def custodians(tmp_path) -> Path:
    return tmp_path / "custodians"


@pytest.fixture
def vault(make_vault, custodians):
    built = make_vault()

    async def bootstrap(c):
        await ensure_dev_keys(c, custodians)

    built.run(bootstrap)
    return built


def test_issued_pans_are_in_range_luhn_valid_unique_and_never_returned(vault):
    async def scenario(c):
        cards = c.cards()
        issued = [await cards.issue("45678901", 12, 2030, "prog_1", ACTOR, ORIGIN) for _ in range(300)]
        opened = [await cards.open(card.token) for card in issued]
        return issued, opened, c.keys().hsm_calls

    issued, opened, hsm_calls = vault.run(scenario)
    pans = [o.pan for o in opened]
    assert len(set(pans)) == 300 and len({c.token for c in issued}) == 300
    assert all(p.startswith("45678901") and len(p) == 16 and luhn_valid(p) for p in pans)
    assert all(c.last4 == o.pan[-4:] and c.bin == "45678901" for c, o in zip(issued, opened, strict=True))
    assert all(c.token.startswith("tok_") and not luhn_valid(c.token) for c in issued)
    assert all(o.pan not in repr(c) + repr(o) for c, o in zip(issued, opened, strict=True))
    assert hsm_calls / 600 < 0.1  # one DEK wrap and one working-key derivation, not one per card


def test_same_pan_same_token_and_invalid_pans_are_refused_without_echo(vault):
    async def scenario(c):
        cards = c.cards()
        first = await cards.tokenize(VISA_TEST, 1, 2031, ACTOR, ORIGIN)
        again = await cards.tokenize(VISA_TEST, 1, 2031, ACTOR, ORIGIN)
        other = await cards.tokenize("5555555555554444", 2, 2031, ACTOR, ORIGIN)
        return first, again, other, await cards.lookup(VISA_TEST), await cards.lookup("4012888888881881")

    first, again, other, looked_up, unknown = vault.run(scenario)
    assert first.created and not again.created and first.token == again.token == looked_up
    assert other.token != first.token and unknown is None
    for bad in ("4111111111111112", "4111-1111-1111-1111", "41111", "4" * 25, "٤١١١١١١١١١١١١١١١"):
        with pytest.raises(InvalidRequest) as refused:
            validate_pan(bad)
        assert bad not in str(refused.value) and refused.value.code == "invalid_pan"


def test_tampering_fails_loudly(vault):
    async def scenario(c):
        cards = c.cards()
        one = await cards.issue("400000", 3, 2029, None, ACTOR, ORIGIN)
        two = await cards.issue("400000", 3, 2029, None, ACTOR, ORIGIN)
        admin = c.settings().database.require_admin()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("UPDATE vault.cards SET ciphertext = set_byte(ciphertext, 0, get_byte(ciphertext, 0) # 1) "
                         "WHERE token = %s", (one.token,))
        with pytest.raises(IntegrityError):
            await cards.open(one.token)
        with psycopg.connect(admin, autocommit=True) as conn:  # move two's ciphertext under another token (AAD)
            conn.execute("UPDATE vault.cards SET (dek_id, nonce, ciphertext) = "
                         "(SELECT dek_id, nonce, ciphertext FROM vault.cards WHERE token = %s) WHERE token = %s",
                         (two.token, one.token))
        with pytest.raises(IntegrityError):
            await cards.open(one.token)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("UPDATE vault.data_keys SET wrapped = set_byte(wrapped, 20, get_byte(wrapped, 20) # 1)")
        c.data_keys().forget()
        with pytest.raises(IntegrityError, match="wrapped data key"):
            await cards.open(two.token)

    vault.run(scenario)


def test_stored_format_opens_with_cryptography(vault):
    """docs/vault.md: nonce (12 bytes) + AES-256-GCM ciphertext||tag, AAD bursar-pan/v1:<token>:<dek id>."""

    async def scenario(c):
        card = await c.cards().tokenize(VISA_TEST, 7, 2032, ACTOR, ORIGIN)
        admin = c.settings().database.require_admin()
        with psycopg.connect(admin) as conn:
            dek_id, nonce, ciphertext = conn.execute(
                "SELECT dek_id, nonce, ciphertext FROM vault.cards WHERE token = %s", (card.token,)
            ).fetchone()
        dek = await c.data_keys().get(dek_id)
        return AESGCM(dek.value).decrypt(bytes(nonce), bytes(ciphertext), pan_aad(card.token, dek_id))

    assert vault.run(scenario) == VISA_TEST.encode()


def test_kek_rotation_and_rewrap_keep_every_pan_readable(vault, custodians):
    async def scenario(c):
        cards, data_keys, keys = c.cards(), c.data_keys(), c.keys()
        before = [await cards.issue("400000", 1, 2030, None, ACTOR, ORIGIN) for _ in range(20)]
        await run_dev_ceremony(c, Step(kind=StepKind.ROTATE, purpose=KeyPurpose.KEK), custodians)
        data_keys.forget()  # the vault's next DEK wraps under v2
        after = [await cards.issue("400000", 1, 2030, None, ACTOR, ORIGIN) for _ in range(5)]
        progress = []
        moved = await data_keys.rewrap(batch=1, progress=lambda done, total: progress.append((done, total)))
        data_keys.forget()
        readable = [(await cards.open(card.token)).pan for card in before + after]
        await run_dev_ceremony(c, Step(kind=StepKind.RETIRE, purpose=KeyPurpose.KEK, version=1), custodians)
        data_keys.forget()
        still = [(await cards.open(card.token)).pan for card in before + after]
        admin = c.settings().database.require_admin()
        with psycopg.connect(admin) as conn:
            versions = {v for (v,) in conn.execute("SELECT kek_version FROM vault.data_keys")}
        return moved, progress, readable, still, versions, (await keys.store.get(KeyPurpose.KEK, 1)).state

    moved, progress, readable, still, versions, old_state = vault.run(scenario)
    assert moved == 1 and progress == [(1, 1)]
    assert readable == still and len(set(readable)) == 25
    assert versions == {2} and old_state == KeyState.RETIRED


def test_shredding_makes_the_pan_unrecoverable(vault):
    async def scenario(c):
        cards = c.cards()
        card = await cards.tokenize(VISA_TEST, 1, 2031, ACTOR, ORIGIN)
        await cards.shred(card.token, ACTOR, ORIGIN)
        with pytest.raises(CardShredded):
            await cards.open(card.token)
        again = await cards.tokenize(VISA_TEST, 1, 2031, ACTOR, ORIGIN)
        entries = await c.audit().store.entries(limit=1000)
        return card, again, [e.event for e in entries]

    card, again, events = vault.run(scenario)
    assert again.token != card.token and again.created
    assert any(e.action == "pan.shredded" and e.resource.id == card.token for e in events)
    assert VISA_TEST not in str(events)


def test_no_pan_reaches_a_log_line(vault, caplog):
    caplog.set_level("DEBUG")

    async def scenario(c):
        cards = c.cards()
        issued = [await cards.issue("400000", 1, 2030, None, ACTOR, ORIGIN) for _ in range(20)]
        pans = [(await cards.open(card.token)).pan for card in issued]
        await cards.tokenize(VISA_TEST, 1, 2031, ACTOR, ORIGIN)
        for bad in ("4111111111111112", "41111"):
            with pytest.raises(InvalidRequest):
                await cards.tokenize(bad, 1, 2031, ACTOR, ORIGIN)
        return pans

    pans = vault.run(scenario)
    logged = caplog.text + "".join(str(r.__dict__) for r in caplog.records)
    assert caplog.records, "the scenario logs something (psycopg, the vault) at DEBUG"
    assert not [p for p in [*pans, VISA_TEST, "4111111111111112"] if p in logged]


def test_cvv2_is_derived_stable_and_survives_a_cvv_key_rotation(vault, custodians):
    async def scenario(c):
        cards = c.cards()
        one = await cards.issue("400000", 4, 2031, None, ACTOR, ORIGIN)
        two = await cards.issue("400000", 4, 2031, None, ACTOR, ORIGIN)
        opened_one, opened_two = await cards.open(one.token), await cards.open(two.token)
        first = await cards.cvv2(opened_one), await cards.cvv2(opened_two)
        await run_dev_ceremony(c, Step(kind=StepKind.ROTATE, purpose=KeyPurpose.CVV), custodians)
        after = await cards.cvv2(await cards.open(one.token)), await cards.cvv2(await cards.open(two.token))
        newer = await cards.open((await cards.issue("400000", 4, 2031, None, ACTOR, ORIGIN)).token)
        admin = c.settings().database.require_admin()
        with psycopg.connect(admin) as conn:
            columns = [r[0] for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = 'vault'")]
        return first, after, newer.cvv_version, columns

    first, after, newer_version, columns = vault.run(scenario)
    assert first == after and all(len(cvv) == 3 and cvv.isdigit() for cvv in first)
    assert newer_version == 2
    assert not [c for c in columns if "cvv" in c and c != "cvv_version"]  # CVV2 itself is never stored
