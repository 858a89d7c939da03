"""Decide a network authorization and, when approved, hold the money, in one transaction.

Per message: a retry (same ``message_id``, same fields) gets the first answer; the same id with
other fields is ``idempotency_conflict``. The card and its cardholder are locked for the
decision, so concurrent authorizations on one card (or one cardholder's cards) are decided one
after the other: N racing authorizations that the balance covers k times approve exactly k, and
limits are never exceeded. A program's decision webhook is asked before the transaction (no lock
is held while it thinks) and can only turn an approval into a decline. An approval writes the ledger hold (a pending transfer from the card
account to the program's settlement account, expiring with the program's hold time) and the
authorization record together.

Concurrent messages are decided in batches, a fixed number of statements per batch
(``application/cards/authorize_batch.py``, which explains the design); ``Authorize.single`` below
is the one-by-one path, used for programs with a decision webhook and when a batch fails.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import msgspec

from application.cards.authorize_batch import LANES, MAX_BATCH, AuthorizationBatcher
from application.cards.card_fx import CardFx
from application.cards.common import (
    activity_event,
    card_balance,
    hold_for,
    publish,
    refused_by_ledger,
    request_hash,
    same_request,
    usages,
)
from application.compliance.alerts_soon import AlertsSoon
from application.ports.cards import DecisionWebhookClient
from application.ports.clock import Clock, IdGenerator
from application.ports.compliance import ActivityMonitor, SubjectStatuses
from application.ports.unit_of_work import Transactions, UnitOfWork
from domain.cards.authorization import (
    AuthorizationRequest,
    Context,
    Decision,
    WebhookVerdict,
    decide,
    decline,
    webhook_verdict,
    with_webhook,
)
from domain.cards.model import Card, Program
from domain.cards.records import Authorization
from domain.compliance.monitoring import ActivityEvent, RuleSet, validate_event
from domain.events import AUTHORIZATION_APPROVED, AUTHORIZATION_DECLINED
from domain.fx.conversion import Conversion
from domain.ledger import CreateTransfer, LedgerSnapshot, execute_batch
from domain.shared.errors import DomainError
from domain.shared.money import Money

log = logging.getLogger("bursar.cards.authorize")

CARDS_CACHED = 100_000
"""Cards whose identity a process keeps by token, at most (``Authorize.cards_by_token``)."""


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
    """Concurrent calls are decided in batches (``application/cards/authorize_batch.py``);
    ``single`` decides one message alone, for programs with a decision webhook and as the
    fallback of a failed batch. ``batch_size=1`` gives one-by-one batches; 0 turns batching off."""

    def __init__(self, transactions: Transactions, fx: CardFx, statuses: SubjectStatuses,
                 monitor: ActivityMonitor, alerts: AlertsSoon, decisions: DecisionWebhookClient, clock: Clock,
                 ids: IdGenerator, *, batch_size: int = MAX_BATCH, batches_in_flight: int = LANES) -> None:
        self._transactions = transactions
        self._decisions = decisions
        self._fx = fx
        self._statuses = statuses
        self._monitor = monitor
        self._alerts = alerts
        self._clock = clock
        self._ids = ids
        self._programs: dict[str, Program] = {}
        self._cards: dict[str, Card] = {}  # by token, as first read: only their identity is used
        self._batcher = (AuthorizationBatcher(self, max_batch=batch_size, max_in_flight=batches_in_flight)
                         if batch_size > 0 else None)

    async def drain(self) -> None:
        """Finish the batches and the alert evaluation's round under way (call at shutdown): a
        backlog awaiting its alert rules is left to the sweeper (``AlertsSoon``)."""
        if self._batcher is not None:
            await self._batcher.drain()
        await self._alerts.drain()

    def evaluate_alerts_soon(self) -> None:
        """Have monitoring evaluate the alert rules of the activity just committed, off the answers'
        path (``AlertsSoon``)."""
        self._alerts.ask()

    def known_cardholder(self, token: str) -> str | None:
        """The cardholder of the card with this token, if this process has read the card."""
        card = self._cards.get(token)
        return card.cardholder_id if card is not None else None

    async def cards_by_token(self, uow: UnitOfWork, tokens: list[str]) -> dict[str, Card]:
        """The cards of these tokens, as far as they exist, for what of them never changes: id,
        cardholder, program, ledger account, currency. Those are kept once read, so a batch usually
        needs no read before taking its locks; a card's state and controls must be read under its
        lock (they are, by ``queue_lock_for_authorizations``)."""
        unseen = [t for t in tokens if t not in self._cards]
        if unseen:
            if len(self._cards) + len(unseen) > CARDS_CACHED:
                self._cards.clear()
            self._cards.update(await uow.cards.cards_by_tokens(unseen))
        return {t: card for t in tokens if (card := self._cards.get(t)) is not None}

    async def __call__(self, request: AuthorizationRequest) -> dict[str, Any]:
        if self._batcher is None:
            return await self.single(request)
        return await self._batcher(request)

    async def single(self, request: AuthorizationRequest) -> dict[str, Any]:
        """Decide one message in its own transactions (about 27 round trips)."""
        raw = msgspec.to_builtins(request)
        digest = request_hash(raw)

        async def read(uow: UnitOfWork):
            earlier = await uow.cards.recall_message(request.message_id)
            if earlier is not None:
                return earlier, None, None
            card = await uow.cards.card_by_token(request.card_token)
            if card is None:
                return None, None, None
            program = self._programs.get(card.program_id) or await uow.cards.get_program(card.program_id)
            return None, card, program

        earlier, card, program = await self._transactions.run(read)
        if earlier is not None:
            same_request(earlier[0], raw, f"message_id {request.message_id}")
            return earlier[1]
        now = self._clock.now()
        if card is None:
            return await self._remember_unknown_card(request, raw, digest, now)
        self._programs[program.id] = program  # programs do not change once created

        conversion, fx_error = await self._price(request, card, program, now)
        card_amount = conversion.total.amount if conversion else request.amount
        event = activity_event(request, card, card_amount, now)
        validate_event(event)
        outside = _Outside(program=program, sanctions_status=await self._statuses.subject_status(card.cardholder_id),
                           conversion=conversion, fx_error=fx_error, event=event,
                           rules=(await self._monitor.rules_in_force()).rules)
        webhook = await self._ask_webhook(request, card, outside, now) if program.decision_webhook else None

        async def work(uow: UnitOfWork) -> tuple[dict[str, Any], Authorization]:
            again = await uow.cards.recall_message(request.message_id)
            if again is not None:
                same_request(again[0], raw, f"message_id {request.message_id}")
                return again[1], None
            auth_id = f"auth_{self._ids.new_id()}"
            hold = hold_for(auth_id, card, program, max(card_amount, 1))
            ctx, snapshot, event = await _context(uow, card, outside, now, hold=hold)
            decision = decide(request, ctx, now)
            if program.decision_webhook is not None:
                decision = with_webhook(decision, webhook)
            if decision.approved:
                hold = msgspec.structs.replace(hold, amount=decision.card_amount)
                outcome = execute_batch([hold], snapshot, now)
                if outcome.results[0].status != "created":
                    decision = refused_by_ledger(outcome.results[0])
            auth = _record(auth_id, request, ctx.card, decision, hold.id, program, now, webhook)
            response = response_of(auth, decision, ctx.card)
            async with uow.writes():  # the hold joins the block: one round trip for every write
                if auth.approved:
                    await uow.ledger.save(outcome)
                await uow.cards.add_authorization(auth)
                await publish(uow, self._ids, AUTHORIZATION_APPROVED if auth.approved else AUTHORIZATION_DECLINED,
                              now, auth)
                await uow.cards.remember_message(request.message_id, "authorization", digest, raw, response, now)
                if auth.approved:  # for monitoring, committed with the hold
                    await uow.activity.append([event], now)
            return response, auth

        response, auth = await self._transactions.run(work)
        if auth is not None and auth.approved:
            self.evaluate_alerts_soon()
        return response

    async def _ask_webhook(self, request: AuthorizationRequest, card: Card, outside: _Outside,
                           now: datetime) -> WebhookVerdict | None:
        """Ask the program's endpoint, outside any transaction (no lock is held while it thinks), and
        only when Bursar's own checks approve on an unlocked read; None when they decline."""
        ctx, _, _ = await self._transactions.run(lambda uow: _context(uow, card, outside, now))
        preliminary = decide(request, ctx, now)
        if not preliminary.approved:
            return None
        webhook = outside.program.decision_webhook
        body = {
            "type": "authorization.request",
            "created_at": now.isoformat(),
            "data": {
                "message_id": request.message_id, "card_id": card.id, "cardholder_id": card.cardholder_id,
                "program_id": card.program_id, "amount": request.amount, "currency": request.currency,
                "approved_amount": preliminary.approved_amount, "partial": preliminary.partial,
                "card_amount": preliminary.card_amount, "card_currency": card.currency, "fee": preliminary.fee,
                "rate": preliminary.rate, "merchant": msgspec.to_builtins(request.merchant),
            },
        }
        answer = await self._decisions.ask(webhook, f"authreq_{request_hash(request.message_id)[:32]}", body)
        return webhook_verdict(answer.approved, answer.reason, answer.elapsed_ms, webhook.fallback)

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


class _Outside(msgspec.Struct, frozen=True, kw_only=True):
    """What a decision needs that is read before the transaction: it does not change under its locks."""

    program: Program
    sanctions_status: str
    conversion: Conversion | None
    fx_error: str | None
    event: ActivityEvent
    """The message as monitoring sees it."""
    rules: RuleSet
    """The monitoring rules in force; the ``decline`` ones are checked under the cardholder's lock."""


async def _context(uow: UnitOfWork, card: Card, outside: _Outside, now: datetime, hold: CreateTransfer | None = None
                   ) -> tuple[Context, LedgerSnapshot | None, ActivityEvent]:
    """The decision's context. With a ``hold``: the cardholder, the card and then the ledger accounts
    are locked (always in that order) and the snapshot is returned for the hold; without: a plain read.
    With them, the message's activity as monitoring will store it."""
    locked = hold is not None
    holder = await uow.cards.get_cardholder(card.cardholder_id, lock=locked)
    current = await uow.cards.get_card(card.id, lock=locked)
    if hold is not None:
        snapshot = await uow.ledger.lock_snapshot([hold], now)
        available = available_in(snapshot, card.account_id, now)
    else:
        snapshot, available = None, card_balance(await uow.ledger.get_account(card.account_id)).available
    card_usage, holder_usage = await usages(uow, current, holder, outside.program, now)
    event, hits = await _monitoring(uow, outside, now)
    ctx = Context(card=current, program=outside.program, cardholder=holder, sanctions_status=outside.sanctions_status,
                  card_usage=card_usage, holder_usage=holder_usage, available=available,
                  conversion=outside.conversion, fx_error=outside.fx_error, monitoring_hits=hits)
    return ctx, snapshot, event


async def _monitoring(uow: UnitOfWork, outside: _Outside, now: datetime) -> tuple[ActivityEvent, tuple[str, ...]]:
    """The message's activity, stamped after all it follows, and the real-time (``decline``)
    monitoring rules it breaks. Read after the cardholder's lock, the history holds every approval
    committed before, in any process, as in a batch."""
    rules = outside.rules
    if not rules.active("decline"):
        return outside.event, ()
    subject_id = outside.event.subject_id
    async with uow.reads():
        recent = await uow.activity.queue_recent([subject_id], now, rules.recent_query())
    activity = (await recent())[subject_id]
    event = activity.stamp(outside.event)
    return event, tuple(hit.rule_id for hit in activity.hits(rules, event))


def _record(auth_id: str, request: AuthorizationRequest, card: Card, decision: Decision, hold_id: str,
            program: Program, now: datetime, webhook: WebhookVerdict | None) -> Authorization:
    return Authorization(
        id=auth_id, card_id=card.id, cardholder_id=card.cardholder_id, message_id=request.message_id,
        status="pending" if decision.approved else "declined", approved=decision.approved,
        response_code=decision.response_code, decline_reason=decision.decline_reason, amount=request.amount,
        currency=request.currency, approved_amount=decision.approved_amount, card_amount=decision.card_amount,
        card_currency=card.currency, fee=decision.fee, rate=decision.rate, merchant=request.merchant,
        hold_transfer_id=hold_id if decision.approved else None, held=decision.card_amount if decision.approved else 0,
        counted=decision.card_amount if decision.approved else 0,
        expires_at=now + timedelta(seconds=program.hold_seconds) if decision.approved else None,
        decision_webhook=webhook, created_at=now, updated_at=now,
    )
