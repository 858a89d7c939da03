"""Post a batch of transfers, pending-transfer resolutions and reversals, atomically per chain."""

from __future__ import annotations

from collections.abc import Sequence

from application.ports.clock import Clock
from application.ports.unit_of_work import Transactions, UnitOfWork
from domain.ledger import ItemResult, LedgerItem, execute_batch
from domain.shared.errors import InvalidInput

MAX_BATCH = 8190


class PostTransfers:
    def __init__(self, transactions: Transactions, clock: Clock) -> None:
        self._transactions = transactions
        self._clock = clock

    async def __call__(self, items: Sequence[LedgerItem]) -> list[ItemResult]:
        if not 1 <= len(items) <= MAX_BATCH:
            raise InvalidInput(f"a batch holds 1 to {MAX_BATCH} items, not {len(items)}", code="batch_size_invalid")

        async def work(uow: UnitOfWork) -> list[ItemResult]:
            now = self._clock.now()
            snapshot = await uow.ledger.lock_snapshot(items, now)
            outcome = execute_batch(items, snapshot, now)
            await uow.ledger.save(outcome)
            return outcome.results

        return await self._transactions.run(work)
