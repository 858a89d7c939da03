"""What the card use cases share: request hashing for idempotency, balances, ledger ids, usage."""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime
from typing import Any

import msgspec

from application.ports.unit_of_work import UnitOfWork
from domain.cards.authorization import AuthorizationRequest, Decision, decline
from domain.cards.controls import Usage, usage_since
from domain.cards.model import Card, Cardholder, Program, tier_usage_since
from domain.compliance.monitoring import ActivityEvent
from domain.events import Event
from domain.ledger import Account, CreateTransfer, ItemResult
from domain.shared.errors import Conflict, NotFound

log = logging.getLogger("bursar.cards.authorize")


def request_hash(request: Any) -> str:
    return hashlib.sha256(msgspec.json.encode(msgspec.to_builtins(request), order="sorted")).hexdigest()


def same_request(stored_hash: str, request: Any, what: str) -> None:
    if stored_hash != request_hash(request):
        raise Conflict(f"{what} was already used for a different request", code="idempotency_conflict")


class CardBalance(msgspec.Struct, frozen=True, kw_only=True):
    currency: str
    posted: int
    pending: int  # held by open authorizations
    available: int


def card_balance(account: Account) -> CardBalance:
    """A card account is a liability to its holder: credits are money in, debits money out."""
    b = account.balances
    posted = b.credits_posted - b.debits_posted
    return CardBalance(currency=account.currency, posted=posted, pending=b.debits_pending,
                       available=posted - b.debits_pending)


def require(found, what: str, ident: str, code: str):
    if found is None:
        raise NotFound(f"no {what} {ident}", code=code)
    return found


async def publish(uow, ids, event_type: str, at, resource) -> None:
    """Write an event to the outbox, in the caller's transaction (committed with the change)."""
    await uow.outbox.add([Event.of(id=ids.new_id(), type=event_type, at=at, resource=resource)])


async def usages(uow: UnitOfWork, card: Card, holder: Cardholder, program: Program,
                 now: datetime) -> tuple[Usage, Usage]:
    """The card's usage, summed as far back as its limits (over the program's) look, and the
    cardholder's, as far back as the KYC tiers look: never over a card's whole life."""
    return (await uow.cards.usage(card_id=card.id, now=now,
                                  since=usage_since([card.controls.merged_over(program.controls)], now)),
            await uow.cards.usage(cardholder_id=holder.id, now=now, since=tier_usage_since(now)))


def activity_event(request: AuthorizationRequest, card: Card, card_amount: int, now: datetime) -> ActivityEvent:
    """The authorization as monitoring sees it: the cardholder's activity, in the card currency."""
    return ActivityEvent(id=f"auth:{request.message_id}", subject_id=card.cardholder_id, card_id=card.id,
                         kind="authorization", amount=card_amount, currency=card.currency, mcc=request.merchant.mcc,
                         country=request.merchant.country, at=now)


def hold_for(auth_id: str, card: Card, program: Program, amount: int, lane: int = 0, lanes: int = 1
             ) -> CreateTransfer:
    """The authorization's hold: a pending transfer from the card to the program's settlement
    account (its shard in ``lane``: ``Program.settlement_for``), expiring with the program's hold
    time."""
    return CreateTransfer(id=f"hold:{auth_id}", debit_account_id=card.account_id,
                          credit_account_id=program.settlement_for(card.id, lane, lanes), amount=amount,
                          currency=card.currency,
                          code="card_authorization", pending=True, timeout_seconds=program.hold_seconds,
                          metadata={"authorization_id": auth_id})


def refused_by_ledger(result: ItemResult) -> Decision:
    """A hold the ledger did not create: the decision turns into a decline (never approve on doubt)."""
    log.error("hold %s refused by the ledger: %s", result.id, result.code)
    return decline("51", f"ledger_{result.code}")
