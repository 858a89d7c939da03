"""The ledger's contract, run against both stores: in memory and PostgreSQL.

Driven through the use cases, with an injected clock so expiry is exact. Every test uses
fresh ids, so the PostgreSQL run shares one database safely.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from adapters.memory.ledger import InMemoryTransactions
from adapters.postgres.database import Database
from adapters.postgres.unit_of_work import PostgresTransactions
from adapters.system import UuidV7Ids
from application.ledger.expire_holds import ExpireHolds
from application.ledger.open_account import OpenAccount
from application.ledger.post_transfers import PostTransfers
from application.ledger.read_ledger import ReadLedger
from domain.ledger import AccountFlags, CreateTransfer, NewAccount, ResolvePending, ReverseTransfer
from domain.shared.errors import Conflict, InvalidInput, NotFound


class FakeClock:
    def __init__(self) -> None:
        self.current = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


@dataclass
class Ledger:
    open: OpenAccount
    post: PostTransfers
    read: ReadLedger
    expire: ExpireHolds
    clock: FakeClock
    prefix: str

    def id(self, name: str) -> str:
        return f"{self.prefix}{name}"

    async def account(self, name: str, currency: str = "USD", **kw) -> str:
        await self.open(NewAccount(id=self.id(name), currency=currency, name=name, flags=kw.pop("flags", AccountFlags()),
                                   overdraft_limit=kw.pop("overdraft_limit", None), metadata={}))
        return self.id(name)

    async def transfer(self, tid: str, debit: str, credit: str, amount: int, currency: str = "USD", **kw):
        [result] = await self.post([CreateTransfer(id=self.id(tid), debit_account_id=debit, credit_account_id=credit,
                                                   amount=amount, currency=currency, **kw)])
        return result

    async def balances(self, account_id: str) -> tuple[int, int, int, int]:
        b = (await self.read.account(account_id)).balances
        return b.debits_posted, b.credits_posted, b.debits_pending, b.credits_pending


@pytest.fixture(params=["memory", "postgres"])
def ledger_run(request, database):
    def run(scenario):
        async def main():
            clock = FakeClock()
            db = None
            if request.param == "memory":
                tx = InMemoryTransactions()
            else:
                db = Database(database.core_url, min_size=1, max_size=4)
                await db.open()
                tx = PostgresTransactions(db.pool)
            ledger = Ledger(OpenAccount(tx, clock, UuidV7Ids()), PostTransfers(tx, clock), ReadLedger(tx, clock),
                            ExpireHolds(tx, clock), clock, prefix=uuid.uuid4().hex[:8] + "-")
            try:
                await scenario(ledger)
            finally:
                if db:
                    await db.close()

        asyncio.run(main())

    return run


def test_open_account_is_idempotent(ledger_run):
    async def scenario(ledger: Ledger):
        a = await ledger.account("a")
        again = await ledger.open(NewAccount(id=a, currency="USD", name="a", flags=AccountFlags(), overdraft_limit=None, metadata={}))
        assert not again.created
        with pytest.raises(Conflict):
            await ledger.open(NewAccount(id=a, currency="EUR", name="a", flags=AccountFlags(), overdraft_limit=None, metadata={}))

    ledger_run(scenario)


def test_transfer_moves_money_and_replays_are_idempotent(ledger_run):
    async def scenario(ledger: Ledger):
        a, b = await ledger.account("a"), await ledger.account("b")
        assert (await ledger.transfer("t1", a, b, 250)).status == "created"
        assert (await ledger.transfer("t1", a, b, 250)).status == "exists"
        changed = await ledger.transfer("t1", a, b, 251)
        assert (changed.status, changed.code) == ("failed", "exists_with_different_amount")
        assert await ledger.balances(a) == (250, 0, 0, 0)
        assert await ledger.balances(b) == (0, 250, 0, 0)

    ledger_run(scenario)


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda l, a, b: CreateTransfer(id=l.id("x"), debit_account_id=l.id("nope"), credit_account_id=b, amount=1, currency="USD"), "debit_account_not_found"),
        (lambda l, a, b: CreateTransfer(id=l.id("x"), debit_account_id=a, credit_account_id=b, amount=1, currency="EUR"), "currency_mismatch"),
        (lambda l, a, b: CreateTransfer(id=l.id("x"), debit_account_id=a, credit_account_id=b, amount=0, currency="USD"), "amount_must_be_positive"),
        (lambda l, a, b: CreateTransfer(id=l.id("x"), debit_account_id=a, credit_account_id=b, amount=-5, currency="USD"), "amount_must_be_positive"),
        (lambda l, a, b: CreateTransfer(id=l.id("x"), debit_account_id=a, credit_account_id=a, amount=1, currency="USD"), "accounts_must_be_different"),
        (lambda l, a, b: ResolvePending(id=l.id("x"), pending_id=l.id("missing"), action="post"), "pending_transfer_not_found"),
    ],
)
def test_bad_items_fail_with_codes_and_write_nothing(ledger_run, make, code):
    async def scenario(ledger: Ledger):
        a, b = await ledger.account("a"), await ledger.account("b")
        [result] = await ledger.post([make(ledger, a, b)])
        assert (result.status, result.code) == ("failed", code)
        assert await ledger.balances(a) == (0, 0, 0, 0) == await ledger.balances(b)
        with pytest.raises(NotFound):
            await ledger.read.transfer(ledger.id("x"))

    ledger_run(scenario)


def test_batch_size_limits(ledger_run):
    async def scenario(ledger: Ledger):
        a, b = await ledger.account("a"), await ledger.account("b")
        for n in (0, 8191):
            items = [CreateTransfer(id=ledger.id(f"t{i}"), debit_account_id=a, credit_account_id=b, amount=1, currency="USD")
                     for i in range(n)]
            with pytest.raises(InvalidInput) as error:
                await ledger.post(items)
            assert error.value.code == "batch_size_invalid"
        assert await ledger.balances(a) == (0, 0, 0, 0)

    ledger_run(scenario)


def test_two_phase_partial_post_releases_the_rest_once(ledger_run):
    async def scenario(ledger: Ledger):
        user = await ledger.account("user", flags=AccountFlags(debits_must_not_exceed_credits=True))
        bank = await ledger.account("bank")
        await ledger.transfer("fund", bank, user, 100)
        assert (await ledger.transfer("hold", user, bank, 80, pending=True)).status == "created"
        assert (await ledger.transfer("hold2", user, bank, 30, pending=True)).code == "insufficient_funds"
        assert await ledger.balances(user) == (0, 100, 80, 0)
        post = ResolvePending(id=ledger.id("post"), pending_id=ledger.id("hold"), action="post", amount=50)
        assert [r.status for r in await ledger.post([post])] == ["created"]
        assert await ledger.balances(user) == (50, 100, 0, 0)
        void = ResolvePending(id=ledger.id("void"), pending_id=ledger.id("hold"), action="void")
        assert (await ledger.post([void]))[0].code == "pending_transfer_already_posted"
        too_much = await ledger.transfer("hold3", user, bank, 40, pending=True)
        assert too_much.status == "created"
        over = ResolvePending(id=ledger.id("over"), pending_id=ledger.id("hold3"), action="post", amount=41)
        assert (await ledger.post([over]))[0].code == "exceeds_pending_amount"
        transfer, hold = await ledger.read.transfer(ledger.id("hold"))
        assert transfer.kind == "pending" and hold.state == "posted"

    ledger_run(scenario)


def test_expiry_is_exact_without_a_sweeper_and_the_sweeper_releases(ledger_run):
    async def scenario(ledger: Ledger):
        user, bank = await ledger.account("user"), await ledger.account("bank")
        await ledger.transfer("h1", user, bank, 10, pending=True, timeout_seconds=60)
        ledger.clock.advance(59.999)
        assert await ledger.balances(user) == (0, 0, 10, 0)
        ledger.clock.advance(0.001)
        assert await ledger.balances(user) == (0, 0, 0, 0)  # released on read
        late = ResolvePending(id=ledger.id("late"), pending_id=ledger.id("h1"), action="post")
        assert (await ledger.post([late]))[0].code == "pending_transfer_expired"
        await ledger.transfer("h2", user, bank, 7, pending=True, timeout_seconds=1)
        ledger.clock.advance(5)
        assert await ledger.expire() >= 1
        _, hold = await ledger.read.transfer(ledger.id("h2"))
        assert hold.state == "expired"
        assert (await ledger.read.account(bank)).balances.credits_pending == 0

    ledger_run(scenario)


def test_linked_chain_is_all_or_nothing(ledger_run):
    async def scenario(ledger: Ledger):
        user = await ledger.account("user", flags=AccountFlags(debits_must_not_exceed_credits=True))
        merchant, fees = await ledger.account("merchant"), await ledger.account("fees")
        bank = await ledger.account("bank")
        await ledger.transfer("fund", bank, user, 100)
        chain = [
            CreateTransfer(id=ledger.id("purchase"), debit_account_id=user, credit_account_id=merchant, amount=95, currency="USD", linked=True),
            CreateTransfer(id=ledger.id("fee"), debit_account_id=user, credit_account_id=fees, amount=6, currency="USD"),
        ]
        results = await ledger.post(chain)
        assert [(r.status, r.code) for r in results] == [("failed", "linked_event_failed"), ("failed", "insufficient_funds")]
        assert await ledger.balances(user) == (0, 100, 0, 0)
        open_chain = [CreateTransfer(id=ledger.id("open"), debit_account_id=user, credit_account_id=merchant, amount=1, currency="USD", linked=True)]
        assert (await ledger.post(open_chain))[0].code == "linked_event_chain_open"

    ledger_run(scenario)


def test_reversal_at_most_once(ledger_run):
    async def scenario(ledger: Ledger):
        a, b = await ledger.account("a"), await ledger.account("b")
        await ledger.transfer("t", a, b, 40)
        first = await ledger.post([ReverseTransfer(id=ledger.id("r1"), original_id=ledger.id("t"))])
        second = await ledger.post([ReverseTransfer(id=ledger.id("r2"), original_id=ledger.id("t"))])
        replay = await ledger.post([ReverseTransfer(id=ledger.id("r1"), original_id=ledger.id("t"))])
        assert (first[0].status, second[0].code, replay[0].status) == ("created", "already_reversed", "exists")
        assert await ledger.balances(a) == (40, 40, 0, 0)

    ledger_run(scenario)


def test_history_balances_at_and_entry_pages(ledger_run):
    async def scenario(ledger: Ledger):
        a, b = await ledger.account("a"), await ledger.account("b")
        times = []
        for i in range(5):
            ledger.clock.advance(10)
            times.append(ledger.clock.now())
            await ledger.transfer(f"t{i}", a, b, i + 1)
        _, before = await ledger.read.balances_at(a, times[0] - timedelta(seconds=1))
        _, third = await ledger.read.balances_at(a, times[2])
        assert before.debits_posted == 0 and third.debits_posted == 1 + 2 + 3
        page1 = await ledger.read.entries(a, 0, 2)
        page2 = await ledger.read.entries(a, page1.next_after, 2)
        page3 = await ledger.read.entries(a, page2.next_after, 2)
        seqs = [e.account_seq for p in (page1, page2, page3) for e in p.entries]
        assert seqs == [1, 2, 3, 4, 5] and page3.next_after is None
        running = [e.balances.debits_posted for p in (page1, page2, page3) for e in p.entries]
        assert running == [1, 3, 6, 10, 15]

    ledger_run(scenario)
