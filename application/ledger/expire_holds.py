"""The sweeper: release pending holds past their expiry, in bounded batches."""

from __future__ import annotations

from application.ports.clock import Clock
from application.ports.unit_of_work import Transactions, UnitOfWork
from domain.ledger import expire_due_holds


class ExpireHolds:
    def __init__(self, transactions: Transactions, clock: Clock) -> None:
        self._transactions = transactions
        self._clock = clock

    async def __call__(self, batch_size: int = 1000) -> int:
        """Expire due holds until none is left; returns how many were released."""
        total = 0
        while True:

            async def work(uow: UnitOfWork) -> int:
                now = self._clock.now()
                outcome = expire_due_holds(await uow.ledger.lock_due_holds(now, limit=batch_size), now)
                await uow.ledger.save(outcome)
                return len(outcome.holds_resolved)

            released = await self._transactions.run(work)
            total += released
            if released < batch_size:
                return total
