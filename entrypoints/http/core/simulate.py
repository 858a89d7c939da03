"""``/v1/simulate/*`` (role ops): drive network traffic by card or authorization id, for demos and
client tests. Mounted only when ``BURSAR_ENV`` is not ``production`` (there the paths are 404).

Each answer is exactly what the network entry would answer. An ``Idempotency-Key`` makes the
simulated message id stable, so repeating a request repeats the answer without a second effect.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, Request, post
from litestar.datastructures import State
from litestar.params import FromPath, HeaderParameter, JSONBody

from application.cards.cards import id_for
from application.cards.simulate import DEMO_MERCHANT, SimulatedPurchase
from entrypoints.http.core.network import Amount, Currency, MerchantIn, merchant_of
from entrypoints.http.security import current_principal, roles

IdempotencyKey = Annotated[str | None, HeaderParameter(name="Idempotency-Key", max_length=128)]


class PurchaseIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    amount: Amount
    currency: Currency | None = None
    merchant: MerchantIn | None = None
    partial_allowed: bool = False


class AmountIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    amount: Amount | None = None


class IncrementIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    amount: Amount


def _purchase(data: PurchaseIn) -> SimulatedPurchase:
    return SimulatedPurchase(amount=data.amount, currency=data.currency, partial_allowed=data.partial_allowed,
                             merchant=merchant_of(data.merchant) if data.merchant else DEMO_MERCHANT)


def _message_id(state: State, request: Request, key: str | None) -> str:
    scope = f"{current_principal(request).key_id}:{request.url.path}"
    return id_for("sim", scope, key, state.container.ids())


class SimulationController(Controller):
    path = "/v1/simulate"
    tags = ["simulation"]
    opt = roles("ops")

    @post("/cards/{card_id:str}/authorizations", status_code=200, summary="Simulate an authorization on a card")
    async def authorization(self, state: State, request: Request, card_id: FromPath[str], data: JSONBody[PurchaseIn],
                            idempotency_key: IdempotencyKey = None) -> dict:
        return await state.container.cards_simulate().authorization(
            card_id, _purchase(data), _message_id(state, request, idempotency_key))

    @post("/cards/{card_id:str}/force-posts", status_code=200, summary="Simulate a clearing without authorization")
    async def force_post(self, state: State, request: Request, card_id: FromPath[str], data: JSONBody[PurchaseIn],
                         idempotency_key: IdempotencyKey = None) -> dict:
        return await state.container.cards_simulate().force_post(
            card_id, _purchase(data), _message_id(state, request, idempotency_key))

    @post("/cards/{card_id:str}/refunds", status_code=200, summary="Simulate a merchant refund to a card")
    async def refund(self, state: State, request: Request, card_id: FromPath[str], data: JSONBody[PurchaseIn],
                     idempotency_key: IdempotencyKey = None) -> dict:
        return await state.container.cards_simulate().refund(
            card_id, _purchase(data), _message_id(state, request, idempotency_key))

    @post("/authorizations/{authorization_id:str}/increments", status_code=200,
          summary="Simulate an increment of an authorization")
    async def increment(self, state: State, request: Request, authorization_id: FromPath[str],
                        data: JSONBody[IncrementIn], idempotency_key: IdempotencyKey = None) -> dict:
        return await state.container.cards_simulate().increment(
            authorization_id, data.amount, _message_id(state, request, idempotency_key))

    @post("/authorizations/{authorization_id:str}/reversals", status_code=200,
          summary="Simulate a full (no amount) or partial reversal")
    async def reversal(self, state: State, request: Request, authorization_id: FromPath[str],
                       data: JSONBody[AmountIn], idempotency_key: IdempotencyKey = None) -> dict:
        return await state.container.cards_simulate().reversal(
            authorization_id, data.amount, _message_id(state, request, idempotency_key))

    @post("/authorizations/{authorization_id:str}/clearings", status_code=200,
          summary="Simulate the clearing of an authorization (no amount: what it approved)")
    async def clearing(self, state: State, request: Request, authorization_id: FromPath[str],
                       data: JSONBody[AmountIn], idempotency_key: IdempotencyKey = None) -> dict:
        return await state.container.cards_simulate().clearing(
            authorization_id, data.amount, _message_id(state, request, idempotency_key))
