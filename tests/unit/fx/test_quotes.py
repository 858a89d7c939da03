"""Quotes: priced from the rate book, used once, and only before they expire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import msgspec
import pytest

from domain.fx import Quote, Rate, RateBook, create_quote
from domain.shared.errors import Conflict, DomainError
from domain.shared.money import Money, Rounding

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
TTL = timedelta(minutes=5)
AS_OF = datetime(2026, 11, 19, 13, 10, tzinfo=UTC)
BOOK = RateBook(
    [
        Rate(base="EUR", quote="USD", value=Decimal("1.1587"), source="ECB", as_of=AS_OF, fetched_at=AS_OF),
        Rate(base="EUR", quote="KWD", value=Decimal("0.3561"), source="manual", as_of=AS_OF, fetched_at=AS_OF),
    ],
    max_age=timedelta(days=4),
)


def quote(**overrides) -> Quote:
    fields = dict(
        quote_id="q1", source=Money(amount=10_000, currency="USD"), target_currency="KWD", book=BOOK,
        markup_bps=250, now=NOW, ttl=TTL,
    )
    return create_quote(**{**fields, **overrides})


def test_a_quote_prices_the_conversion_and_the_fee() -> None:
    q = quote()
    assert q.rate == BOOK.rate("USD", "KWD", NOW)
    assert (q.source_currency, q.target_currency, q.markup_bps) == ("USD", "KWD", 250)
    # 100 USD * (0.3561 / 1.1587) = 30.7326... KWD -> 30.733; fee 2.5 % = 0.768325 -> 0.768
    assert (q.converted, q.fee, q.total) == (
        Money(amount=30_733, currency="KWD"),
        Money(amount=768, currency="KWD"),
        Money(amount=31_501, currency="KWD"),
    )
    assert (q.created_at, q.expires_at, q.used_at) == (NOW, NOW + TTL, None)
    assert q.state(NOW) == "open"


def test_the_caller_names_the_rounding_of_each_leg() -> None:
    q = quote(rounding=Rounding.FLOOR, fee_rounding=Rounding.CEILING)
    assert (q.converted.amount, q.fee.amount, q.total.amount) == (30_732, 769, 31_501)


def test_a_quote_is_used_once() -> None:
    used = quote().use(NOW + timedelta(minutes=1))
    assert used.used_at == NOW + timedelta(minutes=1)
    assert used.state(NOW + timedelta(minutes=1)) == "used"
    with pytest.raises(Conflict) as error:
        used.use(NOW + timedelta(minutes=2))
    assert error.value.code == "quote_already_used"


def test_a_quote_expires_at_its_expiry_time() -> None:
    q = quote()
    assert q.use(NOW + TTL - timedelta(microseconds=1)).used_at is not None
    assert q.state(NOW + TTL) == "expired"
    with pytest.raises(Conflict) as error:
        q.use(NOW + TTL)
    assert error.value.code == "quote_expired"


def test_a_used_quote_stays_used_after_its_expiry() -> None:
    used = quote().use(NOW)
    assert used.state(NOW + 2 * TTL) == "used"
    with pytest.raises(Conflict) as error:
        used.use(NOW + 2 * TTL)
    assert error.value.code == "quote_already_used"


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"ttl": timedelta(0)}, "invalid_ttl"),
        ({"source": Money(amount=0, currency="USD")}, "invalid_amount"),
        ({"markup_bps": 10_001}, "invalid_markup"),
        ({"target_currency": "USD"}, "same_currency"),
        ({"target_currency": "JPY"}, "rate_unavailable"),
        ({"now": NOW + timedelta(days=5)}, "stale_rate"),
        ({"target_currency": "XAU"}, "unknown_currency"),
    ],
)
def test_quotes_that_cannot_be_made(overrides: dict, code: str) -> None:
    with pytest.raises(DomainError) as error:
        quote(**overrides)
    assert error.value.code == code


def test_a_quote_round_trips_through_json() -> None:
    q = quote().use(NOW)
    assert msgspec.json.decode(msgspec.json.encode(q), type=Quote) == q
