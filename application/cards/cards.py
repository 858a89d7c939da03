"""Issue cards through the vault, change their state and controls, fund them, read them.

The core never sees a PAN: the vault issues it and answers with a token, the BIN, the last four
digits and the expiry, which is all a card row holds. Each card gets its own ledger account in
the card currency that cannot go below zero.
"""

from __future__ import annotations

import uuid

import msgspec

from application.cards.common import CardBalance, card_balance, publish, require
from application.compliance.alerts_soon import AlertsSoon
from application.ledger.read_ledger import ReadLedger
from application.ports.clock import Clock, IdGenerator
from application.ports.compliance import SubjectStatuses
from application.ports.unit_of_work import Transactions, UnitOfWork
from application.ports.vault import VaultClient
from domain.cards.controls import Controls
from domain.cards.model import Card, CardState
from domain.cards.records import Authorization, CardTransaction
from domain.compliance.monitoring import ActivityEvent
from domain.events import CARD_CREATED, CARD_UPDATED
from domain.ledger import AccountFlags, CreateTransfer, ItemResult, NewAccount, execute_batch, open_account
from domain.shared.errors import Conflict, InvalidInput

_REQUEST_IDS = uuid.UUID("6f1d2a8e-5b8c-4c53-9a57-3f0f8a1c2b11")


class NewCard(msgspec.Struct, frozen=True, kw_only=True):
    cardholder_id: str
    program_id: str
    controls: Controls = Controls()
    state: CardState = "active"


def id_for(prefix: str, scope: str, idempotency_key: str | None, ids: IdGenerator) -> str:
    """A new record's id; a repeat of the same request (same caller and route, same Idempotency-Key)
    names the same record, so creating it again finds the first one."""
    if idempotency_key is None:
        return f"{prefix}_{ids.new_id()}"
    return f"{prefix}_{uuid.uuid5(_REQUEST_IDS, f'{scope}:{idempotency_key}')}"


class IssueCard:
    def __init__(self, transactions: Transactions, vault: VaultClient, statuses: SubjectStatuses, clock: Clock,
                 ids: IdGenerator) -> None:
        self._transactions = transactions
        self._vault = vault
        self._statuses = statuses
        self._clock = clock
        self._ids = ids

    async def __call__(self, cmd: NewCard, card_id: str) -> tuple[Card, bool]:
        if cmd.state not in ("active", "inactive"):
            raise InvalidInput("a new card is active or inactive", code="invalid_card_state")

        async def read(uow: UnitOfWork):
            return (await uow.cards.get_card(card_id), await uow.cards.get_cardholder(cmd.cardholder_id),
                    await uow.cards.get_program(cmd.program_id))

        earlier, holder, program = await self._transactions.run(read)
        if earlier is not None:
            return _same_card(earlier, cmd), False
        holder = require(holder, "cardholder", cmd.cardholder_id, "cardholder_not_found")
        program = require(program, "program", cmd.program_id, "program_not_found")
        if holder.kyc_status == "rejected":
            raise Conflict("this cardholder failed KYC and cannot get cards", code="cardholder_rejected")
        if await self._statuses.subject_status(holder.id) == "blocked":
            raise Conflict("this cardholder is blocked by sanctions screening", code="cardholder_blocked")
        now = self._clock.now()
        exp_month, exp_year = program.expiry_for(now)
        issued = await self._vault.issue_pan(program.id, program.bin, exp_month, exp_year, idempotency_key=card_id)
        card = Card(id=card_id, cardholder_id=holder.id, program_id=program.id, token=issued.token, bin=issued.bin,
                    last4=issued.last4, exp_month=issued.exp_month, exp_year=issued.exp_year,
                    currency=program.currency, state=cmd.state, controls=cmd.controls,
                    account_id=f"{card_id}:account", created_at=now, updated_at=now)

        async def work(uow: UnitOfWork) -> tuple[Card, bool]:
            again = await uow.cards.get_card(card_id)
            if again is not None:  # a concurrent repeat stored it first
                return _same_card(again, cmd), False
            await uow.ledger.insert_account(open_account(NewAccount(
                id=card.account_id, currency=card.currency, name=f"card {card.id}",
                flags=AccountFlags(debits_must_not_exceed_credits=True),
                metadata={"card_id": card.id, "cardholder_id": holder.id},
            ), now))
            await uow.cards.add_card(card)
            await publish(uow, self._ids, CARD_CREATED, now, card)
            return card, True

        return await self._transactions.run(work)


def _same_card(card: Card, cmd: NewCard) -> Card:
    if (card.cardholder_id, card.program_id, card.controls) != (cmd.cardholder_id, cmd.program_id, cmd.controls):
        raise Conflict("this Idempotency-Key was used for a different card", code="idempotency_conflict")
    return card


class CardChange(msgspec.Struct, frozen=True, kw_only=True):
    state: CardState | None = None
    controls: Controls | None = None


class UpdateCard:
    def __init__(self, transactions: Transactions, clock: Clock, ids: IdGenerator) -> None:
        self._transactions = transactions
        self._clock = clock
        self._ids = ids

    async def __call__(self, card_id: str, change: CardChange) -> Card:
        async def work(uow: UnitOfWork) -> Card:
            card = require(await uow.cards.get_card(card_id, lock=True), "card", card_id, "card_not_found")
            now = self._clock.now()
            updated = card.moved_to(change.state, now) if change.state else card
            if change.controls is not None:
                updated = msgspec.structs.replace(updated, controls=change.controls, updated_at=now)
            if updated != card:
                await uow.cards.update_card(updated)
                await publish(uow, self._ids, CARD_UPDATED, now, updated)
            return updated

        return await self._transactions.run(work)


class Funding(msgspec.Struct, frozen=True, kw_only=True):
    id: str  # the client's id: the idempotency key of the funding
    amount: int
    currency: str


class FundCard:
    """Move money from the program's funding account to the card's account (one ledger transfer).

    The funding is the cardholder's activity for transaction monitoring: stored in the same
    transaction as the transfer (a crash cannot lose it), its alert rules evaluated soon after
    the commit, off the answer's path (``AlertsSoon``)."""

    def __init__(self, transactions: Transactions, clock: Clock, alerts: AlertsSoon) -> None:
        self._transactions = transactions
        self._clock = clock
        self._alerts = alerts

    async def __call__(self, card_id: str, funding: Funding) -> tuple[ItemResult, str]:
        async def work(uow: UnitOfWork) -> tuple[ItemResult, str]:
            card = require(await uow.cards.get_card(card_id), "card", card_id, "card_not_found")
            if card.state == "closed":
                raise Conflict("a closed card cannot be funded", code="card_closed")
            program = require(await uow.cards.get_program(card.program_id), "program", card.program_id,
                              "program_not_found")
            transfer = CreateTransfer(id=f"funding:{funding.id}", debit_account_id=program.accounts.funding,
                                      credit_account_id=card.account_id, amount=funding.amount,
                                      currency=funding.currency, code="card_funding",
                                      metadata={"card_id": card.id})
            now = self._clock.now()
            snapshot = await uow.ledger.lock_snapshot([transfer], now)
            outcome = execute_batch([transfer], snapshot, now)
            await uow.ledger.save(outcome)
            if outcome.results[0].status == "created":
                await uow.activity.append([ActivityEvent(
                    id=transfer.id, subject_id=card.cardholder_id, card_id=card.id, kind="funding",
                    amount=funding.amount, currency=funding.currency, at=now)], now)
            return outcome.results[0], transfer.id

        result, transfer_id = await self._transactions.run(work)
        if result.status == "created":
            self._alerts.ask()
        return result, transfer_id


class CardActivity(msgspec.Struct, frozen=True, kw_only=True):
    authorizations: list[Authorization]
    transactions: list[CardTransaction]


class ReadCards:
    def __init__(self, transactions: Transactions, ledger: ReadLedger) -> None:
        self._transactions = transactions
        self._ledger = ledger

    async def get(self, card_id: str) -> Card:
        async def read(uow: UnitOfWork) -> Card | None:
            return await uow.cards.get_card(card_id)

        return require(await self._transactions.run(read), "card", card_id, "card_not_found")

    async def balance(self, card_id: str) -> CardBalance:
        """As of now: holds past their expiry are released first (the ledger's read does it), so the
        balance never shows money reserved by an expired authorization, sweeper or not."""
        card = await self.get(card_id)
        return card_balance(await self._ledger.account(card.account_id))

    async def authorization(self, authorization_id: str) -> Authorization:
        async def read(uow: UnitOfWork) -> Authorization | None:
            return await uow.cards.get_authorization(authorization_id)

        return require(await self._transactions.run(read), "authorization", authorization_id,
                       "authorization_not_found")

    async def authorizations(self, card_id: str, after: str | None, limit: int) -> list[Authorization]:
        async def read(uow: UnitOfWork) -> list[Authorization]:
            require(await uow.cards.get_card(card_id), "card", card_id, "card_not_found")
            return await uow.cards.authorizations(card_id, after, limit)

        return await self._transactions.run(read)

    async def transactions(self, card_id: str, after: str | None, limit: int) -> list[CardTransaction]:
        async def read(uow: UnitOfWork) -> list[CardTransaction]:
            require(await uow.cards.get_card(card_id), "card", card_id, "card_not_found")
            return await uow.cards.transactions(card_id, after, limit)

        return await self._transactions.run(read)
