"""The card network's entry (role ``network``): authorizations and what follows them.

Every message is idempotent by ``message_id``: a retry returns the first answer.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody
from msgspec import Meta

from application.cards.after_authorization import Clearing, Increment, Refund, Reversal
from domain.cards.authorization import AuthorizationRequest, Merchant
from entrypoints.http.security import roles

MessageId = Annotated[str, Meta(min_length=1, max_length=128)]
Amount = Annotated[int, Meta(gt=0, le=2**62)]
Currency = Annotated[str, Meta(pattern=r"^[A-Z]{3}$")]
Token = Annotated[str, Meta(pattern=r"^tok_[a-z0-9]{26}$")]


class MerchantIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: Annotated[str, Meta(min_length=1, max_length=200)]
    mcc: Annotated[str, Meta(pattern=r"^[0-9]{4}$")]
    country: Annotated[str, Meta(pattern=r"^[A-Z]{2}$")]
    id: Annotated[str, Meta(max_length=64)] | None = None


class AuthorizationIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    message_id: MessageId
    card_token: Token
    amount: Amount
    currency: Currency
    merchant: MerchantIn
    partial_allowed: bool = False


class IncrementIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    message_id: MessageId
    amount: Amount


class ReversalIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    message_id: MessageId
    amount: Amount | None = None


class ClearingIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    message_id: MessageId
    card_token: Token
    amount: Amount
    currency: Currency
    merchant: MerchantIn
    authorization_id: Annotated[str, Meta(max_length=128)] | None = None


class RefundIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    message_id: MessageId
    card_token: Token
    amount: Amount
    currency: Currency
    merchant: MerchantIn


def merchant_of(m: MerchantIn) -> Merchant:
    return Merchant(name=m.name, mcc=m.mcc, country=m.country, id=m.id)


class NetworkController(Controller):
    tags = ["network"]
    opt = roles("network")

    @post("/v1/network/authorizations", status_code=200, summary="Authorize (ISO 8583 response codes)")
    async def authorize(self, state: State, data: JSONBody[AuthorizationIn]) -> dict:
        return await state.container.cards_authorize()(AuthorizationRequest(
            message_id=data.message_id, card_token=data.card_token, amount=data.amount, currency=data.currency,
            merchant=merchant_of(data.merchant), partial_allowed=data.partial_allowed))

    @post("/v1/network/authorizations/{authorization_id:str}/increments", status_code=200,
          summary="Extend an authorization's hold")
    async def increment(self, state: State, authorization_id: FromPath[str], data: JSONBody[IncrementIn]) -> dict:
        return await state.container.cards_increment()(authorization_id, Increment(
            message_id=data.message_id, amount=data.amount))

    @post("/v1/network/authorizations/{authorization_id:str}/reversals", status_code=200,
          summary="Release all or part of a hold")
    async def reverse(self, state: State, authorization_id: FromPath[str], data: JSONBody[ReversalIn]) -> dict:
        return await state.container.cards_reverse()(authorization_id, Reversal(
            message_id=data.message_id, amount=data.amount))

    @post("/v1/network/clearings", status_code=200, summary="Clear (post) a transaction; without an authorization, a force post")
    async def clear(self, state: State, data: JSONBody[ClearingIn]) -> dict:
        return await state.container.cards_clear()(Clearing(
            message_id=data.message_id, card_token=data.card_token, amount=data.amount, currency=data.currency,
            merchant=merchant_of(data.merchant), authorization_id=data.authorization_id))

    @post("/v1/network/refunds", status_code=200, summary="Credit a refund to the card")
    async def refund(self, state: State, data: JSONBody[RefundIn]) -> dict:
        return await state.container.cards_refund()(Refund(
            message_id=data.message_id, card_token=data.card_token, amount=data.amount, currency=data.currency,
            merchant=merchant_of(data.merchant)))
