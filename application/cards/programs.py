"""Create and read card programs (role ops). A program's ledger accounts are made with it unless named.

A program may name a real-time decision webhook; its signing secret is generated here and shown
once, in the answer to the request that created the program.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from application.cards.common import require
from application.ports.clock import Clock, IdGenerator
from application.ports.events import WebhookSigner
from application.ports.unit_of_work import Transactions, UnitOfWork
from domain.cards.controls import Controls
from domain.cards.model import DEFAULT_HOLD_SECONDS, DecisionWebhook, Program, ProgramAccounts
from domain.ledger import AccountFlags, NewAccount, open_account
from domain.shared.errors import Conflict, InvalidInput


class NewDecisionWebhook(msgspec.Struct, frozen=True, kw_only=True):
    url: str
    timeout_ms: int = 1_000
    fallback: Literal["approve", "decline"] = "decline"


class NewProgram(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    bin: str
    currency: str
    expiry_months: int = 36
    controls: Controls = Controls()
    fx_markup_bps: int = 0
    hold_seconds: int = DEFAULT_HOLD_SECONDS
    accounts: ProgramAccounts | None = None
    decision_webhook: NewDecisionWebhook | None = None
    settlement_shards: int = 1
    id: str | None = None


class CreateProgram:
    def __init__(self, transactions: Transactions, clock: Clock, ids: IdGenerator, signer: WebhookSigner) -> None:
        self._transactions = transactions
        self._clock = clock
        self._ids = ids
        self._signer = signer

    async def __call__(self, cmd: NewProgram) -> tuple[Program, bool]:
        """The program, and whether it is new (a repeated ``id`` with the same fields returns it)."""
        now = self._clock.now()
        program_id = cmd.id or f"prog_{self._ids.new_id()}"
        accounts = cmd.accounts or ProgramAccounts(
            funding=f"{program_id}:funding", settlement=f"{program_id}:settlement", fx_fees=f"{program_id}:fx_fees"
        )
        webhook = cmd.decision_webhook and DecisionWebhook(
            url=cmd.decision_webhook.url, secret=self._signer.new_secret(), timeout_ms=cmd.decision_webhook.timeout_ms,
            fallback=cmd.decision_webhook.fallback)
        program = Program(id=program_id, name=cmd.name, bin=cmd.bin, currency=cmd.currency,
                          expiry_months=cmd.expiry_months, controls=cmd.controls, fx_markup_bps=cmd.fx_markup_bps,
                          hold_seconds=cmd.hold_seconds, accounts=accounts, created_at=now, decision_webhook=webhook,
                          settlement_shards=cmd.settlement_shards)

        async def work(uow: UnitOfWork) -> tuple[Program, bool]:
            earlier = await uow.cards.get_program(program_id)
            if earlier is not None:
                if _definition(earlier) != _definition(program):
                    raise Conflict(f"program {program_id} exists with different fields", code="idempotency_conflict")
                return earlier, False
            roles = [("funding source", accounts.funding), ("network settlement", accounts.settlement),
                     ("FX fee revenue", accounts.fx_fees)]
            if program.settlement_shards > 1:
                roles += [(f"network settlement, shard {n}", shard) for n, shard in
                          enumerate(program.shard_accounts(accounts.settlement))]
                roles += [(f"FX fee revenue, shard {n}", shard) for n, shard in
                          enumerate(program.shard_accounts(accounts.fx_fees))]
            if cmd.accounts is None:
                for role, account_id in roles:
                    await uow.ledger.insert_account(open_account(NewAccount(
                        id=account_id, currency=cmd.currency, name=f"{cmd.name}: {role}", flags=AccountFlags(),
                    ), now))
            else:
                for _, account_id in roles:
                    account = await uow.ledger.get_account(account_id)
                    if account is None or account.currency != cmd.currency:
                        raise InvalidInput(f"ledger account {account_id} must exist in {cmd.currency}",
                                           code="invalid_program_account")
            await uow.cards.add_program(program)
            return program, True

        return await self._transactions.run(work)


def _definition(program: Program) -> Program:
    """What a repeated create must match: everything but the creation time and the generated secret."""
    webhook = program.decision_webhook and msgspec.structs.replace(program.decision_webhook, secret="")
    return msgspec.structs.replace(program, created_at=datetime.min, decision_webhook=webhook)


class ReadPrograms:
    def __init__(self, transactions: Transactions) -> None:
        self._transactions = transactions

    async def get(self, program_id: str) -> Program:
        async def read(uow: UnitOfWork) -> Program | None:
            return await uow.cards.get_program(program_id)

        return require(await self._transactions.run(read), "program", program_id, "program_not_found")
