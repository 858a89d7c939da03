"""Conversion and markup: checked against an independent exact oracle (fractions), by example and by property.

Bounds proven here (u is the rounding error bound of a mode: 1/2 for half_even and half_up,
below 1 for down, up, ceiling and floor):

- reconciliation: ``converted + fee == total`` exactly, all integers, every time;
- each leg is the exact value rounded once: ``|converted - source * rate| <= u`` and
  ``|fee - converted * bps / 10_000| <= u`` (in minor units), and equals the oracle's rounding;
- round trip A -> B -> A with the book's rates r1 = rate(A, B), r2 = rate(B, A), and
  f2 = r2 * 10**(eA - eB) (what one minor unit of B is worth in minor units of A):
  ``|a' - a| <= u + u * f2 + |a| * |r1 * r2 - 1|``: at most one minor unit lost per leg (the first
  leg's in B, valued in A), plus the inverse-rate error, itself at most ``INVERSE_TOLERANCE``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.fx import Rate, RateBook, convert, convert_with_markup, max_source_for_total
from domain.fx.rates import INVERSE_TOLERANCE
from domain.shared.errors import InvalidInput
from domain.shared.money import Money, Rounding, currency

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
CURRENCIES = ["JPY", "KRW", "USD", "EUR", "GBP", "KWD", "BHD", "JOD"]  # exponents 0, 2 and 3
HALF_MODES = {Rounding.HALF_EVEN, Rounding.HALF_UP}


def reference_round(x: Fraction, mode: Rounding) -> int:
    """The oracle: ``x`` rounded to an integer by the definition of each mode, on exact fractions."""
    floor = x.numerator // x.denominator
    if floor == x:
        return floor
    ceiling, away = floor + 1, (floor + 1 if x > 0 else floor)
    toward = floor if x > 0 else ceiling
    directed = {Rounding.FLOOR: floor, Rounding.CEILING: ceiling, Rounding.DOWN: toward, Rounding.UP: away}
    if mode in directed:
        return directed[mode]
    distance = x - floor
    if distance != Fraction(1, 2):
        return floor if distance < Fraction(1, 2) else ceiling
    return away if mode is Rounding.HALF_UP else (floor if floor % 2 == 0 else ceiling)


def exact_minor(amount: Money, rate: Rate) -> Fraction:
    """``amount`` at ``rate`` in minor units of the quote currency, exactly."""
    shift = currency(rate.quote).exponent - currency(rate.base).exponent
    return amount.amount * Fraction(rate.value) * Fraction(10) ** shift


def bound(mode: Rounding) -> Fraction:
    return Fraction(1, 2) if mode in HALF_MODES else Fraction(1)


def make_rate(base: str, quote: str, value: Decimal) -> Rate:
    return Rate(base=base, quote=quote, value=value, source="test", as_of=NOW, fetched_at=NOW)


rate_values = st.builds(lambda c, e: Decimal(c).scaleb(e), st.integers(1, 10**12), st.integers(-14, 4))
pairs = st.tuples(st.sampled_from(CURRENCIES), st.sampled_from(CURRENCIES)).filter(lambda p: p[0] != p[1])
modes = st.sampled_from(list(Rounding))
amounts = st.integers(0, 10**15)
markups = st.integers(0, 10_000)


@given(amount=st.integers(-(10**15), 10**15), pair=pairs, value=rate_values, mode=modes)
def test_convert_rounds_the_exact_product_once(amount, pair, value, mode) -> None:
    rate = make_rate(*pair, value)
    converted = convert(Money(amount=amount, currency=pair[0]), rate, mode)
    assert converted.currency == pair[1]
    assert converted.amount == reference_round(exact_minor(Money(amount=amount, currency=pair[0]), rate), mode)


@given(amount=amounts, pair=pairs, value=rate_values, markup=markups, mode=modes, fee_mode=modes)
def test_converted_plus_fee_is_the_total_to_the_minor_unit(amount, pair, value, markup, mode, fee_mode) -> None:
    rate = make_rate(*pair, value)
    source = Money(amount=amount, currency=pair[0])
    result = convert_with_markup(source, rate, markup, rounding=mode, fee_rounding=fee_mode)

    legs = (result.converted, result.fee, result.total)
    assert all(type(leg.amount) is int and leg.currency == pair[1] for leg in legs)
    assert result.converted.amount + result.fee.amount == result.total.amount
    exact_converted = exact_minor(source, rate)
    exact_fee = result.converted.amount * Fraction(markup, 10_000)
    assert result.converted.amount == reference_round(exact_converted, mode)
    assert result.fee.amount == reference_round(exact_fee, fee_mode)
    assert abs(result.converted.amount - exact_converted) <= bound(mode)
    assert abs(result.fee.amount - exact_fee) <= bound(fee_mode)
    assert 0 <= result.fee.amount <= result.converted.amount  # a markup is at most 100 %


@given(amount=amounts, pair=pairs, a=rate_values, b=rate_values, mode=modes)
def test_a_round_trip_loses_at_most_one_minor_unit_per_leg(amount, pair, a, b, mode) -> None:
    x, y = pair
    pivot_rates = [make_rate("EUR", code, value) for code, value in ((x, a), (y, b)) if code != "EUR"]
    book = RateBook(pivot_rates, max_age=timedelta(days=1))
    there, back = book.rate(x, y, NOW), book.rate(y, x, NOW)
    original = Money(amount=amount, currency=x)
    returned = convert(convert(original, there, mode), back, mode)

    inverse_error = abs(Fraction(there.value) * Fraction(back.value) - 1)
    assert inverse_error <= Fraction(INVERSE_TOLERANCE)
    b_minor_in_a = Fraction(back.value) * Fraction(10) ** (currency(x).exponent - currency(y).exponent)
    u = bound(mode)
    assert abs(returned.amount - amount) <= u + u * b_minor_in_a + amount * inverse_error


@given(limit=st.integers(0, 10**12), pair=pairs, value=rate_values, markup=markups, mode=modes, fee_mode=modes)
def test_the_reverse_finds_the_largest_source_that_fits(limit, pair, value, markup, mode, fee_mode) -> None:
    rate = make_rate(*pair, value)
    limit_money = Money(amount=limit, currency=pair[1])
    found = max_source_for_total(limit_money, rate, markup, rounding=mode, fee_rounding=fee_mode)
    assert found.total.amount <= limit
    assert found.converted.amount + found.fee.amount == found.total.amount
    one_more = Money(amount=found.source.amount + 1, currency=pair[0])
    assert convert_with_markup(one_more, rate, markup, rounding=mode, fee_rounding=fee_mode).total.amount > limit


@given(limit=st.integers(0, 10**9), mode=modes, fee_mode=modes)
def test_a_conversion_names_its_rounding_and_the_reverse_keeps_it(limit, mode, fee_mode) -> None:
    """A conversion carries the modes it was rounded with, so the reverse of it (a partial
    approval: the most that fits in what is left) can be rounded the same way."""
    rate = make_rate("JPY", "USD", Decimal("0.0078125"))
    forward = convert_with_markup(Money(amount=limit, currency="JPY"), rate, 200, rounding=mode, fee_rounding=fee_mode)
    assert (forward.rounding, forward.fee_rounding) == (mode, fee_mode)
    found = max_source_for_total(Money(amount=limit, currency="USD"), rate, 200, rounding=forward.rounding,
                                 fee_rounding=forward.fee_rounding)
    assert (found.rounding, found.fee_rounding) == (mode, fee_mode)
    assert found == convert_with_markup(found.source, rate, 200, rounding=mode, fee_rounding=fee_mode)


def test_a_merchant_amount_in_jpy_charged_to_a_kwd_card() -> None:
    rate = make_rate("JPY", "KWD", Decimal("0.0019637"))
    result = convert_with_markup(Money(amount=12_345, currency="JPY"), rate, 275)
    # 12345 JPY * 0.0019637 = 24.2418765 KWD -> 24.242 KWD; fee 2.75 % of 24.242 = 0.666655 -> 0.667
    assert (result.converted.amount, result.fee.amount, result.total.amount) == (24_242, 667, 24_909)


def test_a_usd_amount_charged_to_a_jpy_card_rounds_the_fee_as_told() -> None:
    rate = make_rate("USD", "JPY", Decimal("156.51"))
    source = Money(amount=1999, currency="USD")  # 19.99 USD -> 3128.6349 JPY -> 3129
    half_even = convert_with_markup(source, rate, 150)  # fee 46.935 -> 47
    floor = convert_with_markup(source, rate, 150, fee_rounding=Rounding.FLOOR)  # -> 46
    assert (half_even.converted.amount, half_even.fee.amount, half_even.total.amount) == (3129, 47, 3176)
    assert (floor.fee.amount, floor.total.amount) == (46, 3175)


def test_zero_markup_means_zero_fee() -> None:
    result = convert_with_markup(Money(amount=10_000, currency="EUR"), make_rate("EUR", "USD", Decimal("1.1587")), 0)
    assert (result.converted.amount, result.fee.amount, result.total.amount) == (11_587, 0, 11_587)


def test_the_rate_must_fit_the_amount() -> None:
    rate = make_rate("EUR", "USD", Decimal("1.1587"))
    for call in (
        lambda: convert(Money(amount=1, currency="GBP"), rate),
        lambda: max_source_for_total(Money(amount=1, currency="EUR"), rate, 0),
    ):
        with pytest.raises(InvalidInput) as error:
            call()
        assert error.value.code == "currency_mismatch"


@pytest.mark.parametrize("markup", [-1, 10_001, 1.5, True])
def test_markups_are_whole_basis_points_from_0_to_10000(markup: object) -> None:
    rate = make_rate("EUR", "USD", Decimal("1.1587"))
    with pytest.raises(InvalidInput) as error:
        convert_with_markup(Money(amount=100, currency="EUR"), rate, markup)  # type: ignore[arg-type]
    assert error.value.code == "invalid_markup"


def test_the_reverse_refuses_a_negative_limit() -> None:
    with pytest.raises(InvalidInput) as error:
        max_source_for_total(Money(amount=-1, currency="USD"), make_rate("EUR", "USD", Decimal("1.1")), 0)
    assert error.value.code == "invalid_amount"


@pytest.mark.parametrize(
    ("amount", "pair", "rate", "half_even", "half_up"),
    [
        # 1.00 EUR at 1.125 = 1.125 USD = 112.5 cents: a tie, to the even 112 or away to 113
        (100, ("EUR", "USD"), "1.125", 112, 113),
        (100, ("EUR", "USD"), "1.135", 114, 114),  # 113.5: both go up (114 is even)
        (1, ("JPY", "KWD"), "0.0025", 2, 3),  # 1 yen = 2.5 fils (3 decimals)
        (3, ("USD", "JPY"), "150", 4, 5),  # 0.03 USD = 4.5 yen (0 decimals)
        (-100, ("EUR", "USD"), "1.125", -112, -113),  # a refund: half-up goes away from zero
    ],
)
def test_a_conversion_landing_half_way_rounds_as_named(amount, pair, rate, half_even, half_up) -> None:
    rate_ = make_rate(*pair, Decimal(rate))
    source = Money(amount=amount, currency=pair[0])
    assert convert(source, rate_, Rounding.HALF_EVEN).amount == half_even
    assert convert(source, rate_, Rounding.HALF_UP).amount == half_up


@pytest.mark.parametrize(("converted", "bps", "half_even", "half_up"), [(1000, 25, 2, 3), (1000, 35, 4, 4), (200, 25, 0, 1)])
def test_a_fee_landing_half_way_rounds_as_named(converted, bps, half_even, half_up) -> None:
    rate = make_rate("EUR", "USD", Decimal(1))  # converted == source: the fee alone is at a tie
    source = Money(amount=converted, currency="EUR")
    even = convert_with_markup(source, rate, bps, fee_rounding=Rounding.HALF_EVEN)
    up = convert_with_markup(source, rate, bps, fee_rounding=Rounding.HALF_UP)
    assert (even.fee.amount, up.fee.amount) == (half_even, half_up)
    assert (even.total.amount, up.total.amount) == (converted + half_even, converted + half_up)
