"""The vault's group-committed writes on PostgreSQL and SoftHSM2: card inserts, grant-nonce
claims and audit appends of concurrent requests share statements, yet every caller gets its own
outcome -- a replay is refused even inside one batch, and one bad item fails only its caller."""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
import rfc8785

from adapters.reveal_grants.jwt_signer import JwtRevealGrantSigner, generate_signing_key
from application.cards.issue_reveal_grant import IssueRevealGrant
from entrypoints.runtime.dev_ceremony import ensure_dev_keys
from vault.audit.entry import GENESIS, Actor, AuditEvent, Origin, Resource
from vault.cards.pan import luhn_check_digit
from vault.cards.service import GrantUse
from vault.errors import VaultError

CORE, ORIGIN = Actor(id="key_core", role="core"), Origin(ip="127.0.0.1", request_id="batch-test")
REVEALER = Actor(id="01J0REVEALCLIENT", role="reveal")


class Nonces:
    def __init__(self) -> None:
        self.n = 0

    def token(self, nbytes: int = 32) -> str:
        self.n += 1
        return f"nonce-{time.time_ns()}-{self.n:06d}"


class Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@pytest.fixture
def vault(make_vault, tmp_path):
    private, public = generate_signing_key()
    (tmp_path / "grant.pem").write_bytes(public)
    built = make_vault(
        BURSAR_REVEAL_GRANT_PUBLIC_KEYS_FILE=str(tmp_path / "grant.pem"),
        BURSAR_REVEAL_LIMIT_PER_CARD="1000/minute",
        BURSAR_REVEAL_LIMIT_PER_CREDENTIAL="1000/minute",
    )
    built.run(lambda c: ensure_dev_keys(c, tmp_path / "custodians"))
    built.grants = IssueRevealGrant(JwtRevealGrantSigner(private), Clock(), Nonces(), 30)
    return built


def _pan(rng: random.Random) -> str:
    body = "9" + "".join(rng.choice("0123456789") for _ in range(14))
    return body + luhn_check_digit(body)


async def _outcome(coroutine):
    try:
        return await coroutine
    except VaultError as refused:
        return refused.code
    except Exception as exc:  # noqa: BLE001 - a database error, for one caller
        return exc


async def _chain_is_intact(c) -> list:
    """Every stored entry re-hashed with the reference RFC 8785 implementation, and linked."""
    entries = await c.audit().store.entries(limit=1000)
    prev = GENESIS
    for n, entry in enumerate(entries, start=1):
        assert entry.seq == n and entry.prev_hash == prev
        assert entry.hash == hashlib.sha256(prev + rfc8785.dumps(entry.body())).digest()
        prev = entry.hash
    return entries


def test_concurrent_tokenizations_share_statements_and_a_pan_gets_one_token(vault):
    rng = random.Random(7)
    distinct = [_pan(rng) for _ in range(60)]
    repeated = [_pan(rng) for _ in range(5)]
    calls = distinct + repeated * 4
    rng.shuffle(calls)

    async def scenario(c):
        cards = c.cards()
        stored = await asyncio.gather(*(cards.tokenize(pan, 12, 2031, CORE, ORIGIN) for pan in calls))
        async with c.database().pool.connection() as conn:
            rows = (await (await conn.execute("SELECT count(*) FROM vault.cards")).fetchone())[0]
        return stored, rows, cards._card_inserts.batches, await _chain_is_intact(c)

    stored, rows, batches, entries = vault.run(scenario)
    by_pan: dict[str, list] = {}
    for pan, card in zip(calls, stored, strict=True):
        by_pan.setdefault(pan, []).append(card)
    assert rows == len(by_pan) == 65
    for pan, cards in by_pan.items():
        assert len({card.token for card in cards}) == 1
        assert sum(card.created for card in cards) == 1  # the others found it
        assert cards[0].last4 == pan[-4:]
    assert batches < len(calls) / 4  # group commit happened
    tokenized = [e for e in entries if e.event.action == "pan.tokenized"]
    assert len(tokenized) == len(calls)
    assert sum(e.event.details["created"] for e in tokenized) == 65


def test_concurrent_repeats_of_one_issue_request_break_their_batch_but_only_find_the_first_card(vault):
    failed_batches = []

    async def scenario(c):
        cards = c.cards()
        write = cards._card_inserts._write

        async def recording(batch):  # which batches the database refused, and why
            try:
                return await write(batch)
            except psycopg.Error as exc:
                failed_batches.append((len(batch), exc.diag.constraint_name))
                raise

        cards._card_inserts._write = recording
        issue = [cards.issue("45678901", 11, 2031, "prog", CORE, ORIGIN, idempotency_key=f"k-{n}") for n in range(20)]
        repeats = [cards.issue("45678901", 11, 2031, "prog", CORE, ORIGIN, idempotency_key="same") for _ in range(5)]
        both = await asyncio.gather(*(_outcome(call) for call in [*issue[:10], *repeats, *issue[10:]]))
        return both, await _chain_is_intact(c)

    outcomes, entries = vault.run(scenario)
    assert any(size > 1 and constraint == "cards_request_key_key" for size, constraint in failed_batches)
    assert not [o for o in outcomes if isinstance(o, (str, Exception))]
    repeats, issued = outcomes[10:15], outcomes[:10] + outcomes[15:]
    assert len({card.token for card in repeats}) == 1 and sum(card.created for card in repeats) == 1
    assert all(card.created for card in issued) and len({card.token for card in issued}) == 20
    assert len([e for e in entries if e.event.action == "pan.issued"]) == 21


def test_concurrent_replays_of_one_grant_reveal_once_even_inside_one_batch(vault):
    async def scenario(c):
        cards = [(await c.cards().issue("45678901", 11, 2031, "p", CORE, ORIGIN)).token for _ in range(10)]
        replayed = vault.grants(cards[0], "01J0CORE", REVEALER.id).grant
        fresh = [vault.grants(cards[n % 10], "01J0CORE", REVEALER.id).grant for n in range(20)]
        unknown = vault.grants("tok_" + "z" * 26, "01J0CORE", REVEALER.id).grant
        calls = [replayed] * 8 + fresh + [unknown]
        random.Random(3).shuffle(calls)
        reveals = c.reveals()
        outcomes = await asyncio.gather(*(_outcome(reveals.reveal(g, REVEALER, ORIGIN)) for g in calls))
        later = await _outcome(reveals.reveal(replayed, REVEALER, ORIGIN))
        return calls, outcomes, later, c.cards()._nonce_claims.batches, replayed, unknown, await _chain_is_intact(c)

    calls, outcomes, later, batches, replayed, unknown, entries = vault.run(scenario)
    of = {grant: [o for g, o in zip(calls, outcomes, strict=True) if g == grant] for grant in set(calls)}
    assert sorted(o if isinstance(o, str) else "revealed" for o in of[replayed]) == ["grant_replayed"] * 7 + ["revealed"]
    assert of[unknown] == ["token_not_found"]
    assert all(not isinstance(o, str) and o.pan.startswith("45678901")
               for g, found in of.items() if g not in (replayed, unknown) for o in found)
    assert later == "grant_replayed"
    assert batches < len(calls) / 2
    revealed = [e for e in entries if e.event.action == "card.revealed"]
    refused = [e.event.reason for e in entries if e.event.action == "card.reveal_refused"]
    assert len(revealed) == 21  # 20 fresh grants and one of the eight copies
    assert sorted(refused) == sorted(["grant_replayed"] * 8 + ["token_not_found"])

    async def after_restart(c):  # a fresh process remembers nothing: the database refuses it
        return await _outcome(c.reveals().reveal(replayed, REVEALER, ORIGIN))

    assert vault.run(after_restart) == "grant_replayed"


def test_a_claim_that_breaks_its_statement_fails_alone(vault):
    expires = datetime.now(UTC) + timedelta(seconds=30)

    def use(nonce: str) -> GrantUse:
        return GrantUse(nonce=nonce, redeemer=REVEALER.id, requested_by="01J0CORE", expires_at=expires)

    async def scenario(c):
        cards = c.cards()
        token = (await cards.issue("45678901", 11, 2031, "p", CORE, ORIGIN)).token
        nonces = [f"good-nonce-{n:04d}" for n in range(6)]
        nonces.insert(3, "bad-\x00-nonce")  # PostgreSQL text cannot hold NUL: the statement fails
        opened = await asyncio.gather(*(_outcome(cards.open_once(token, use(n))) for n in nonces))
        again = await _outcome(cards.open_once(token, use("good-nonce-0002")))
        return nonces, opened, again, token

    nonces, opened, again, token = vault.run(scenario)
    bad = opened.pop(3)
    assert isinstance(bad, psycopg.DataError)
    assert all(card.token == token and len(card.pan) == 16 for card in opened)
    assert again == "grant_replayed"  # the good claims were committed


def test_an_audit_event_that_breaks_its_batch_fails_alone(vault):
    def event(n: int, note: str = "fine") -> AuditEvent:
        return AuditEvent(action="test.event", actor=CORE, resource=Resource(type="token", id=f"tok_{n}"),
                          origin=ORIGIN, details={"n": n, "note": note})

    async def scenario(c):
        audit = c.audit()
        first = asyncio.ensure_future(audit.record(event(0)))  # the rest queue behind it: one batch
        await asyncio.sleep(0)
        calls = [event(n, "it's \"quoted\" \\ ünïcode ✓") for n in range(1, 20)]
        calls.insert(7, event(99, "NUL \x00 is not storable in jsonb"))
        outcomes = await asyncio.gather(*(_outcome(audit.record(e)) for e in calls))
        return await first, outcomes, await _chain_is_intact(c)

    first, outcomes, entries = vault.run(scenario)
    bad = outcomes.pop(7)
    assert isinstance(bad, psycopg.DataError)
    assert first.seq >= 1
    assert sorted(e.event.details["n"] for e in entries if e.event.action == "test.event") == list(range(20))
    assert [o.seq for o in outcomes] == sorted(o.seq for o in outcomes)  # recorded in call order
