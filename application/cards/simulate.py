"""Simulated network traffic by card id, for demos and client tests (role ops; never in production).

Each simulation builds the network message the card network would send (with the card's vault
token, which the caller never needs to know) and runs it through the very use case the network
entry uses, so a simulated authorization is decided, held, limited and published exactly like a
real one. Message ids come from the caller's ``Idempotency-Key`` when given, so a repeated
simulation is answered like a repeated network message.
"""

from __future__ import annotations

from typing import Any

import msgspec

from application.cards.after_authorization import (
    Clearing,
    ClearTransaction,
    Increment,
    IncrementAuthorization,
    Refund,
    RefundTransaction,
    Reversal,
    ReverseAuthorization,
)
from application.cards.authorize import Authorize
from application.cards.cards import ReadCards
from domain.cards.authorization import AuthorizationRequest, Merchant

DEMO_MERCHANT = Merchant(name="Bursar Demo Shop", mcc="5734", country="US", id="demo-shop")


class SimulatedPurchase(msgspec.Struct, frozen=True, kw_only=True):
    amount: int
    currency: str | None = None  # None: the card's currency
    merchant: Merchant = DEMO_MERCHANT
    partial_allowed: bool = False


class SimulateNetwork:
    def __init__(self, cards: ReadCards, authorize: Authorize, increment: IncrementAuthorization,
                 reverse: ReverseAuthorization, clear: ClearTransaction, refund: RefundTransaction) -> None:
        self._cards = cards
        self._authorize = authorize
        self._increment = increment
        self._reverse = reverse
        self._clear = clear
        self._refund = refund

    async def authorization(self, card_id: str, purchase: SimulatedPurchase, message_id: str) -> dict[str, Any]:
        card = await self._cards.get(card_id)
        return await self._authorize(AuthorizationRequest(
            message_id=message_id, card_token=card.token, amount=purchase.amount,
            currency=purchase.currency or card.currency, merchant=purchase.merchant,
            partial_allowed=purchase.partial_allowed))

    async def increment(self, authorization_id: str, amount: int, message_id: str) -> dict[str, Any]:
        return await self._increment(authorization_id, Increment(message_id=message_id, amount=amount))

    async def reversal(self, authorization_id: str, amount: int | None, message_id: str) -> dict[str, Any]:
        return await self._reverse(authorization_id, Reversal(message_id=message_id, amount=amount))

    async def clearing(self, authorization_id: str, amount: int | None, message_id: str) -> dict[str, Any]:
        """Clear an authorization; ``None`` clears what it approved, in its merchant currency."""
        auth = await self._cards.authorization(authorization_id)
        card = await self._cards.get(auth.card_id)
        return await self._clear(Clearing(
            message_id=message_id, card_token=card.token, amount=amount or auth.approved_amount or auth.amount,
            currency=auth.currency, merchant=auth.merchant, authorization_id=auth.id))

    async def force_post(self, card_id: str, purchase: SimulatedPurchase, message_id: str) -> dict[str, Any]:
        card = await self._cards.get(card_id)
        return await self._clear(Clearing(
            message_id=message_id, card_token=card.token, amount=purchase.amount,
            currency=purchase.currency or card.currency, merchant=purchase.merchant))

    async def refund(self, card_id: str, purchase: SimulatedPurchase, message_id: str) -> dict[str, Any]:
        card = await self._cards.get(card_id)
        return await self._refund(Refund(
            message_id=message_id, card_token=card.token, amount=purchase.amount,
            currency=purchase.currency or card.currency, merchant=purchase.merchant))
