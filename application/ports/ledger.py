from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Protocol

from domain.ledger import Account, Balances, BatchOutcome, Entry, Hold, LedgerItem, LedgerSnapshot, Transfer


class LedgerRepository(Protocol):
    """The ledger's storage, inside one unit of work (one transaction)."""

    async def insert_account(self, account: Account) -> Account | None:
        """Insert a new account; returns the existing one instead when the id is taken."""
        ...

    async def lock_snapshot(self, items: Sequence[LedgerItem], now: datetime) -> LedgerSnapshot:
        """Lock every account the items touch (ascending id order) and load what the engine needs:
        those accounts, the transfers the items name, the holds they resolve, the reversals of
        their originals, and the due holds between locked accounts."""
        ...

    async def queue_lock_snapshot(self, items: Sequence[LedgerItem], now: datetime
                                  ) -> Callable[[], Awaitable[LedgerSnapshot]]:
        """``lock_snapshot`` queued in the caller's ``uow.reads()`` block: the snapshot is awaited
        after the block."""
        ...

    async def lock_due_holds(self, now: datetime, limit: int, account_id: str | None = None) -> LedgerSnapshot:
        """Lock the accounts of up to ``limit`` pending holds past their expiry (of one account, or any)."""
        ...

    async def save(self, outcome: BatchOutcome) -> None:
        """Write what a batch produced: transfers, holds, entries and the accounts' new balances."""
        ...

    async def has_due_holds(self, account_id: str, now: datetime) -> bool: ...

    async def get_account(self, account_id: str) -> Account | None: ...

    async def get_transfer(self, transfer_id: str) -> Transfer | None: ...

    async def get_hold(self, transfer_id: str) -> Hold | None: ...

    async def balances_at(self, account_id: str, at: datetime) -> Balances:
        """The account's balances after its last entry at or before ``at`` (zero before any)."""
        ...

    async def entries(self, account_id: str, after_seq: int, limit: int) -> list[Entry]:
        """Entries oldest first, from account_seq ``after_seq + 1``."""
        ...
