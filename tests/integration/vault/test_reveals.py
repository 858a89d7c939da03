"""Reveals on SoftHSM2 and PostgreSQL, with grants signed by the core's own signer (interop).

Every refusal is checked twice: the error code the client sees, and the audit entry that says
who tried, for which card token, and why.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from adapters.reveal_grants.jwt_signer import JwtRevealGrantSigner, generate_signing_key
from application.cards.issue_reveal_grant import IssueRevealGrant
from entrypoints.runtime.dev_ceremony import ensure_dev_keys
from vault.audit.entry import Actor, Origin
from vault.errors import VaultError

REVEALER = Actor(id="01J0REVEALCLIENT", role="reveal")
OTHER_REVEALER = Actor(id="01J0OTHERCLIENT", role="reveal")
CORE_ACTOR, ORIGIN = Actor(id="key_core", role="core"), Origin(request_id="test")
CORE_KEY_ID = "01J0COREREVEALKEY"


class Clock:
    def __init__(self, at: datetime | None = None) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at or datetime.now(UTC)


class Nonces:
    def __init__(self) -> None:
        self.n = 0

    def token(self, nbytes: int = 32) -> str:
        self.n += 1
        return f"nonce-{time.time_ns()}-{self.n:06d}"


@pytest.fixture(scope="module")
def grant_key(tmp_path_factory) -> tuple[bytes, Path]:
    private, public = generate_signing_key()
    path = tmp_path_factory.mktemp("grant") / "public.pem"
    path.write_bytes(public)
    return private, path


@pytest.fixture
def vault(make_vault, grant_key, tmp_path):
    built = make_vault(
        BURSAR_REVEAL_GRANT_PUBLIC_KEYS_FILE=str(grant_key[1]),
        BURSAR_REVEAL_LIMIT_PER_CARD="3/minute",
        BURSAR_REVEAL_LIMIT_PER_CREDENTIAL="5/minute",
    )
    built.run(lambda c: ensure_dev_keys(c, tmp_path / "custodians"))
    return built


def issuer(private: bytes, clock: Clock | None = None, audience: str = "bursar-vault", ttl: int = 30):
    return IssueRevealGrant(JwtRevealGrantSigner(private, audience=audience), clock or Clock(), Nonces(), ttl)


async def _issue(c, n: int = 1) -> list[str]:
    return [(await c.cards().issue("45678901", 11, 2031, "prog", CORE_ACTOR, ORIGIN)).token for _ in range(n)]


async def _refused(c, grant: str, actor: Actor = REVEALER, card_token: str | None = None) -> str:
    with pytest.raises(VaultError) as refused:
        await c.reveals().reveal(grant, actor, ORIGIN, card_token)
    return refused.value.code


async def _audited(c, action: str) -> list:
    await c.audit().drain()
    return [e.event for e in await c.audit().store.entries(limit=1000) if e.event.action == action]


def test_issue_then_reveal_round_trip_is_audited_and_never_logs_the_pan(vault, grant_key, caplog):
    caplog.set_level("DEBUG")

    async def scenario(c):
        (token,) = await _issue(c)
        grant = issuer(grant_key[0])(token, CORE_KEY_ID, REVEALER.id)
        revealed = await c.reveals().reveal(grant.grant, REVEALER, ORIGIN, token)
        opened = await c.cards().open(token)
        return token, revealed, opened, await _audited(c, "card.revealed")

    token, revealed, opened, audited = vault.run(scenario)
    assert revealed.pan == opened.pan and revealed.pan.startswith("45678901")
    assert (revealed.exp_month, revealed.exp_year) == (11, 2031)
    assert len(revealed.cvv2) == 3 and revealed.cvv2.isdigit()
    assert revealed.pan not in repr(revealed)
    (entry,) = audited
    assert entry.resource.id == token and entry.actor == REVEALER
    assert entry.details["requested_by"] == CORE_KEY_ID
    assert all(revealed.pan not in r.getMessage() and revealed.cvv2 not in r.getMessage() for r in caplog.records)


def test_a_grant_opens_a_card_once_even_after_a_restart(vault, grant_key):
    grants = {}

    async def first(c):
        (token,) = await _issue(c)
        grants["g"] = issuer(grant_key[0])(token, CORE_KEY_ID, REVEALER.id).grant
        await c.reveals().reveal(grants["g"], REVEALER, ORIGIN)
        return await _refused(c, grants["g"])

    assert vault.run(first) == "grant_replayed"

    async def after_restart(c):  # fresh container singletons: nothing remembered in memory
        return await _refused(c, grants["g"]), await _audited(c, "card.reveal_refused")

    code, refusals = vault.run(after_restart)
    assert code == "grant_replayed"
    assert [e.reason for e in refusals] == ["grant_replayed", "grant_replayed"]


def _forge(claims: dict, key: Ed25519PrivateKey, kid: str) -> str:
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": kid})


def test_bad_grants_are_refused_and_audited_with_their_reason(vault, grant_key):
    private = grant_key[0]
    trusted = JwtRevealGrantSigner(private)

    async def scenario(c):
        token, other_token = await _issue(c, 2)
        now = int(time.time())
        claims = {"iss": "bursar-core", "aud": "bursar-vault", "sub": token, "jti": "n" * 20, "iat": now,
                  "exp": now + 30, "azp": CORE_KEY_ID, "cnf": {"kid": REVEALER.id}}
        stranger = Ed25519PrivateKey.generate()
        genuine = issuer(private)(token, CORE_KEY_ID, REVEALER.id).grant
        head, body, sig = genuine.split(".")
        tampered_body = jwt.utils.base64url_encode(
            jwt.utils.base64url_decode(body).replace(token.encode(), other_token.encode())).decode()
        cases = {
            "expired": issuer(private, Clock(datetime.now(UTC) - timedelta(minutes=5)))(token, CORE_KEY_ID, REVEALER.id).grant,
            "wrong_audience": issuer(private, audience="someone-else")(token, CORE_KEY_ID, REVEALER.id).grant,
            "wrong_card": issuer(private)(token, CORE_KEY_ID, REVEALER.id).grant,
            "forged_key": _forge(claims, stranger, trusted.key_id),
            "unknown_key": _forge(claims, stranger, "not-a-known-kid"),
            "tampered": f"{head}.{tampered_body}.{sig}",
            "too_long": _forge({**claims, "exp": now + 120}, _private(private), trusted.key_id),
            "wrong_issuer": _forge({**claims, "iss": "mallory"}, _private(private), trusted.key_id),
            "wrong_credential": issuer(private)(token, CORE_KEY_ID, REVEALER.id).grant,
            "garbage": "not.a.jws",
        }
        codes = {
            "expired": await _refused(c, cases["expired"]),
            "wrong_audience": await _refused(c, cases["wrong_audience"]),
            "wrong_card": await _refused(c, cases["wrong_card"], card_token=other_token),
            "forged_key": await _refused(c, cases["forged_key"]),
            "unknown_key": await _refused(c, cases["unknown_key"]),
            "tampered": await _refused(c, cases["tampered"]),
            "too_long": await _refused(c, cases["too_long"]),
            "wrong_issuer": await _refused(c, cases["wrong_issuer"]),
            "wrong_credential": await _refused(c, cases["wrong_credential"], actor=OTHER_REVEALER),
            "garbage": await _refused(c, cases["garbage"]),
        }
        # none of them consumed anything: the genuine grant still works
        await c.reveals().reveal(genuine, REVEALER, ORIGIN)
        return token, codes, await _audited(c, "card.reveal_refused")

    token, codes, refusals = vault.run(scenario)
    assert codes == {
        "expired": "grant_expired",
        "wrong_audience": "grant_wrong_audience",
        "wrong_card": "grant_wrong_card",
        "forged_key": "grant_bad_signature",
        "unknown_key": "grant_unknown_key",
        "tampered": "grant_bad_signature",
        "too_long": "grant_too_long_lived",
        "wrong_issuer": "grant_wrong_issuer",
        "wrong_credential": "grant_wrong_credential",
        "garbage": "grant_malformed",
    }
    assert [e.reason for e in refusals] == list(codes.values())
    assert all(e.outcome == "denied" for e in refusals)
    by_reason = {e.reason: e for e in refusals}
    assert by_reason["grant_wrong_credential"].actor == OTHER_REVEALER
    assert by_reason["grant_expired"].resource.id == token  # the claimed card, for investigators
    assert by_reason["grant_malformed"].resource.id == "unknown"


def _private(pem: bytes) -> Ed25519PrivateKey:
    from cryptography.hazmat.primitives import serialization

    return serialization.load_pem_private_key(pem, password=None)


def test_rate_limits_per_card_and_per_credential(vault, grant_key):
    grants = issuer(grant_key[0])

    async def scenario(c):
        tokens = await _issue(c, 3)
        for _ in range(3):  # per card: 3 a minute
            await c.reveals().reveal(grants(tokens[0], CORE_KEY_ID, REVEALER.id).grant, REVEALER, ORIGIN)
        card_limited = grants(tokens[0], CORE_KEY_ID, REVEALER.id).grant
        card_code = await _refused(c, card_limited)
        for _ in range(2):  # per credential: 5 a minute, 3 used above
            await c.reveals().reveal(grants(tokens[1], CORE_KEY_ID, REVEALER.id).grant, REVEALER, ORIGIN)
        credential_code = await _refused(c, grants(tokens[2], CORE_KEY_ID, REVEALER.id).grant)
        # another credential still reveals the third card; the refused grant was not consumed
        await c.reveals().reveal(grants(tokens[2], CORE_KEY_ID, OTHER_REVEALER.id).grant, OTHER_REVEALER, ORIGIN)
        return card_code, credential_code, await _audited(c, "card.reveal_refused")

    card_code, credential_code, refusals = vault.run(scenario)
    assert card_code == credential_code == "rate_limited"
    assert [e.reason for e in refusals] == ["rate_limited", "rate_limited"]


def test_a_shredded_card_cannot_be_revealed(vault, grant_key):
    async def scenario(c):
        (token,) = await _issue(c)
        await c.cards().shred(token, CORE_ACTOR, ORIGIN)
        missing = await _refused(c, issuer(grant_key[0])("tok_" + "0" * 26, CORE_KEY_ID, REVEALER.id).grant)
        return await _refused(c, issuer(grant_key[0])(token, CORE_KEY_ID, REVEALER.id).grant), missing

    assert vault.run(scenario) == ("card_shredded", "token_not_found")
