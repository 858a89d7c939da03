"""The rate book: one pivot, exact published rates, consistent cross rates, staleness, precedence."""

from __future__ import annotations

import decimal
import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.fx import Rate, RateBook
from domain.fx.rates import CROSS_RATE_DIGITS, INVERSE_TOLERANCE, RATE_CONTEXT
from domain.shared.errors import DomainError, InvalidInput

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def rate(quote: str, value: str, *, source: str = "ECB", as_of: datetime = NOW - DAY, base: str = "EUR") -> Rate:
    return Rate(base=base, quote=quote, value=Decimal(value), source=source, as_of=as_of, fetched_at=as_of)


def book(*rates: Rate, max_age: timedelta = 4 * DAY) -> RateBook:
    return RateBook(rates, max_age=max_age)


def code_of(call) -> str:
    with pytest.raises(DomainError) as error:
        call()
    return error.value.code


ECB = book(rate("USD", "1.1587"), rate("JPY", "181.35"), rate("GBP", "0.88045"))


def test_rates_from_the_pivot_are_used_exactly_as_published() -> None:
    assert ECB.rate("EUR", "USD", NOW) == rate("USD", "1.1587")


def test_rates_to_the_pivot_are_the_rounded_inverse() -> None:
    inverse = ECB.rate("USD", "EUR", NOW)
    assert (inverse.base, inverse.quote, inverse.source) == ("USD", "EUR", "ECB")
    assert inverse.value == RATE_CONTEXT.divide(Decimal(1), Decimal("1.1587"))
    assert len(inverse.value.as_tuple().digits) == CROSS_RATE_DIGITS


def test_cross_rates_go_through_the_pivot() -> None:
    cross = ECB.rate("USD", "JPY", NOW)
    assert (cross.base, cross.quote, cross.source) == ("USD", "JPY", "ECB")
    assert cross.value == RATE_CONTEXT.divide(Decimal("181.35"), Decimal("1.1587"))
    assert cross.value == Decimal("156.51160783636834383")


def test_rates_do_not_depend_on_the_thread_local_decimal_context() -> None:
    expected = ECB.rate("GBP", "JPY", NOW)
    with decimal.localcontext() as ctx:
        ctx.prec, ctx.rounding = 4, decimal.ROUND_FLOOR
        assert ECB.rate("GBP", "JPY", NOW) == expected


pivot_values = st.builds(
    lambda coefficient, exponent: Decimal(coefficient).scaleb(exponent),
    st.integers(1, 10**9),
    st.integers(-9, 3),
)


@given(a=pivot_values, b=pivot_values, pair=st.sampled_from([("USD", "JPY"), ("EUR", "KWD"), ("KWD", "EUR")]))
def test_a_rate_and_its_reverse_multiply_to_one_within_the_stated_tolerance(a, b, pair) -> None:
    """|rate(A, B) * rate(B, A) - 1| <= 10**(1-P) + 10**(2-2P)/4, P = CROSS_RATE_DIGITS (exact check)."""
    rates = book(rate("USD", str(a)), rate("JPY", str(b)), rate("KWD", str(b), source="manual"))
    x, y = pair
    product = Fraction(rates.rate(x, y, NOW).value) * Fraction(rates.rate(y, x, NOW).value)
    assert abs(product - 1) <= Fraction(INVERSE_TOLERANCE)


@given(a=pivot_values, b=pivot_values, c=pivot_values)
def test_every_pair_has_one_rate_whatever_the_order_of_the_book(a, b, c) -> None:
    rates = [rate("USD", str(a)), rate("JPY", str(b)), rate("KWD", str(c), source="manual")]
    pairs = list(itertools.permutations(["USD", "JPY", "KWD"], 2))
    answers = {
        tuple(RateBook(order, max_age=4 * DAY).rate(x, y, NOW) for x, y in pairs)
        for order in itertools.permutations(rates)
    }
    assert len(answers) == 1


def test_a_rate_older_than_the_max_age_is_stale() -> None:
    rates = book(rate("USD", "1.1", as_of=NOW - 2 * DAY), rate("JPY", "180", as_of=NOW - 5 * DAY), max_age=2 * DAY)
    assert rates.rate("EUR", "USD", NOW).value == Decimal("1.1")  # exactly max_age old: still fresh
    assert code_of(lambda: rates.rate("EUR", "USD", NOW + timedelta(microseconds=1))) == "stale_rate"
    assert code_of(lambda: rates.rate("USD", "JPY", NOW)) == "stale_rate"  # one stale leg is enough


def test_a_missing_rate_is_unavailable() -> None:
    assert code_of(lambda: ECB.rate("USD", "KWD", NOW)) == "rate_unavailable"
    assert code_of(lambda: book().rate("EUR", "USD", NOW)) == "rate_unavailable"


def test_a_rate_is_not_in_effect_before_its_as_of() -> None:
    rates = book(rate("USD", "1.2", as_of=NOW + timedelta(hours=1)))
    assert code_of(lambda: rates.rate("EUR", "USD", NOW)) == "rate_unavailable"
    assert rates.rate("EUR", "USD", NOW + timedelta(hours=1)).value == Decimal("1.2")


def test_the_newest_as_of_wins_whatever_the_source() -> None:
    manual = rate("USD", "1.20", source="manual", as_of=NOW - timedelta(hours=2))
    ecb_before = rate("USD", "1.10", as_of=NOW - DAY)
    ecb_after = rate("USD", "1.15", as_of=NOW - timedelta(hours=1))
    assert book(ecb_before, manual).rate("EUR", "USD", NOW) == manual  # manual overrides the feed...
    assert book(ecb_before, manual, ecb_after).rate("EUR", "USD", NOW) == ecb_after  # ...until it publishes again


def test_manual_wins_a_tie_on_as_of() -> None:
    ecb, manual = rate("USD", "1.10"), rate("USD", "1.20", source="manual")
    assert book(ecb, manual).rate("EUR", "USD", NOW) == manual
    assert book(manual, ecb).rate("EUR", "USD", NOW) == manual


def test_a_stale_manual_rate_does_not_hide_a_fresh_feed_rate() -> None:
    stale_manual = rate("USD", "1.20", source="manual", as_of=NOW - 10 * DAY)
    fresh = rate("USD", "1.10")
    assert book(stale_manual, fresh).rate("EUR", "USD", NOW) == fresh


def test_manual_rates_complement_the_feed() -> None:
    rates = book(rate("USD", "1.1587"), rate("KWD", "0.3561", source="manual"))
    cross = rates.rate("KWD", "USD", NOW)
    assert cross.source == "manual+ECB"
    assert cross.value == RATE_CONTEXT.divide(Decimal("1.1587"), Decimal("0.3561"))


def test_a_cross_rate_is_as_old_as_its_older_leg() -> None:
    rates = book(rate("USD", "1.1", as_of=NOW - DAY), rate("JPY", "180", as_of=NOW - 2 * DAY))
    assert rates.rate("USD", "JPY", NOW).as_of == NOW - 2 * DAY


def test_rates_must_be_based_on_the_pivot() -> None:
    assert code_of(lambda: book(rate("KWD", "3.3", base="USD"))) == "rate_not_pivot_based"


def test_no_rate_from_a_currency_to_itself() -> None:
    assert code_of(lambda: ECB.rate("USD", "USD", NOW)) == "same_currency"
    assert code_of(lambda: rate("EUR", "1")) == "same_currency"


@pytest.mark.parametrize("value", ["0", "-1.1", "NaN", "Infinity"])
def test_a_rate_is_positive_and_finite(value: str) -> None:
    assert code_of(lambda: rate("USD", value)) == "invalid_rate"


def test_times_must_be_timezone_aware() -> None:
    assert code_of(lambda: rate("USD", "1.1", as_of=datetime(2026, 11, 19))) == "naive_datetime"
    assert code_of(lambda: ECB.rate("EUR", "USD", datetime(2026, 11, 20))) == "naive_datetime"


def test_unknown_currencies_and_bad_configuration_are_refused() -> None:
    assert code_of(lambda: rate("XAU", "0.0005")) == "unknown_currency"
    assert code_of(lambda: ECB.rate("USD", "ZZZ", NOW)) == "unknown_currency"
    assert code_of(lambda: RateBook([], max_age=timedelta(0))) == "invalid_max_age"
    with pytest.raises(InvalidInput):
        RateBook([], max_age=DAY, pivot="XXX")
