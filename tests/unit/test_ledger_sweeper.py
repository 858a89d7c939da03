"""The background sweeper releases due holds without any request touching their accounts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from adapters.memory.ledger import InMemoryTransactions
from application.ledger.expire_holds import ExpireHolds
from application.ledger.open_account import OpenAccount
from application.ledger.post_transfers import PostTransfers
from application.ledger.sweeper import sweep_forever
from adapters.system import UuidV7Ids
from domain.ledger import AccountFlags, CreateTransfer, NewAccount


class Clock:
    now_value = datetime(2026, 1, 1, tzinfo=UTC)

    def now(self):
        return self.now_value


def test_sweeper_releases_due_holds_and_survives_failures():
    async def scenario():
        tx, clock = InMemoryTransactions(), Clock()
        for name in ("a", "b"):
            await OpenAccount(tx, clock, UuidV7Ids())(NewAccount(id=name, currency="USD", name=name, flags=AccountFlags()))
        await PostTransfers(tx, clock)([CreateTransfer(id="h", debit_account_id="a", credit_account_id="b", amount=5,
                                                       currency="USD", pending=True, timeout_seconds=10)])
        clock.now_value += timedelta(seconds=11)
        calls = []
        expire = ExpireHolds(tx, clock)

        async def flaky():
            calls.append(1)
            if len(calls) == 1:
                raise RuntimeError("database went away")
            return await expire()

        task = asyncio.create_task(sweep_forever(flaky, interval=0))
        while tx.state.holds["h"].state == "pending":
            await asyncio.sleep(0)
        task.cancel()
        assert tx.state.holds["h"].state == "expired" and len(calls) >= 2
        assert tx.state.accounts["a"].balances.debits_pending == 0

    asyncio.run(scenario())
