"""Currencies and money: integer minor units, exact decimals, named rounding.

``Money`` is always an ``int`` of minor units (cents, fils, yen) of an ISO 4217 currency whose
number of minor units (its *exponent*) comes from the ISO 4217 table (package ``iso4217``):
JPY and KRW have 0, USD and EUR 2, KWD, BHD and JOD 3. Codes the table does not know, and codes
without minor units (gold ``XAU``, ``XXX``, the SDR ``XDR``...), are refused with
``unknown_currency``. Codes are exact: ``"usd"`` is refused too.

Every step from a decimal to minor units rounds exactly once, with a ``Rounding`` the caller
names. Arithmetic never consults Python's thread-local decimal context, so results do not
depend on who changed it.

Error codes: ``unknown_currency``, ``currency_mismatch``, ``invalid_amount``.
"""

from __future__ import annotations

import decimal
import enum
import functools
from decimal import Decimal

import iso4217
import msgspec

from domain.shared.errors import InvalidInput


class Rounding(enum.StrEnum):
    """How a value between two minor units is rounded; each maps to one ``decimal`` mode."""

    HALF_EVEN = "half_even"
    """To the nearest; a tie goes to the even neighbour (banker's rounding). The default."""
    HALF_UP = "half_up"
    """To the nearest; a tie goes away from zero (1.005 -> 1.01, -1.005 -> -1.01)."""
    DOWN = "down"
    """Towards zero (truncation)."""
    UP = "up"
    """Away from zero."""
    CEILING = "ceiling"
    """Towards positive infinity."""
    FLOOR = "floor"
    """Towards negative infinity."""

    @property
    def decimal_mode(self) -> str:
        """The ``decimal`` module's constant for this mode, e.g. ``decimal.ROUND_HALF_EVEN``."""
        return _DECIMAL_MODES[self]


_DECIMAL_MODES: dict[Rounding, str] = {
    Rounding.HALF_EVEN: decimal.ROUND_HALF_EVEN,
    Rounding.HALF_UP: decimal.ROUND_HALF_UP,
    Rounding.DOWN: decimal.ROUND_DOWN,
    Rounding.UP: decimal.ROUND_UP,
    Rounding.CEILING: decimal.ROUND_CEILING,
    Rounding.FLOOR: decimal.ROUND_FLOOR,
}

_EXACT = decimal.Context(
    prec=decimal.MAX_PREC,
    Emax=decimal.MAX_EMAX,
    Emin=decimal.MIN_EMIN,
    traps=[decimal.Inexact, decimal.Rounded, decimal.InvalidOperation, decimal.Overflow],
)
"""A context in which a product of two finite decimals is exact; anything inexact raises."""


class Currency(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """An ISO 4217 currency that has minor units."""

    code: str
    """The alphabetic code, e.g. ``"USD"``."""
    exponent: int
    """Digits after the decimal point: minor units per major unit is ``10 ** exponent``."""


@functools.cache
def _lookup(code: str) -> Currency:
    try:
        entry = iso4217.Currency(code)
    except ValueError:
        raise InvalidInput(f"{code!r} is not an ISO 4217 currency code", code="unknown_currency") from None
    if entry.exponent is None:
        raise InvalidInput(f"{code} has no minor units, so it cannot be money here", code="unknown_currency")
    return Currency(code=entry.code, exponent=entry.exponent)


def currency(code: str) -> Currency:
    """The currency with this exact ISO 4217 code; ``unknown_currency`` when there is none."""
    if not isinstance(code, str):
        raise InvalidInput("a currency code is a string such as 'USD'", code="unknown_currency")
    return _lookup(code)


def exact_product(a: Decimal, b: Decimal) -> Decimal:
    """``a * b`` computed exactly, however many digits it has (never rounded to a context)."""
    return _EXACT.multiply(_finite(a), _finite(b))


class Money(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """An amount of one currency in integer minor units (may be negative, e.g. a refund)."""

    amount: int
    currency: str

    def __post_init__(self) -> None:
        if type(self.amount) is not int:
            raise InvalidInput(f"an amount is an integer of minor units, not {self.amount!r}", code="invalid_amount")
        currency(self.currency)

    @classmethod
    def zero(cls, currency_code: str) -> Money:
        """No money of this currency."""
        return cls(amount=0, currency=currency_code)

    @classmethod
    def from_decimal(cls, value: Decimal, currency_code: str, rounding: Rounding = Rounding.HALF_EVEN) -> Money:
        """``value`` in major units (e.g. ``Decimal("12.345")``), rounded once to minor units.

        ``Money.from_decimal(Decimal("1.005"), "USD", Rounding.HALF_UP)`` is 101 cents;
        with ``HALF_EVEN`` it is 100. Exact for any number of digits.
        """
        exponent = currency(currency_code).exponent
        minor = _shift(_finite(value), exponent).to_integral_value(rounding=Rounding(rounding).decimal_mode)
        return cls(amount=int(minor), currency=currency_code)

    @property
    def exponent(self) -> int:
        """The currency's number of minor-unit digits."""
        return currency(self.currency).exponent

    def to_decimal(self) -> Decimal:
        """The amount in major units, exactly: 1234 KWD fils is ``Decimal("1.234")``."""
        return _shift(Decimal(self.amount), -self.exponent)

    def __add__(self, other: Money) -> Money:
        return Money(amount=self.amount + self._same_currency(other).amount, currency=self.currency)

    def __sub__(self, other: Money) -> Money:
        return Money(amount=self.amount - self._same_currency(other).amount, currency=self.currency)

    def __neg__(self) -> Money:
        return Money(amount=-self.amount, currency=self.currency)

    def __str__(self) -> str:
        return f"{self.to_decimal()} {self.currency}"

    def _same_currency(self, other: Money) -> Money:
        if not isinstance(other, Money) or other.currency != self.currency:
            raise InvalidInput(f"cannot combine {self.currency} with {other!r}", code="currency_mismatch")
        return other


def _finite(value: Decimal) -> Decimal:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise InvalidInput(f"expected a finite Decimal, got {value!r}", code="invalid_amount")
    return value


def _shift(value: Decimal, places: int) -> Decimal:
    """``value * 10 ** places`` exactly, by moving the exponent (no context, no rounding)."""
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite, checked by the callers
    return Decimal((sign, digits, exponent + places))
