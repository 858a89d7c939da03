"""The FX use cases over the in-memory repositories: refresh, manual rates, quotes and their single use."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import msgspec
import pytest

from adapters.memory.fx import InMemoryQuotes, InMemoryRates
from adapters.rates_ecb import EcbRateSource
from application.fx.create_quote import CreateQuote, NewQuote
from application.fx.refresh_rates import RefreshRates
from application.fx.set_manual_rate import SetManualRate, SetRate
from application.fx.use_quote import UseQuote
from domain.fx import Quote, Rate
from domain.shared.errors import DomainError

ECB_AS_OF = datetime(2026, 11, 19, 13, 10, tzinfo=UTC)


class FakeClock:
    def __init__(self) -> None:
        self.current = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current


class CountingIds:
    def __init__(self) -> None:
        self._numbers = itertools.count(1)

    def new_id(self) -> str:
        return f"quote-{next(self._numbers)}"


class Fx:
    """The four use cases wired to one set of in-memory repositories and a fake clock."""

    def __init__(self) -> None:
        self.clock, self.rates, self.quotes = FakeClock(), InMemoryRates(), InMemoryQuotes()
        self.refresh = RefreshRates(EcbRateSource(), self.rates, self.clock)
        self.set_rate = SetManualRate(self.rates, self.clock)
        self.create_quote = CreateQuote(
            self.rates, self.quotes, self.clock, CountingIds(), max_rate_age=timedelta(days=4)
        )
        self.use_quote = UseQuote(self.quotes, self.clock)

    async def quote(self, amount: int, source: str, target: str, markup_bps: int = 200) -> Quote:
        return await self.create_quote(
            NewQuote(source_amount=amount, source_currency=source, target_currency=target, markup_bps=markup_bps,
                     ttl_seconds=300)
        )


def run(scenario) -> None:
    asyncio.run(scenario(Fx()))


async def code_of(awaitable) -> str:
    with pytest.raises(DomainError) as error:
        await awaitable
    return error.value.code


def test_refresh_saves_the_feed_rates() -> None:
    async def scenario(fx: Fx) -> None:
        refreshed = await fx.refresh()
        assert len(refreshed.rates) == 29
        [usd] = await fx.rates.latest("EUR", "USD")
        assert (usd.value, usd.source, usd.as_of) == (Decimal("1.1587"), "ECB", ECB_AS_OF)
        assert usd.fetched_at == fx.clock.current

    run(scenario)


def test_refresh_refuses_a_feed_that_is_not_pivot_based_and_saves_nothing() -> None:
    class MixedFeed:
        async def fetch(self, fetched_at: datetime) -> list[Rate]:
            at = dict(source="X", as_of=fetched_at, fetched_at=fetched_at)
            return [
                Rate(base="EUR", quote="GBP", value=Decimal("0.88"), **at),
                Rate(base="USD", quote="KWD", value=Decimal("0.31"), **at),
            ]

    async def scenario(fx: Fx) -> None:
        assert await code_of(RefreshRates(MixedFeed(), fx.rates, fx.clock)()) == "rate_not_pivot_based"
        assert await fx.rates.latest("EUR", "GBP") == []

    run(scenario)


def test_manual_rates_complement_the_ecb() -> None:
    async def scenario(fx: Fx) -> None:
        await fx.refresh()
        assert await code_of(fx.quote(10_000, "USD", "KWD")) == "rate_unavailable"
        manual = await fx.set_rate(SetRate(base="EUR", quote="KWD", value=Decimal("0.3561")))
        assert (manual.source, manual.as_of, manual.fetched_at) == ("manual", fx.clock.current, fx.clock.current)
        quote = await fx.quote(10_000, "USD", "KWD")
        assert quote.rate.source == "ECB+manual"
        assert quote.converted.amount + quote.fee.amount == quote.total.amount

    run(scenario)


def test_a_manual_rate_overrides_the_ecb_until_the_ecb_publishes_a_newer_one() -> None:
    async def scenario(fx: Fx) -> None:
        await fx.refresh()
        await fx.set_rate(SetRate(base="EUR", quote="USD", value=Decimal("1.2000")))
        assert (await fx.quote(10_000, "EUR", "USD")).rate.value == Decimal("1.2000")

        newer_ecb = Rate(base="EUR", quote="USD", value=Decimal("1.1601"), source="ECB",
                         as_of=fx.clock.current + timedelta(hours=4), fetched_at=fx.clock.current + timedelta(hours=5))
        await fx.rates.save([newer_ecb])
        fx.clock.current += timedelta(hours=5)
        assert (await fx.quote(10_000, "EUR", "USD")).rate == newer_ecb

    run(scenario)


def test_manual_rates_must_be_pivot_based() -> None:
    async def scenario(fx: Fx) -> None:
        not_pivot_based = SetRate(base="USD", quote="KWD", value=Decimal("0.31"))
        assert await code_of(fx.set_rate(not_pivot_based)) == "rate_not_pivot_based"
        gold = SetRate(base="EUR", quote="XAU", value=Decimal("0.0004"))
        assert await code_of(fx.set_rate(gold)) == "unknown_currency"
        assert await fx.rates.latest("USD", "KWD") == []

    run(scenario)


def test_a_quote_is_created_stored_and_refused_once_its_rates_are_stale() -> None:
    async def scenario(fx: Fx) -> None:
        await fx.refresh()
        quote = await fx.quote(1_999, "USD", "JPY", markup_bps=150)
        assert quote.id == "quote-1"
        assert await fx.quotes.get("quote-1") == quote
        assert quote.expires_at == fx.clock.current + timedelta(seconds=300)
        fx.clock.current = ECB_AS_OF + timedelta(days=4, seconds=1)
        assert await code_of(fx.quote(1_999, "USD", "JPY")) == "stale_rate"

    run(scenario)


def test_a_quote_is_used_once_and_only_before_it_expires() -> None:
    async def scenario(fx: Fx) -> None:
        await fx.refresh()
        first, second = await fx.quote(500, "GBP", "USD"), await fx.quote(500, "GBP", "USD")
        used = await fx.use_quote(first.id)
        assert used.used_at == fx.clock.current
        assert await fx.quotes.get(first.id) == used
        assert await code_of(fx.use_quote(first.id)) == "quote_already_used"
        fx.clock.current += timedelta(seconds=300)
        assert await code_of(fx.use_quote(second.id)) == "quote_expired"
        assert await code_of(fx.use_quote("missing")) == "quote_not_found"

    run(scenario)


def test_the_compare_and_set_stops_a_use_that_raced_another() -> None:
    class StaleReads(InMemoryQuotes):
        """Reads the quote as it was when added, as a concurrent request could have."""

        async def get(self, quote_id: str) -> Quote | None:
            quote = await super().get(quote_id)
            return None if quote is None else msgspec.structs.replace(quote, used_at=None)

    async def scenario(fx: Fx) -> None:
        await fx.refresh()
        racing = StaleReads()
        quote = await fx.quote(500, "GBP", "USD")
        await racing.add(quote)
        use = UseQuote(racing, fx.clock)
        await use(quote.id)
        assert await code_of(use(quote.id)) == "quote_already_used"

    run(scenario)
