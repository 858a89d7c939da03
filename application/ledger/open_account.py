"""Open a ledger account; idempotent on the account id."""

from __future__ import annotations

import msgspec

from application.ports.clock import Clock, IdGenerator
from application.ports.unit_of_work import Transactions, UnitOfWork
from domain.ledger import Account, NewAccount, open_account
from domain.shared.errors import Conflict


class OpenedAccount(msgspec.Struct, frozen=True, kw_only=True):
    account: Account
    created: bool


class OpenAccount:
    def __init__(self, transactions: Transactions, clock: Clock, ids: IdGenerator) -> None:
        self._transactions = transactions
        self._clock = clock
        self._ids = ids

    async def __call__(self, cmd: NewAccount) -> OpenedAccount:
        if not cmd.id:
            cmd = msgspec.structs.replace(cmd, id=self._ids.new_id())
        account = open_account(cmd, self._clock.now())

        async def work(uow: UnitOfWork) -> OpenedAccount:
            existing = await uow.ledger.insert_account(account)
            if existing is None:
                return OpenedAccount(account=account, created=True)
            if _definition(existing) != _definition(account):
                raise Conflict(f"account {account.id} exists with a different definition", code="idempotency_conflict")
            return OpenedAccount(account=existing, created=False)

        return await self._transactions.run(work)


def _definition(account: Account) -> tuple:
    return (account.currency, account.name, account.flags, account.overdraft_limit, account.metadata)
