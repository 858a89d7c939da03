"""The ledger in memory, for unit tests. It passes the same contract suite as PostgreSQL.

One asyncio lock serialises transactions (the in-memory stand-in for row locks). Writes apply
at once, so a transaction reads its own writes; a transaction that raises is rolled back to a
copy taken when it began, so it leaves nothing behind.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_right
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import TypeVar

from adapters.memory.events import EventState, InMemoryOutbox
from adapters.memory.queued import ready
from domain.ledger import (
    Account,
    Balances,
    BatchOutcome,
    Entry,
    Hold,
    LedgerItem,
    LedgerSnapshot,
    Transfer,
    referenced_ids,
)

T = TypeVar("T")


class LedgerState:
    def __init__(self) -> None:
        self.accounts: dict[str, Account] = {}
        self.transfers: dict[str, Transfer] = {}
        self.holds: dict[str, Hold] = {}
        self.reversals: dict[str, str] = {}
        self.entries: dict[str, list[Entry]] = {}

    def copy(self) -> LedgerState:
        clone = LedgerState()
        clone.accounts, clone.transfers, clone.holds = dict(self.accounts), dict(self.transfers), dict(self.holds)
        clone.reversals = dict(self.reversals)
        clone.entries = {k: list(v) for k, v in self.entries.items()}
        return clone

    def restore(self, other: LedgerState) -> None:
        self.__dict__.update(other.__dict__)

    def apply(self, outcome: BatchOutcome) -> None:
        for transfer in outcome.transfers:
            self.transfers[transfer.id] = transfer
            if transfer.reverses_id:
                self.reversals[transfer.reverses_id] = transfer.id
        for hold in (*outcome.holds_created, *outcome.holds_resolved):
            self.holds[hold.transfer_id] = hold
        for entry in outcome.entries:
            self.entries.setdefault(entry.account_id, []).append(entry)
        self.accounts.update(outcome.accounts)


class InMemoryLedger:
    def __init__(self, state: LedgerState) -> None:
        self._state = state

    async def insert_account(self, account: Account) -> Account | None:
        existing = self._state.accounts.get(account.id)
        if existing is None:
            self._state.accounts[account.id] = account
        return existing

    def _due(self, now: datetime, account_ids: set[str] | None) -> list[Hold]:
        return sorted(
            (h for h in self._state.holds.values()
             if h.state == "pending" and h.expires_at is not None and h.expires_at <= now
             and (account_ids is None or h.debit_account_id in account_ids or h.credit_account_id in account_ids)),
            key=lambda h: h.expires_at,
        )

    async def lock_snapshot(self, items: Sequence[LedgerItem], now: datetime) -> LedgerSnapshot:
        account_ids, transfer_ids = referenced_ids(items)
        for tid in transfer_ids:
            if (t := self._state.transfers.get(tid)) is not None:
                account_ids |= {t.debit_account_id, t.credit_account_id}
        for hold in self._due(now, set(account_ids)):
            account_ids |= {hold.debit_account_id, hold.credit_account_id}
        return self._snapshot(account_ids, transfer_ids, now)

    async def queue_lock_snapshot(self, items: Sequence[LedgerItem], now: datetime
                                  ) -> Callable[[], Awaitable[LedgerSnapshot]]:
        return ready(await self.lock_snapshot(items, now))

    async def lock_due_holds(self, now: datetime, limit: int, account_id: str | None = None) -> LedgerSnapshot:
        due = self._due(now, None if account_id is None else {account_id})[:limit]
        return self._snapshot({a for h in due for a in (h.debit_account_id, h.credit_account_id)}, set(), now)

    def _snapshot(self, account_ids: set[str], transfer_ids: set[str], now: datetime) -> LedgerSnapshot:
        s = self._state
        accounts = {a: s.accounts[a] for a in account_ids if a in s.accounts}
        holds = {t: s.holds[t] for t in transfer_ids if t in s.holds}
        for hold in self._due(now, set(accounts)):
            if hold.debit_account_id in accounts and hold.credit_account_id in accounts:
                holds[hold.transfer_id] = hold
        return LedgerSnapshot(
            accounts=accounts,
            transfers={t: s.transfers[t] for t in transfer_ids if t in s.transfers},
            holds=holds,
            reversals={t: s.reversals[t] for t in transfer_ids if t in s.reversals},
        )

    async def save(self, outcome: BatchOutcome) -> None:
        self._state.apply(outcome)

    async def has_due_holds(self, account_id: str, now: datetime) -> bool:
        return bool(self._due(now, {account_id}))

    async def get_account(self, account_id: str) -> Account | None:
        return self._state.accounts.get(account_id)

    async def get_transfer(self, transfer_id: str) -> Transfer | None:
        return self._state.transfers.get(transfer_id)

    async def get_hold(self, transfer_id: str) -> Hold | None:
        return self._state.holds.get(transfer_id)

    async def balances_at(self, account_id: str, at: datetime) -> Balances:
        entries = self._state.entries.get(account_id, [])
        i = bisect_right([e.timestamp for e in entries], at)
        return entries[i - 1].balances if i else Balances()

    async def entries(self, account_id: str, after_seq: int, limit: int) -> list[Entry]:
        return self._state.entries.get(account_id, [])[after_seq : after_seq + limit]


class InMemoryUnitOfWork:
    def __init__(self, state: LedgerState, events: EventState | None = None) -> None:
        self.ledger = InMemoryLedger(state)
        self.outbox = InMemoryOutbox(events if events is not None else EventState())

    @asynccontextmanager
    async def reads(self) -> AsyncIterator[None]:
        """In memory every read is already immediate."""
        yield

    @asynccontextmanager
    async def writes(self, *, last: bool = False) -> AsyncIterator[None]:
        """In memory every write is already immediate."""
        yield


class InMemoryTransactions:
    def __init__(self, state: LedgerState | None = None, events: EventState | None = None) -> None:
        self.state = state or LedgerState()
        self.events = events if events is not None else EventState()
        self._lock = asyncio.Lock()

    async def run(self, work: Callable[[InMemoryUnitOfWork], Awaitable[T]]) -> T:
        async with self._lock:
            before = self.state.copy()
            try:
                uow = InMemoryUnitOfWork(self.state, self.events)
                result = await work(uow)
                uow.outbox.publish()  # events become visible on commit only
                return result
            except BaseException:
                self.state.restore(before)
                raise

