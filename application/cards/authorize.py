"""Decide a network authorization and, when approved, hold the money, in one transaction.

Per message: a retry (same ``message_id``, same fields) gets the first answer; the same id with
other fields is ``idempotency_conflict``. The card and its cardholder are locked for the
decision, so concurrent authorizations on one card (or one cardholder's cards) are decided one
after the other: N racing authorizations that the balance covers k times approve exactly k, and
limits are never exceeded. An approval writes the ledger hold (a pending transfer from the card
account to the program's settlement account, expiring with the program's hold time) and the
authorization record together.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import msgspec

from application.cards.card_fx import CardFx
from application.cards.common import card_balance, publish, request_hash, same_request
from application.ports.clock import Clock, IdGenerator
from application.ports.compliance import ActivityMonitor, SubjectStatuses
from application.ports.unit_of_work import Transactions, UnitOfWork
from domain.cards.authorization import AuthorizationRequest, Context, Decision, decide, decline
from domain.cards.model import Card, Program
from domain.cards.records import Authorization
from domain.compliance.monitoring import ActivityEvent
from domain.events import AUTHORIZATION_APPROVED, AUTHORIZATION_DECLINED
from domain.fx.conversion import Conversion
from domain.ledger import CreateTransfer, LedgerSnapshot, execute_batch
from domain.shared.errors import DomainError
from domain.shared.money import Money

log = logging.getLogger("bursar.cards.authorize")


def available_in(snapshot: LedgerSnapshot, account_id: str, now: datetime) -> int:
    """The card's available balance, not counting holds already past expiry."""
    expired = sum(h.amount for h in snapshot.holds.values()
                  if h.debit_account_id == account_id and h.state == "pending" and h.expires_at is not None
                  and h.expires_at <= now)
    return card_balance(snapshot.accounts[account_id]).available + expired


def response_of(auth: Authorization | None, decision: Decision, card: Card | None) -> dict[str, Any]:
    return {
        "authorization_id": auth.id if auth else None,
        "approved": decision.approved,
        "response_code": decision.response_code,
        "approved_amount": decision.approved_amount,
        "card_amount": decision.card_amount,
        "card_currency": card.currency if card else None,
        "decline_reason": decision.decline_reason,
    }


class Authorize:
    def __init__(self, transactions: Transactions, fx: CardFx, statuses: SubjectStatuses,
                 monitor: ActivityMonitor, clock: Clock, ids: IdGenerator) -> None:
        self._transactions = transactions
        self._fx = fx
        self._statuses = statuses
        self._monitor = monitor
        self._clock = clock
        self._ids = ids

    async def __call__(self, request: AuthorizationRequest) -> dict[str, Any]:
        raw = msgspec.to_builtins(request)
        digest = request_hash(raw)

        async def read(uow: UnitOfWork):
            earlier = await uow.cards.recall_message(request.message_id)
            if earlier is not None:
                return earlier, None, None, None
            card = await uow.cards.card_by_token(request.card_token)
            if card is None:
                return None, None, None, None
            return None, card, await uow.cards.get_program(card.program_id), await uow.cards.get_cardholder(
                card.cardholder_id)

        earlier, card, program, holder = await self._transactions.run(read)
        if earlier is not None:
            same_request(earlier[0], raw, f"message_id {request.message_id}")
            return earlier[1]
        now = self._clock.now()
        if card is None:
            return await self._remember_unknown_card(request, raw, digest, now)

        conversion, fx_error = await self._price(request, card, program, now)
        card_amount = conversion.total.amount if conversion else request.amount
        sanctions = await self._statuses.subject_status(holder.id)
        event = ActivityEvent(id=f"auth:{request.message_id}", subject_id=holder.id, card_id=card.id,
                              kind="authorization", amount=card_amount, currency=card.currency,
                              mcc=request.merchant.mcc, country=request.merchant.country, at=now)
        verdict = await self._monitor.check(event)
        hits = tuple(hit.rule_id for hit in verdict.hits)

        async def work(uow: UnitOfWork) -> tuple[dict[str, Any], Authorization]:
            again = await uow.cards.recall_message(request.message_id)
            if again is not None:
                same_request(again[0], raw, f"message_id {request.message_id}")
                return again[1], None
            locked_holder = await uow.cards.get_cardholder(holder.id, lock=True)
            locked_card = await uow.cards.get_card(card.id, lock=True)
            auth_id = f"auth_{self._ids.new_id()}"
            hold = CreateTransfer(id=f"hold:{auth_id}", debit_account_id=card.account_id,
                                  credit_account_id=program.accounts.settlement, amount=max(card_amount, 1),
                                  currency=card.currency, code="card_authorization", pending=True,
                                  timeout_seconds=program.hold_seconds, metadata={"authorization_id": auth_id})
            snapshot = await uow.ledger.lock_snapshot([hold], now)
            ctx = Context(card=locked_card, program=program, cardholder=locked_holder, sanctions_status=sanctions,
                          card_usage=await uow.cards.usage(card_id=card.id, now=now),
                          holder_usage=await uow.cards.usage(cardholder_id=holder.id, now=now),
                          available=available_in(snapshot, card.account_id, now), conversion=conversion,
                          fx_error=fx_error, monitoring_hits=hits)
            decision = decide(request, ctx, now)
            if decision.approved:
                hold = msgspec.structs.replace(hold, amount=decision.card_amount)
                outcome = execute_batch([hold], snapshot, now)
                if outcome.results[0].status != "created":  # the ledger disagrees: never approve on doubt
                    log.error("hold %s refused by the ledger: %s", hold.id, outcome.results[0].code)
                    decision = decline("51", f"ledger_{outcome.results[0].code}")
                else:
                    await uow.ledger.save(outcome)
            auth = _record(auth_id, request, locked_card, decision, hold.id, program, now)
            await uow.cards.add_authorization(auth)
            await publish(uow, self._ids, AUTHORIZATION_APPROVED if auth.approved else AUTHORIZATION_DECLINED,
                          now, auth)
            response = response_of(auth, decision, locked_card)
            await uow.cards.remember_message(request.message_id, "authorization", digest, raw, response, now)
            return response, auth

        response, auth = await self._transactions.run(work)
        if auth is not None and auth.approved:
            await self._record_activity(event)
        return response

    async def _price(self, request: AuthorizationRequest, card: Card, program: Program,
                     now: datetime) -> tuple[Conversion | None, str | None]:
        if request.currency == card.currency:
            return None, None
        try:
            money = Money(amount=request.amount, currency=request.currency)
            return await self._fx.convert(money, card.currency, program.fx_markup_bps, now), None
        except DomainError as exc:
            return None, f"fx_{exc.code}"

    async def _remember_unknown_card(self, request: AuthorizationRequest, raw: dict, digest: str,
                                     now: datetime) -> dict[str, Any]:
        response = response_of(None, decline("14", "invalid_card"), None)

        async def work(uow: UnitOfWork) -> dict[str, Any]:
            again = await uow.cards.recall_message(request.message_id)
            if again is not None:
                same_request(again[0], raw, f"message_id {request.message_id}")
                return again[1]
            await uow.cards.remember_message(request.message_id, "authorization", digest, raw, response, now)
            return response

        return await self._transactions.run(work)

    async def _record_activity(self, event: ActivityEvent) -> None:
        try:
            await self._monitor.record(event)
        except Exception as exc:  # monitoring after the fact must not undo an approval
            log.warning("could not record activity %s for monitoring: %s", event.id, exc.__class__.__name__)


def _record(auth_id: str, request: AuthorizationRequest, card: Card, decision: Decision, hold_id: str,
            program: Program, now: datetime) -> Authorization:
    return Authorization(
        id=auth_id, card_id=card.id, cardholder_id=card.cardholder_id, message_id=request.message_id,
        status="pending" if decision.approved else "declined", approved=decision.approved,
        response_code=decision.response_code, decline_reason=decision.decline_reason, amount=request.amount,
        currency=request.currency, approved_amount=decision.approved_amount, card_amount=decision.card_amount,
        card_currency=card.currency, fee=decision.fee, rate=decision.rate, merchant=request.merchant,
        hold_transfer_id=hold_id if decision.approved else None, held=decision.card_amount if decision.approved else 0,
        counted=decision.card_amount if decision.approved else 0,
        expires_at=now + timedelta(seconds=program.hold_seconds) if decision.approved else None,
        created_at=now, updated_at=now,
    )
