"""Converting money with a rate, and the FX markup fee, without losing a minor unit.

A conversion with markup has two legs, each rounded exactly once with a named mode:

1. ``converted = round(source * rate)`` in minor units of the target currency;
2. ``fee = round(converted * markup_bps / 10_000)``, computed on the *rounded* converted amount.

``total = converted + fee`` is a plain integer sum and is never rounded, so
``converted + fee == total`` holds exactly. The fee leg absorbs the conversion's rounding: it
is exactly the stated percentage of the stated converted amount (what a cardholder can check
on a statement), not of the unrounded product. Products are exact decimals
(``exact_product``), so each rounding sees the true value.

A ``Conversion`` names the two modes it was rounded with, so whoever holds one can price
another amount the same way (a partial approval's ``max_source_for_total``, for instance) and
the two reconcile to the minor unit.

Error codes: ``currency_mismatch``, ``invalid_markup``, ``invalid_amount``.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from domain.fx.rates import Rate
from domain.shared.errors import InvalidInput
from domain.shared.money import Money, Rounding, exact_product

MAX_MARKUP_BPS = 10_000
"""The largest markup accepted: 100 %."""


class Conversion(msgspec.Struct, frozen=True, kw_only=True):
    """A source amount converted at ``rate``, with a markup fee; ``converted + fee == total``."""

    source: Money
    rate: Rate
    markup_bps: int
    converted: Money
    """The source amount at the rate, in the target currency."""
    fee: Money
    """``markup_bps`` basis points of ``converted``, in the target currency."""
    total: Money
    """What the target side pays: ``converted + fee``."""
    rounding: Rounding
    """How ``converted`` was rounded."""
    fee_rounding: Rounding
    """How ``fee`` was rounded."""


def convert(amount: Money, rate: Rate, rounding: Rounding = Rounding.HALF_EVEN) -> Money:
    """``amount`` (in ``rate.base``) in ``rate.quote``, rounded once with ``rounding``."""
    if amount.currency != rate.base:
        raise InvalidInput(
            f"a {rate.base}->{rate.quote} rate cannot convert {amount.currency}", code="currency_mismatch"
        )
    return Money.from_decimal(exact_product(amount.to_decimal(), rate.value), rate.quote, rounding)


def convert_with_markup(
    source: Money,
    rate: Rate,
    markup_bps: int,
    *,
    rounding: Rounding = Rounding.HALF_EVEN,
    fee_rounding: Rounding = Rounding.HALF_EVEN,
) -> Conversion:
    """Convert ``source`` and add a ``markup_bps`` fee (0..10,000 basis points), legs as in the module doc."""
    _check_markup(markup_bps)
    converted = convert(source, rate, rounding)
    fee_value = exact_product(converted.to_decimal(), Decimal(f"{markup_bps}E-4"))
    fee = Money.from_decimal(fee_value, converted.currency, fee_rounding)
    total = converted + fee
    return Conversion(source=source, rate=rate, markup_bps=markup_bps, converted=converted, fee=fee, total=total,
                      rounding=Rounding(rounding), fee_rounding=Rounding(fee_rounding))


def max_source_for_total(
    limit: Money,
    rate: Rate,
    markup_bps: int,
    *,
    rounding: Rounding = Rounding.HALF_EVEN,
    fee_rounding: Rounding = Rounding.HALF_EVEN,
) -> Conversion:
    """The reverse direction: the largest source amount (in ``rate.base``) whose total fits in ``limit``.

    ``convert_with_markup`` is non-decreasing in the source amount (every rounding mode is
    monotonic and the markup is not negative), so a binary search over source amounts finds
    it exactly; the result is that forward conversion, so its legs reconcile the same way.
    """
    if limit.currency != rate.quote:
        raise InvalidInput(
            f"a {rate.base}->{rate.quote} rate cannot fill a {limit.currency} limit", code="currency_mismatch"
        )
    if limit.amount < 0:
        raise InvalidInput("the limit must not be negative", code="invalid_amount")
    _check_markup(markup_bps)

    def forward(amount: int) -> Conversion:
        source = Money(amount=amount, currency=rate.base)
        return convert_with_markup(source, rate, markup_bps, rounding=rounding, fee_rounding=fee_rounding)

    def fits(amount: int) -> bool:
        return forward(amount).total.amount <= limit.amount

    low, high = 0, 1  # fits(0) always (0 converts to 0); the loops keep fits(low) and not fits(high)
    while fits(high):
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if fits(middle) else (low, middle)
    return forward(low)


def _check_markup(markup_bps: int) -> None:
    if type(markup_bps) is not int or not 0 <= markup_bps <= MAX_MARKUP_BPS:
        raise InvalidInput(
            f"a markup is 0 to {MAX_MARKUP_BPS} basis points, got {markup_bps!r}", code="invalid_markup"
        )
