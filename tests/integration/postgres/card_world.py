"""A card world on real PostgreSQL for the network message tests: the core container with an
injected clock and an in-memory vault, driven synchronously from one event loop.

Each ``CardWorld`` opens its own pool on the session database (``stack_env``). Programs,
cardholders and cards get fresh ids per test, so tests share the database without seeing each
other's money. FX rates are stored as manual EUR-pivot rates just before the test's clock, so
they win over any rate another test stored earlier in the session, and a rate stored for a
later instant is never in effect.

The books are checked through the use cases: the card's balance as the cards API reports it
(``ReadCards.balance``) and the program's ledger accounts as the ledger reports them.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from dependency_injector import providers

from adapters.memory.vault import InMemoryVault
from application.cards.after_authorization import Clearing, Increment, Refund, Reversal
from application.cards.cardholders import NewCardholder
from application.cards.cards import CardChange, Funding, NewCard
from application.cards.common import CardBalance
from application.cards.programs import NewProgram
from application.fx.set_manual_rate import SetRate
from application.ports.compliance import SubjectStatuses
from domain.cards.authorization import AuthorizationRequest, Merchant
from domain.cards.controls import Controls
from domain.cards.model import Card, CardState, KycStatus, Program
from domain.compliance.subjects import SubjectStatus
from domain.ledger import Balances
from domain.shared.errors import DomainError
from entrypoints.containers import CoreContainer
from entrypoints.settings import Settings

SHOP = Merchant(name="Corner Shop", mcc="5411", country="DE")

# EUR-pivot rates chosen so every cross rate is exact: USD->... 1 EUR = 1.25 USD, 160 JPY, 0.3125 KWD.
# Hence 1 JPY = 0.0078125 USD and 1 KWD = 4 USD.
RATES = {"USD": Decimal("1.25"), "JPY": Decimal("160"), "KWD": Decimal("0.3125")}


class FakeClock:
    """The injected ``Clock``: stands still until a test moves it."""

    def __init__(self, start: datetime) -> None:
        assert start.tzinfo is UTC
        self.current = start

    def now(self) -> datetime:
        return self.current

    def set(self, when: datetime) -> None:
        self.current = when

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


class StatusOverrides:
    """The ``SubjectStatuses`` port the card use cases read: the stored statuses, except those a
    test set (``CardWorld.set_sanctions_status``)."""

    def __init__(self, stored: SubjectStatuses) -> None:
        self._stored = stored
        self.overrides: dict[str, SubjectStatus] = {}

    async def subject_status(self, subject_id: str) -> SubjectStatus:
        return self.overrides.get(subject_id) or await self._stored.subject_status(subject_id)

    async def subject_statuses(self, subject_ids: Sequence[str]) -> dict[str, SubjectStatus]:
        stored = await self._stored.subject_statuses(subject_ids)
        return {i: self.overrides.get(i, stored[i]) for i in subject_ids}


class CardWorld:
    def __init__(self, env: dict[str, str], start: datetime) -> None:
        self.clock = FakeClock(start)
        self.tag = uuid.uuid4().hex[:12]
        self.c = CoreContainer()
        self.c.settings.override(providers.Object(Settings.from_env({**env, "BURSAR_DB_POOL_MAX": "4"})))
        self.c.vault_client.override(providers.Object(InMemoryVault()))
        self.c.clock.override(providers.Object(self.clock))
        self.c.card_fx.add_kwargs(cache_seconds=0)  # rates change under the fake clock: read them every time
        self.statuses = StatusOverrides(self.c.compliance_subject_status())
        self.c.compliance_subject_status.override(providers.Object(self.statuses))
        self._runner = asyncio.Runner()
        self.run(self.c.database().open())

    def close(self) -> None:
        try:
            self.run(self.c.database().close())
        finally:
            self._runner.close()

    def run(self, awaitable):
        return self._runner.run(_wrap(awaitable))

    def mid(self, name: str) -> str:
        """A message id of this world (the session database is shared: ids must not meet another test's)."""
        return f"{name}-{self.tag}"

    # -- set-up ------------------------------------------------------------------------

    def set_rates(self) -> None:
        """Store the test rates as manual rates one second before the clock."""
        for quote, value in RATES.items():
            self.run(self.c.fx_set_manual_rate()(SetRate(base="EUR", quote=quote, value=value,
                                                         as_of=self.clock.now() - timedelta(seconds=1))))

    def program(self, currency: str = "EUR", *, markup_bps: int = 0, controls: Controls = Controls(),
                hold_seconds: int = 7 * 24 * 3600, expiry_months: int = 120) -> Program:
        tag = uuid.uuid4().hex[:10]
        program, created = self.run(self.c.cards_create_program()(NewProgram(
            id=f"prog_{tag}", name=f"Program {tag}", bin="45678901", currency=currency, fx_markup_bps=markup_bps,
            controls=controls, hold_seconds=hold_seconds, expiry_months=expiry_months)))
        assert created
        return program

    def card(self, program: Program, *, funded: int = 0, controls: Controls = Controls(),
             tier: str = "premium", holder_id: str | None = None) -> Card:
        tag = uuid.uuid4().hex[:10]
        if holder_id is None:
            holder = self.run(self.c.cards_create_cardholder()(
                NewCardholder(name="Wanda Ledgerwood", country="DE", id=f"ch_{tag}"), actor="test"))
            holder_id = holder.cardholder.id
            self.run(self.c.cards_decide_kyc()(holder_id, "verified", tier))
        card, _ = self.run(self.c.cards_issue()(NewCard(cardholder_id=holder_id, program_id=program.id,
                                                        controls=controls), f"card_{tag}"))
        if funded:
            self.fund(card, funded)
        return card

    def fund(self, card: Card, amount: int) -> None:
        result, _ = self.run(self.c.cards_fund()(card.id, Funding(id=f"fund-{uuid.uuid4().hex}", amount=amount,
                                                                  currency=card.currency)))
        assert result.status == "created", result

    # -- what changes after a card is issued ---------------------------------------------

    def set_state(self, card: Card, state: CardState) -> Card:
        """The card moved to ``state`` through the cards API's use case."""
        return self.run(self.c.cards_update()(card.id, CardChange(state=state)))

    def decide_kyc(self, holder_id: str, decision: KycStatus, tier: str | None = None) -> None:
        self.run(self.c.cards_decide_kyc()(holder_id, decision, tier))

    def set_sanctions_status(self, holder_id: str, status: SubjectStatus) -> None:
        """From now on the cardholder's compliance status is ``status``, as a re-screening or a case
        decision would leave it (whatever sanctions list the shared session database holds)."""
        self.statuses.overrides[holder_id] = status

    # -- network messages (each returns the use case's answer) --------------------------

    def authorize(self, card: Card, amount: int, currency: str | None = None, *, message_id: str | None = None,
                  merchant: Merchant = SHOP, partial_allowed: bool = False) -> dict[str, Any]:
        return self.run(self.c.cards_authorize()(AuthorizationRequest(
            message_id=message_id or _mid("auth"), card_token=card.token, amount=amount,
            currency=currency or card.currency, merchant=merchant, partial_allowed=partial_allowed)))

    def increment(self, auth_id: str, amount: int, *, message_id: str | None = None) -> dict[str, Any]:
        return self.run(self.c.cards_increment()(auth_id, Increment(message_id=message_id or _mid("inc"),
                                                                    amount=amount)))

    def reverse(self, auth_id: str, amount: int | None = None, *, message_id: str | None = None) -> dict[str, Any]:
        return self.run(self.c.cards_reverse()(auth_id, Reversal(message_id=message_id or _mid("rev"), amount=amount)))

    def clear(self, card: Card, amount: int, currency: str | None = None, *, auth_id: str | None = None,
              message_id: str | None = None, merchant: Merchant = SHOP) -> dict[str, Any]:
        return self.run(self.c.cards_clear()(Clearing(
            message_id=message_id or _mid("clear"), card_token=card.token, amount=amount,
            currency=currency or card.currency, merchant=merchant, authorization_id=auth_id)))

    def refund(self, card: Card, amount: int, currency: str | None = None, *,
               message_id: str | None = None) -> dict[str, Any]:
        return self.run(self.c.cards_refund()(Refund(message_id=message_id or _mid("refund"), card_token=card.token,
                                                     amount=amount, currency=currency or card.currency,
                                                     merchant=SHOP)))

    def expire(self) -> None:
        """What the core's background tasks do, at the clock's time: the ledger sweeper, then the
        authorization expiry. Both act on the whole (shared) database: assert on this test's records."""
        self.run(self.c.ledger_expire_holds()())
        self.run(self.c.cards_expire()())

    def refused(self, call, *args, **kwargs) -> str:
        """The error code of a message the use case refuses."""
        try:
            call(*args, **kwargs)
        except DomainError as exc:
            return exc.code
        raise AssertionError("the message was accepted")

    # -- reading the books ---------------------------------------------------------------

    def balance(self, card: Card) -> CardBalance:
        return self.run(self.c.cards_read().balance(card.id))

    def books(self, card: Card) -> tuple[int, int, int]:
        b = self.balance(card)
        assert b.available == b.posted - b.pending
        return b.posted, b.pending, b.available

    def ledger(self, account_id: str) -> Balances:
        return self.run(self.c.ledger_read().account(account_id)).balances

    def net(self, account_id: str) -> int:
        """Credits minus debits posted: what the account gained."""
        b = self.ledger(account_id)
        return b.credits_posted - b.debits_posted

    def held_in(self, account_id: str) -> tuple[int, int]:
        """(debits pending, credits pending) of an account."""
        b = self.ledger(account_id)
        return b.debits_pending, b.credits_pending

    def authorization(self, auth_id: str):
        return self.run(self.c.cards_read().authorization(auth_id))

    def authorizations(self, card: Card):
        return self.run(self.c.cards_read().authorizations(card.id, None, 1000))

    def transactions(self, card: Card):
        return self.run(self.c.cards_read().transactions(card.id, None, 1000))

    def events(self, authorization_id: str) -> list[str]:
        """The outbox events about an authorization and its transactions, oldest first."""
        async def read() -> list[str]:
            async with self.c.database().pool.connection() as conn:
                cur = await conn.execute(
                    "SELECT type FROM core.events WHERE data->>'id' = %s OR data->>'authorization_id' = %s ORDER BY id",
                    (authorization_id, authorization_id))
                return [row[0] for row in await cur.fetchall()]

        return self.run(read())

    def transfer(self, transfer_id: str):
        return self.run(self.c.ledger_read().transfer(transfer_id))[0]

    def assert_closed_system(self, program: Program, cards: Iterable[Card]) -> None:
        """Nothing created or destroyed: over the program's accounts and its cards' accounts (all the
        accounts its money moves between), per currency, debits equal credits, posted and pending."""
        ids = [program.accounts.funding, program.accounts.settlement, program.accounts.fx_fees,
               *(card.account_id for card in cards)]
        sums: dict[str, list[int]] = {}
        for account_id in ids:
            account = self.run(self.c.ledger_read().account(account_id))
            b = account.balances
            total = sums.setdefault(account.currency, [0, 0, 0, 0])
            total[0] += b.debits_posted
            total[1] += b.credits_posted
            total[2] += b.debits_pending
            total[3] += b.credits_pending
        for currency_code, (dp, cp, dpend, cpend) in sums.items():
            assert dp == cp, f"{currency_code}: posted debits {dp} != credits {cp}"
            assert dpend == cpend, f"{currency_code}: pending debits {dpend} != credits {cpend}"
        for card in cards:
            assert self.balance(card).posted >= 0 and self.balance(card).available >= 0


async def _wrap(awaitable):
    return await awaitable


def _mid(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex}"
