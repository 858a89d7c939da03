"""Currencies from ISO 4217, money in integer minor units, and the named rounding modes."""

from __future__ import annotations

import decimal
from decimal import Decimal

import msgspec
import pytest

from domain.shared.errors import InvalidInput
from domain.shared.money import Currency, Money, Rounding, currency


@pytest.mark.parametrize(
    ("code", "exponent"),
    [("JPY", 0), ("KRW", 0), ("USD", 2), ("EUR", 2), ("GBP", 2), ("KWD", 3), ("BHD", 3), ("JOD", 3)],
)
def test_exponents_come_from_iso_4217(code: str, exponent: int) -> None:
    assert currency(code) == Currency(code=code, exponent=exponent)
    assert Money(amount=1, currency=code).exponent == exponent


@pytest.mark.parametrize("code", ["ZZZ", "XAU", "XAG", "XXX", "XDR", "XTS", "usd", "US", "", 840, None])
def test_unknown_codes_and_codes_without_minor_units_are_refused(code: object) -> None:
    with pytest.raises(InvalidInput) as error:
        currency(code)  # type: ignore[arg-type]
    assert error.value.code == "unknown_currency"
    with pytest.raises(InvalidInput) as error:
        Money(amount=1, currency=code)  # type: ignore[arg-type]
    assert error.value.code == "unknown_currency"


@pytest.mark.parametrize("amount", [1.5, 1.0, Decimal(1), True, "1"])
def test_amounts_are_integers_only(amount: object) -> None:
    with pytest.raises(InvalidInput) as error:
        Money(amount=amount, currency="USD")  # type: ignore[arg-type]
    assert error.value.code == "invalid_amount"


@pytest.mark.parametrize(
    ("amount", "code", "major"),
    [(1234, "KWD", "1.234"), (1234, "USD", "12.34"), (1234, "JPY", "1234"), (-5, "USD", "-0.05"), (0, "BHD", "0.000")],
)
def test_to_decimal_is_exact(amount: int, code: str, major: str) -> None:
    money = Money(amount=amount, currency=code)
    assert str(money.to_decimal()) == major
    assert str(money) == f"{major} {code}"
    assert Money.from_decimal(money.to_decimal(), code) == money


def test_rounding_modes_have_names_and_decimal_counterparts() -> None:
    assert {mode.value: mode.decimal_mode for mode in Rounding} == {
        "half_even": decimal.ROUND_HALF_EVEN,
        "half_up": decimal.ROUND_HALF_UP,
        "down": decimal.ROUND_DOWN,
        "up": decimal.ROUND_UP,
        "ceiling": decimal.ROUND_CEILING,
        "floor": decimal.ROUND_FLOOR,
    }
    assert Rounding("half_up") is Rounding.HALF_UP


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        #             half_even half_up down  up  ceiling floor
        ("1.005", (100, 101, 100, 101, 101, 100)),
        ("1.015", (102, 102, 101, 102, 102, 101)),
        ("1.0051", (101, 101, 100, 101, 101, 100)),
        ("-1.005", (-100, -101, -100, -101, -100, -101)),
        ("-1.001", (-100, -100, -100, -101, -100, -101)),
        ("2", (200, 200, 200, 200, 200, 200)),
    ],
)
def test_from_decimal_rounds_once_with_the_named_mode(value: str, expected: tuple[int, ...]) -> None:
    modes = [Rounding.HALF_EVEN, Rounding.HALF_UP, Rounding.DOWN, Rounding.UP, Rounding.CEILING, Rounding.FLOOR]
    got = tuple(Money.from_decimal(Decimal(value), "USD", mode).amount for mode in modes)
    assert got == expected


@pytest.mark.parametrize(
    ("value", "code", "rounding", "amount"),
    [
        ("2.5", "JPY", Rounding.HALF_EVEN, 2),
        ("3.5", "JPY", Rounding.HALF_EVEN, 4),
        ("2.5", "KRW", Rounding.HALF_UP, 3),
        ("1.2345", "KWD", Rounding.HALF_EVEN, 1234),
        ("1.2345", "BHD", Rounding.HALF_UP, 1235),
        ("0.0001", "JOD", Rounding.CEILING, 1),
    ],
)
def test_zero_and_three_decimal_currencies(value: str, code: str, rounding: Rounding, amount: int) -> None:
    assert Money.from_decimal(Decimal(value), code, rounding) == Money(amount=amount, currency=code)


def test_from_decimal_is_exact_beyond_any_context_precision() -> None:
    value = Decimal("123456789012345678901234567890123.125")
    with decimal.localcontext() as ctx:
        ctx.prec, ctx.rounding = 3, decimal.ROUND_FLOOR
        money = Money.from_decimal(value, "USD", Rounding.HALF_EVEN)
    assert money.amount == 12345678901234567890123456789012312


@pytest.mark.parametrize("value", [1.25, Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity"), "1.25"])
def test_from_decimal_refuses_floats_and_non_finite_values(value: object) -> None:
    with pytest.raises(InvalidInput) as error:
        Money.from_decimal(value, "USD")  # type: ignore[arg-type]
    assert error.value.code == "invalid_amount"


def test_arithmetic_within_one_currency() -> None:
    a, b = Money(amount=1050, currency="KWD"), Money(amount=25, currency="KWD")
    assert a + b == Money(amount=1075, currency="KWD")
    assert a - b == Money(amount=1025, currency="KWD")
    assert -b == Money(amount=-25, currency="KWD")
    assert Money.zero("JPY") == Money(amount=0, currency="JPY")


def test_arithmetic_across_currencies_is_refused() -> None:
    usd, eur = Money(amount=1, currency="USD"), Money(amount=1, currency="EUR")
    for operation in (lambda: usd + eur, lambda: usd - eur):
        with pytest.raises(InvalidInput) as error:
            operation()
        assert error.value.code == "currency_mismatch"


def test_money_is_a_frozen_value_that_round_trips_through_json() -> None:
    money = Money(amount=1234, currency="KWD")
    with pytest.raises(AttributeError):
        money.amount = 1  # type: ignore[misc]
    encoded = msgspec.json.encode(money)
    assert encoded == b'{"amount":1234,"currency":"KWD"}'
    assert msgspec.json.decode(encoded, type=Money) == money
