"""Reads: accounts (with due holds expired first), balances as of an instant, entries, transfers."""

from __future__ import annotations

from datetime import datetime

import msgspec

from application.ports.clock import Clock
from application.ports.unit_of_work import Transactions, UnitOfWork
from domain.ledger import Account, Balances, Entry, Hold, Transfer, expire_due_holds
from domain.shared.errors import NotFound


class EntryPage(msgspec.Struct, frozen=True, kw_only=True):
    entries: list[Entry]
    next_after: int | None


class ReadLedger:
    def __init__(self, transactions: Transactions, clock: Clock) -> None:
        self._transactions = transactions
        self._clock = clock

    async def account(self, account_id: str) -> Account:
        """The account as of now: holds past their expiry are released first, even when no
        sweeper has run, so a read never shows money reserved by an expired hold."""

        async def work(uow: UnitOfWork) -> Account | None:
            now = self._clock.now()
            if await uow.ledger.has_due_holds(account_id, now):
                snapshot = await uow.ledger.lock_due_holds(now, limit=10_000, account_id=account_id)
                await uow.ledger.save(expire_due_holds(snapshot, now))
            return await uow.ledger.get_account(account_id)

        return _found(await self._transactions.run(work), "account", account_id)

    async def balances_at(self, account_id: str, at: datetime) -> tuple[Account, Balances]:
        async def work(uow: UnitOfWork) -> tuple[Account | None, Balances]:
            return await uow.ledger.get_account(account_id), await uow.ledger.balances_at(account_id, at)

        account, balances = await self._transactions.run(work)
        return _found(account, "account", account_id), balances

    async def entries(self, account_id: str, after_seq: int, limit: int) -> EntryPage:
        async def work(uow: UnitOfWork) -> tuple[Account | None, list[Entry]]:
            return await uow.ledger.get_account(account_id), await uow.ledger.entries(account_id, after_seq, limit + 1)

        account, entries = await self._transactions.run(work)
        _found(account, "account", account_id)
        more = len(entries) > limit
        entries = entries[:limit]
        return EntryPage(entries=entries, next_after=entries[-1].account_seq if more else None)

    async def transfer(self, transfer_id: str) -> tuple[Transfer, Hold | None]:
        async def work(uow: UnitOfWork) -> tuple[Transfer | None, Hold | None]:
            return await uow.ledger.get_transfer(transfer_id), await uow.ledger.get_hold(transfer_id)

        transfer, hold = await self._transactions.run(work)
        return _found(transfer, "transfer", transfer_id), hold


def _found(value, kind: str, key: str):
    if value is None:
        raise NotFound(f"no {kind} {key!r}", code=f"{kind}_not_found")
    return value
