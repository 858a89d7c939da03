"""Deciding a network authorization: the checks in order, the first failure's ISO 8583 code.

Order (issue 7, docs/cards.md): card exists (14, decided before this), state (05 paused or
inactive, 62 closed), expiry (54), cardholder KYC (62) and sanctions (59), merchant controls (57),
amount limits (61), count limits (65), real-time monitoring (59), FX (05 when no usable rate),
available balance (51, or a partial approval 10 when the network allows one).

The first four (``check_standing``: may this card, held by this person, spend at all?) are also
what an increment re-checks before it extends a hold. A partial approval in a foreign currency is
the largest merchant amount whose total fits, priced with the rounding of the full conversion, so
it costs exactly what a full approval of that amount would.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from domain.cards.controls import Controls, Usage, check_count, check_merchant, headroom
from domain.cards.model import Card, Cardholder, Program
from domain.fx.conversion import Conversion, max_source_for_total
from domain.shared.money import Money

APPROVED, PARTIAL = "00", "10"


class Merchant(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    mcc: str
    country: str
    id: str | None = None


class AuthorizationRequest(msgspec.Struct, frozen=True, kw_only=True):
    message_id: str
    card_token: str
    amount: int
    currency: str
    merchant: Merchant
    partial_allowed: bool = False


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    approved: bool
    response_code: str
    decline_reason: str | None = None
    approved_amount: int = 0  # merchant currency
    card_amount: int = 0  # card currency, fee included: the hold
    fee: int = 0  # card currency, part of card_amount
    rate: str | None = None  # merchant -> card currency, before markup

    @property
    def partial(self) -> bool:
        return self.response_code == PARTIAL


def decline(code: str, reason: str) -> Decision:
    return Decision(approved=False, response_code=code, decline_reason=reason)


class WebhookVerdict(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """What a program's decision webhook said, recorded on the authorization.

    ``fallback_*``: no usable answer came (timeout, error status, unreadable body) and the
    program's fallback applied; ``reason`` then says why.
    """

    outcome: Literal["approved", "declined", "fallback_approved", "fallback_declined"]
    reason: str | None = None
    elapsed_ms: int = 0

    @property
    def approves(self) -> bool:
        return self.outcome in ("approved", "fallback_approved")


def webhook_verdict(approved: bool | None, reason: str | None, elapsed_ms: int,
                    fallback: Literal["approve", "decline"]) -> WebhookVerdict:
    """The verdict from an answer; ``approved`` is None when no usable answer came."""
    if approved is None:
        outcome = "fallback_approved" if fallback == "approve" else "fallback_declined"
        return WebhookVerdict(outcome=outcome, reason=reason, elapsed_ms=elapsed_ms)
    return WebhookVerdict(outcome="approved" if approved else "declined", reason=reason, elapsed_ms=elapsed_ms)


def with_webhook(decision: Decision, verdict: WebhookVerdict | None) -> Decision:
    """Bursar's own checks come first: the webhook can only turn an approval into a decline (05).

    A program with a webhook never approves without a verdict (``None``: it was not asked because
    the checks declined before the transaction, and they approve now).
    """
    if not decision.approved:
        return decision
    if verdict is None:
        return decline("05", "decision_webhook_not_asked")
    if verdict.approves:
        return decision
    return decline("05", "decision_webhook_declined" if verdict.outcome == "declined"
                   else "decision_webhook_unavailable")


class Context(msgspec.Struct, frozen=True, kw_only=True):
    """Everything a decision depends on, read in the authorization's transaction."""

    card: Card
    program: Program
    cardholder: Cardholder
    sanctions_status: str  # "clear" | "review" | "blocked"
    card_usage: Usage
    holder_usage: Usage
    available: int  # card currency
    conversion: Conversion | None  # None: same currency, or no usable rate (see fx_error)
    fx_error: str | None = None
    monitoring_hits: tuple[str, ...] = ()  # real-time rules that decline


def check_standing(card: Card, cardholder: Cardholder, sanctions_status: str, now: datetime) -> Decision | None:
    """The card's state and expiry, then the cardholder's KYC and sanctions status: the first that
    fails, as a decline; None when the card may spend. A decision's first checks, and what an
    increment re-checks (the card or its holder may have changed since the authorization)."""
    if card.state == "closed":
        return decline("62", "card_closed")
    if card.state != "active":
        return decline("05", f"card_{card.state}")
    if card.expired(now):
        return decline("54", "card_expired")
    if cardholder.kyc_status != "verified":
        return decline("62", f"kyc_{cardholder.kyc_status}")
    if sanctions_status == "blocked":
        return decline("59", "sanctions_blocked")
    return None


def decide(request: AuthorizationRequest, ctx: Context, now: datetime) -> Decision:
    card = ctx.card
    standing = check_standing(card, ctx.cardholder, ctx.sanctions_status, now)
    if standing is not None:
        return standing
    controls = card.controls.merged_over(ctx.program.controls)
    holder_controls = ctx.cardholder.tier_controls(card.currency)
    merchant = check_merchant(controls, request.merchant.mcc, request.merchant.country)
    if merchant is not None:
        return decline(merchant.response_code, merchant.reason)
    conversion = ctx.conversion
    card_amount = conversion.total.amount if conversion else request.amount
    if ctx.fx_error is None:  # without a rate, the amount in card currency is unknown: FX declines below
        if _over(controls, ctx.card_usage, card_amount) or _over(holder_controls, ctx.holder_usage, card_amount):
            return decline("61", "spending_limit_exceeded")
    count = check_count(controls, ctx.card_usage)
    if count is not None:
        return decline(count.response_code, count.reason)
    if ctx.monitoring_hits:
        return decline("59", "monitoring:" + ",".join(ctx.monitoring_hits))
    if ctx.fx_error is not None:
        return decline("05", ctx.fx_error)
    if card_amount <= ctx.available:
        return _approve(APPROVED, request.amount, conversion, card_amount)
    if not request.partial_allowed or ctx.available <= 0:
        return decline("51", "insufficient_funds")
    if conversion is None:
        return _approve(PARTIAL, ctx.available, None, ctx.available)
    # Rounded as the full conversion was (the configured modes): the partial amount then costs what a
    # full approval of it costs, and its clearing at the authorization's rate posts exactly the hold.
    partial = max_source_for_total(Money(amount=ctx.available, currency=card.currency), conversion.rate,
                                   conversion.markup_bps, rounding=conversion.rounding,
                                   fee_rounding=conversion.fee_rounding)
    if partial.source.amount <= 0:
        return decline("51", "insufficient_funds")
    return _approve(PARTIAL, partial.source.amount, partial, partial.total.amount)


def _over(controls: Controls, usage: Usage, amount: int) -> bool:
    room = headroom(controls, usage)
    return room is not None and amount > room


def _approve(code: str, amount: int, conversion: Conversion | None, card_amount: int) -> Decision:
    return Decision(
        approved=True,
        response_code=code,
        approved_amount=amount,
        card_amount=card_amount,
        fee=conversion.fee.amount if conversion else 0,
        rate=str(conversion.rate.value) if conversion else None,
    )
