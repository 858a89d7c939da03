"""FX quotes: a conversion with markup, priced now and honoured once until it expires.

A quote is open from ``created_at`` until just before ``expires_at`` (at ``expires_at`` it has
expired, as ledger holds do) and can be used once. Using a used quote fails with
``quote_already_used`` even after expiry; using an expired one with ``quote_expired``.

Error codes: ``quote_expired``, ``quote_already_used``, ``invalid_ttl``, plus those of the rate
book (``rate_unavailable``, ``stale_rate``...) and of conversion (``invalid_markup``...).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

import msgspec

from domain.fx.conversion import convert_with_markup
from domain.fx.rates import Rate, RateBook
from domain.shared.errors import Conflict, InvalidInput
from domain.shared.money import Money, Rounding

QuoteState = Literal["open", "used", "expired"]


class Quote(msgspec.Struct, frozen=True, kw_only=True):
    """A priced conversion of ``source`` into the target currency; ``converted + fee == total``."""

    id: str
    source: Money
    """The amount to convert, e.g. the merchant amount in the merchant's currency."""
    rate: Rate
    """The ``source`` -> target rate applied, exactly as used (recompute ``converted`` from it)."""
    markup_bps: int
    converted: Money
    """``source`` at ``rate``, in the target currency (e.g. the card's)."""
    fee: Money
    """The markup: ``markup_bps`` basis points of ``converted``."""
    total: Money
    """``converted + fee``: what the target side is charged."""
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None

    @property
    def source_currency(self) -> str:
        return self.source.currency

    @property
    def target_currency(self) -> str:
        return self.total.currency

    def state(self, now: datetime) -> QuoteState:
        """``used`` once used; otherwise ``expired`` from ``expires_at`` on, else ``open``."""
        if self.used_at is not None:
            return "used"
        return "expired" if now >= self.expires_at else "open"

    def use(self, now: datetime) -> Quote:
        """This quote, used at ``now``; ``quote_already_used`` or ``quote_expired`` when it cannot be."""
        state = self.state(now)
        if state == "used":
            raise Conflict(f"quote {self.id} was already used", code="quote_already_used")
        if state == "expired":
            raise Conflict(f"quote {self.id} expired at {self.expires_at.isoformat()}", code="quote_expired")
        return msgspec.structs.replace(self, used_at=now)


def create_quote(
    *,
    quote_id: str,
    source: Money,
    target_currency: str,
    book: RateBook,
    markup_bps: int,
    now: datetime,
    ttl: timedelta,
    rounding: Rounding = Rounding.HALF_EVEN,
    fee_rounding: Rounding = Rounding.HALF_EVEN,
) -> Quote:
    """Price ``source`` in ``target_currency`` with the book's rate at ``now``, open for ``ttl``."""
    if ttl <= timedelta(0):
        raise InvalidInput("a quote's time to live must be positive", code="invalid_ttl")
    if source.amount <= 0:
        raise InvalidInput("a quote converts a positive amount", code="invalid_amount")
    rate = book.rate(source.currency, target_currency, now)
    conversion = convert_with_markup(source, rate, markup_bps, rounding=rounding, fee_rounding=fee_rounding)
    return Quote(
        id=quote_id,
        source=source,
        rate=rate,
        markup_bps=markup_bps,
        converted=conversion.converted,
        fee=conversion.fee,
        total=conversion.total,
        created_at=now,
        expires_at=now + ttl,
    )
