"""Programs, cardholders and cards.

A program is a card product: its BIN, card currency, card lifetime, default controls, FX markup,
how long an authorization hold lasts, and the ledger accounts money moves through. A cardholder
passes KYC (``pending`` -> ``verified`` | ``rejected``) into a tier whose limits apply to all of
their cards. A card is a token from the vault (never a PAN) with a state machine and a ledger
account in the card currency that cannot go below zero.
"""

from __future__ import annotations

import calendar
import zlib
from datetime import UTC, date, datetime
from typing import Literal

import msgspec

from domain.cards.controls import Controls, SpendingLimit, windows_since
from domain.shared.errors import Conflict, InvalidInput
from domain.shared.money import currency

KycStatus = Literal["pending", "verified", "rejected"]
CardState = Literal["inactive", "active", "paused", "closed"]
DEFAULT_HOLD_SECONDS = 7 * 24 * 3600
MAX_SETTLEMENT_SHARDS = 64

TRANSITIONS: dict[str, frozenset[str]] = {
    "inactive": frozenset({"active", "closed"}),
    "active": frozenset({"paused", "closed"}),
    "paused": frozenset({"active", "closed"}),
    "closed": frozenset(),
}

# KYC tiers: limits over all of a cardholder's cards, in major units of the card currency.
TIERS: dict[str, dict[str, int]] = {
    "basic": {"daily": 1_000, "monthly": 5_000},
    "standard": {"daily": 10_000, "monthly": 50_000},
    "premium": {"daily": 100_000, "monthly": 500_000},
}


class ProgramAccounts(msgspec.Struct, frozen=True, kw_only=True):
    funding: str  # where card fundings come from
    settlement: str  # what the network is owed for cleared spending
    fx_fees: str  # FX markup revenue


class DecisionWebhook(msgspec.Struct, frozen=True, kw_only=True):
    """A program's real-time decision endpoint: asked, signed, before an approval (docs/cards.md).

    ``fallback`` applies when no usable answer arrives within ``timeout_ms``.
    """

    url: str
    secret: str  # Standard Webhooks ``whsec_`` secret; shown once, at program creation
    timeout_ms: int = 1_000
    fallback: Literal["approve", "decline"] = "decline"

    def __post_init__(self) -> None:
        if not self.url.startswith(("https://", "http://")):
            raise InvalidInput("decision_webhook.url is an http(s) URL", code="invalid_decision_webhook")
        if not 50 <= self.timeout_ms <= 3_000:
            raise InvalidInput("decision_webhook.timeout_ms is 50 to 3,000", code="invalid_decision_webhook")

    def __repr__(self) -> str:
        return f"DecisionWebhook(url={self.url!r}, timeout_ms={self.timeout_ms}, fallback={self.fallback!r})"


class Program(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    bin: str
    currency: str
    expiry_months: int
    controls: Controls = Controls()
    fx_markup_bps: int = 0
    hold_seconds: int = DEFAULT_HOLD_SECONDS
    accounts: ProgramAccounts
    created_at: datetime
    decision_webhook: DecisionWebhook | None = None
    settlement_shards: int = 1
    """How many ledger accounts the settlement and FX fee accounts are split into (see below)."""

    def __post_init__(self) -> None:
        currency(self.currency)
        if not (self.bin.isdigit() and len(self.bin) in (6, 8) and self.bin[0] != "0"):
            raise InvalidInput("a BIN is 6 or 8 digits and does not start with 0", code="invalid_bin")
        if not 1 <= self.expiry_months <= 120:
            raise InvalidInput("expiry_months is 1 to 120", code="invalid_expiry")
        if not 0 <= self.fx_markup_bps <= 10_000:
            raise InvalidInput("fx_markup_bps is 0 to 10,000", code="invalid_markup")
        if not 60 <= self.hold_seconds <= 31 * 24 * 3600:
            raise InvalidInput("hold_seconds is 60 seconds to 31 days", code="invalid_hold_expiry")
        if not 1 <= self.settlement_shards <= MAX_SETTLEMENT_SHARDS:
            raise InvalidInput(f"settlement_shards is 1 to {MAX_SETTLEMENT_SHARDS}", code="invalid_settlement_shards")

    # Every hold, clearing and refund of every card of a program moves money against the program's
    # settlement account, so in the ledger that account is one row that every authorization locks:
    # the program's authorizations would run one at a time. With shards, each card always uses the
    # same one of ``settlement_shards`` accounts (``<settlement>:<nn>``, and likewise for FX fees),
    # so authorizations on different cards rarely wait for each other. What the program owes the
    # network is the sum over the shards.

    def settlement_for(self, card_id: str, lane: int = 0, lanes: int = 1) -> str:
        """The card's settlement shard; within ``lane`` of ``lanes`` when the shards split evenly
        into lanes (every ``lanes``-th shard from ``lane``): two authorization batches in flight
        at once, each in its own lane, then never wait for each other's settlement account."""
        return self._shard(self.accounts.settlement, card_id, lane, lanes)

    def fx_fees_for(self, card_id: str) -> str:
        return self._shard(self.accounts.fx_fees, card_id)

    def shard_accounts(self, account_id: str) -> list[str]:
        """The ledger accounts ``account_id`` (settlement or FX fees) is split into."""
        if self.settlement_shards == 1:
            return [account_id]
        return [f"{account_id}:{k:02d}" for k in range(self.settlement_shards)]

    def _shard(self, account_id: str, card_id: str, lane: int = 0, lanes: int = 1) -> str:
        shards = self.settlement_shards
        if shards == 1:
            return account_id
        key = zlib.crc32(card_id.encode())
        index = key % (shards // lanes) * lanes + lane if shards % lanes == 0 else key % shards
        return f"{account_id}:{index:02d}"

    def expiry_for(self, issued: datetime) -> tuple[int, int]:
        """(month, year) ``expiry_months`` after ``issued``'s month."""
        months = issued.year * 12 + issued.month - 1 + self.expiry_months
        return months % 12 + 1, months // 12


class Cardholder(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    country: str
    birth_date: date | None = None
    email: str | None = None
    kyc_status: KycStatus = "pending"
    kyc_tier: str | None = None
    created_at: datetime
    kyc_source: str | None = None
    """Who set the KYC status: a provider's name (``manual``, ``simulated``), ``screening`` (held for
    compliance, never submitted), or ``ops:<api key id>``; None while no provider was asked yet."""
    kyc_reason: str | None = None
    """Why: a rejection's reason, why it waits for review, or the evidence ops recorded."""

    def tier_controls(self, card_currency: str) -> Controls:
        """The cardholder-level limits of their KYC tier, in minor units of ``card_currency``."""
        if self.kyc_tier is None:
            return Controls()
        scale = 10 ** currency(card_currency).exponent
        return Controls(spending_limits=tuple(
            SpendingLimit(amount=amount * scale, interval=interval)  # type: ignore[arg-type]
            for interval, amount in TIERS[self.kyc_tier].items()
        ))


def tier_usage_since(now: datetime) -> datetime | None:
    """How far back a cardholder's usage must be summed for the limits of any KYC tier."""
    return windows_since((interval for limits in TIERS.values() for interval in limits), now)  # type: ignore[misc]


def decide_kyc(cardholder: Cardholder, decision: KycStatus, tier: str | None, *, source: str | None = None,
               reason: str | None = None) -> Cardholder:
    """``cardholder`` verified (into ``tier``, default ``basic``) or rejected by ``source``, for ``reason``."""
    if decision not in ("verified", "rejected"):
        raise InvalidInput("a KYC decision is verified or rejected", code="invalid_kyc_decision")
    if decision == "verified":
        tier = tier or "basic"
        if tier not in TIERS:
            raise InvalidInput(f"unknown KYC tier {tier!r} (one of {', '.join(TIERS)})", code="invalid_kyc_tier")
    return msgspec.structs.replace(cardholder, kyc_status=decision, kyc_tier=tier if decision == "verified" else None,
                                   kyc_source=source, kyc_reason=reason)


def refer_kyc(cardholder: Cardholder, *, source: str, reason: str) -> Cardholder:
    """``cardholder`` left ``pending`` for a person to decide (manual review), saying who sent it there and why."""
    return msgspec.structs.replace(cardholder, kyc_status="pending", kyc_tier=None, kyc_source=source,
                                   kyc_reason=reason)


class Card(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    cardholder_id: str
    program_id: str
    token: str
    bin: str
    last4: str
    exp_month: int
    exp_year: int
    currency: str
    state: CardState
    controls: Controls = Controls()
    account_id: str
    created_at: datetime
    updated_at: datetime

    def expired(self, now: datetime) -> bool:
        """A card is good through the last day of its expiry month (UTC)."""
        last_day = calendar.monthrange(self.exp_year, self.exp_month)[1]
        return now > datetime(self.exp_year, self.exp_month, last_day, 23, 59, 59, 999999, tzinfo=UTC)

    def moved_to(self, state: CardState, now: datetime) -> Card:
        if state == self.state:
            return self
        if state not in TRANSITIONS[self.state]:
            raise Conflict(f"a card cannot go from {self.state} to {state}", code="invalid_card_transition")
        return msgspec.structs.replace(self, state=state, updated_at=now)
