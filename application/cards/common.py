"""What the card use cases share: request hashing for idempotency, balances, ledger ids."""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

from domain.events import Event
from domain.ledger import Account
from domain.shared.errors import Conflict, NotFound


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
