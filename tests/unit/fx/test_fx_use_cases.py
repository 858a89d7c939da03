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
from application.fx.create_quote import CreatedQuote, CreateQuote, NewQuote
from application.fx.read_rates import RateLine, ReadRates
from application.fx.refresh_rates import RefreshRates
from application.fx.seed_rates import SeedRates
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


# --- A client-chosen quote id is the idempotency key -----------------------------------------


def new_quote(quote_id: str | None, amount: int = 10_000, source: str = "USD", target: str = "JPY",
              markup_bps: int = 200) -> NewQuote:
    return NewQuote(source_amount=amount, source_currency=source, target_currency=target, markup_bps=markup_bps,
                    ttl_seconds=300, quote_id=quote_id)


def test_a_repeated_quote_id_gets_the_first_quote_without_pricing_again() -> None:
    async def scenario(fx: Fx) -> None:
        await fx.refresh()
        first = await fx.create_quote.create(new_quote("order-17"))
        assert (first.created, first.quote.id) == (True, "order-17")
        await fx.set_rate(SetRate(base="EUR", quote="JPY", value=Decimal("190")))  # the price has moved
        fx.clock.current += timedelta(seconds=30)
        again = await fx.create_quote.create(new_quote("order-17", markup_bps=900))  # policy is not the request
        assert again == CreatedQuote(quote=first.quote, created=False)
        await fx.use_quote("order-17")
        fx.clock.current += timedelta(days=30)  # used, expired, and its rates long stale
        replay = await fx.create_quote.create(new_quote("order-17"))
        assert (replay.created, replay.quote.converted) == (False, first.quote.converted)
        assert replay.quote.used_at is not None

    run(scenario)


@pytest.mark.parametrize(
    "changed", [{"amount": 10_001}, {"source": "GBP"}, {"target": "CHF"}], ids=["amount", "from", "to"]
)
def test_a_quote_id_reused_for_another_request_is_a_conflict(changed: dict) -> None:
    async def scenario(fx: Fx) -> None:
        await fx.refresh()
        await fx.create_quote(new_quote("order-18"))
        assert await code_of(fx.create_quote(new_quote("order-18", **changed))) == "idempotency_conflict"

    run(scenario)


def test_without_an_id_every_call_is_a_new_quote() -> None:
    async def scenario(fx: Fx) -> None:
        await fx.refresh()
        a, b = await fx.create_quote(new_quote(None)), await fx.create_quote(new_quote(None))
        assert (a.id, b.id) == ("quote-1", "quote-2")

    run(scenario)


def test_a_quote_id_raced_by_a_concurrent_request_answers_with_the_winner() -> None:
    class RacedQuotes(InMemoryQuotes):
        """The first lookup misses: the other request stores its quote between our read and write."""

        def __init__(self, winner: Quote) -> None:
            super().__init__()
            self.winner, self.raced = winner, False

        async def get(self, quote_id: str) -> Quote | None:
            if not self.raced:
                self.raced = True
                await self.add(self.winner)
                return None
            return await super().get(quote_id)

    async def scenario(fx: Fx) -> None:
        await fx.refresh()
        winner = await fx.create_quote(new_quote("order-19"))
        for request, outcome in ((new_quote("order-19"), "same"), (new_quote("order-19", amount=5), "conflict")):
            quotes = RacedQuotes(winner)
            create = CreateQuote(fx.rates, quotes, fx.clock, CountingIds(), max_rate_age=timedelta(days=4))
            if outcome == "same":
                assert await create.create(request) == CreatedQuote(quote=winner, created=False)
            else:
                assert await code_of(create.create(request)) == "idempotency_conflict"

    run(scenario)


# --- Reading the rate table, and seeding an empty book -------------------------------------------


def test_the_rate_table_lists_every_rate_from_a_base_through_the_pivot() -> None:
    async def scenario(fx: Fx) -> None:
        await fx.refresh()
        read = ReadRates(fx.rates, fx.clock, max_rate_age=timedelta(days=4))
        table = await read("USD")
        assert (table.base, table.at) == ("USD", fx.clock.current)
        codes = [line.rate.quote for line in table.rates]
        assert codes == sorted(codes) and "USD" not in codes and "EUR" in codes and len(codes) == 29
        by_code = {line.rate.quote: line for line in table.rates}
        assert by_code["JPY"].rate.value == Decimal("156.51160783636834383")
        assert by_code["JPY"] == RateLine(rate=(await fx.quote(1, "USD", "JPY")).rate, stale=False)
        pivot = await read("EUR")
        assert {line.rate.quote: line.rate.value for line in pivot.rates}["USD"] == Decimal("1.1587")

    run(scenario)


def test_the_rate_table_flags_stale_rates_and_skips_rates_not_yet_in_effect() -> None:
    async def scenario(fx: Fx) -> None:
        await fx.refresh()
        fx.clock.current = ECB_AS_OF + timedelta(days=4, seconds=1)
        later = fx.clock.current + timedelta(hours=1)
        await fx.set_rate(SetRate(base="EUR", quote="KWD", value=Decimal("0.3561"), as_of=later))
        await fx.set_rate(SetRate(base="EUR", quote="JPY", value=Decimal("183.2")))
        table = await ReadRates(fx.rates, fx.clock, max_rate_age=timedelta(days=4))("EUR")
        by_code = {line.rate.quote: line for line in table.rates}
        assert by_code["USD"].stale and by_code["USD"].rate.value == Decimal("1.1587")
        assert not by_code["JPY"].stale and by_code["JPY"].rate.source == "manual"
        assert "KWD" not in by_code
        assert await code_of(fx.quote(100, "EUR", "USD")) == "stale_rate"
        assert (await fx.quote(100, "EUR", "JPY")).rate.value == Decimal("183.2")

    run(scenario)


def test_the_rate_table_of_a_currency_without_rates_is_refused() -> None:
    async def scenario(fx: Fx) -> None:
        await fx.refresh()
        read = ReadRates(fx.rates, fx.clock, max_rate_age=timedelta(days=4))
        assert await code_of(read("KWD")) == "rate_unavailable"
        assert await code_of(read("XAU")) == "unknown_currency"

    run(scenario)


def test_seeding_loads_the_source_only_into_an_empty_book() -> None:
    async def scenario(fx: Fx) -> None:
        seed = SeedRates(EcbRateSource(), fx.rates, fx.clock)
        loaded = await seed()
        assert loaded is not None and len(loaded.rates) == 29
        assert await seed() is None
        assert len(await fx.rates.latest_from("EUR")) == 29

    run(scenario)


def test_a_manual_rate_alone_is_enough_not_to_seed() -> None:
    async def scenario(fx: Fx) -> None:
        await fx.set_rate(SetRate(base="EUR", quote="KWD", value=Decimal("0.3561")))
        assert await SeedRates(EcbRateSource(), fx.rates, fx.clock)() is None
        assert await fx.rates.latest("EUR", "USD") == []

    run(scenario)


def test_a_manual_rate_scheduled_for_later_leaves_the_current_one_in_use() -> None:
    async def scenario(fx: Fx) -> None:
        await fx.set_rate(SetRate(base="EUR", quote="KWD", value=Decimal("0.3561")))
        later = fx.clock.current + timedelta(hours=2)
        await fx.set_rate(SetRate(base="EUR", quote="KWD", value=Decimal("0.3570"), as_of=later))
        assert (await fx.quote(10_000, "EUR", "KWD")).rate.value == Decimal("0.3561")
        fx.clock.current = later
        assert (await fx.quote(10_000, "EUR", "KWD")).rate.value == Decimal("0.3570")

    run(scenario)
