"""One contract for the FX repositories (RateRepository, QuoteRepository), run against every adapter.

The adapters: in memory, and PostgreSQL (as the core's role ``bursar_core``, through a pool
large enough for the concurrency tests to run on separate connections). The PostgreSQL run has
a database of its own, shared by the tests of this module: the HTTP tests load and set rates in
the session's database, and rates are shared by currency, not by id. Every test here uses fresh
ids and currency pairs of its own where it matters.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from adapters.memory.fx import InMemoryQuotes, InMemoryRates
from adapters.postgres.database import Database
from adapters.postgres.fx import PostgresQuotes, PostgresRates
from application.fx.use_quote import UseQuote
from application.ports.fx import QuoteRepository, RateRepository
from domain.fx import Quote, Rate, RateBook, create_quote
from domain.shared.errors import Conflict
from domain.shared.money import Money
from entrypoints.runtime import embedded_postgres
from entrypoints.settings import CORE_DB_ROLE, role_url

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


@dataclass
class FxStores:
    rates: RateRepository
    quotes: QuoteRepository
    close: Callable[[], Awaitable[None]]


async def _memory(request: pytest.FixtureRequest) -> FxStores:
    async def close() -> None:
        return None

    return FxStores(rates=InMemoryRates(), quotes=InMemoryQuotes(), close=close)


@pytest.fixture(scope="module")
def fx_core_url(postgres_server_uri: str):
    """A fresh database with every migration, for this module; the core role's connection string."""
    from entrypoints.runtime.bootstrap import migrate_schemas

    name = f"bursar_fx_{uuid.uuid4().hex[:10]}"
    admin = embedded_postgres.ensure_database(postgres_server_uri, name)
    migrate_schemas(admin)
    yield role_url(admin, CORE_DB_ROLE, None)
    embedded_postgres.drop_database(postgres_server_uri, name)


async def _postgres(request: pytest.FixtureRequest) -> FxStores:
    db = Database(request.getfixturevalue("fx_core_url"), min_size=1, max_size=8, name="bursar-fx-contract")
    await db.open()
    return FxStores(rates=PostgresRates(db.pool), quotes=PostgresQuotes(db.pool), close=db.close)


ADAPTERS: dict[str, Callable[[pytest.FixtureRequest], Awaitable[FxStores]]] = {"memory": _memory, "postgres": _postgres}


@pytest.fixture(params=sorted(ADAPTERS))
def fx_run(request: pytest.FixtureRequest):
    def run(body: Callable[[FxStores], Awaitable[None]]) -> None:
        async def scenario() -> None:
            stores = await ADAPTERS[request.param](request)
            try:
                await body(stores)
            finally:
                await stores.close()

        asyncio.run(scenario())

    return run


def rate(
    quote: str, value: str, *, source: str = "ECB", as_of: datetime = NOW, fetched_at: datetime | None = None
) -> Rate:
    return Rate(
        base="EUR", quote=quote, value=Decimal(value), source=source, as_of=as_of, fetched_at=fetched_at or as_of
    )


def quote(quote_id: str | None = None) -> Quote:
    book = RateBook([rate("USD", "1.1587", as_of=NOW - HOUR)], max_age=timedelta(days=1))
    return create_quote(
        quote_id=quote_id or uuid.uuid4().hex, source=Money(amount=10_000, currency="EUR"), target_currency="USD",
        book=book, markup_bps=200, now=NOW, ttl=timedelta(minutes=5),
    )


# --- RateRepository ----------------------------------------------------------------------


def test_latest_gives_the_newest_rate_of_each_source(fx_run) -> None:
    async def body(s: FxStores) -> None:
        await s.rates.save([
            rate("SEK", "10.90", as_of=NOW - 2 * HOUR),
            rate("SEK", "10.98", as_of=NOW - HOUR),
            rate("SEK", "11.00", source="manual", as_of=NOW - 3 * HOUR),
            rate("NOK", "11.76", as_of=NOW),
        ])
        await s.rates.save([rate("SEK", "10.95", as_of=NOW - 4 * HOUR)])  # an older one, saved later
        assert await s.rates.latest("EUR", "SEK") == [
            rate("SEK", "10.98", as_of=NOW - HOUR),
            rate("SEK", "11.00", source="manual", as_of=NOW - 3 * HOUR),
        ]

    fx_run(body)


def test_latest_of_an_unknown_pair_is_empty(fx_run) -> None:
    async def body(s: FxStores) -> None:
        await s.rates.save([rate("PLN", "4.2365")])
        assert await s.rates.latest("EUR", "RON") == []
        assert await s.rates.latest("PLN", "EUR") == []

    fx_run(body)


def test_saving_the_same_source_and_as_of_replaces_the_rate(fx_run) -> None:
    async def body(s: FxStores) -> None:
        await s.rates.save([rate("HUF", "384.73")])
        corrected = rate("HUF", "384.37", fetched_at=NOW + HOUR)
        await s.rates.save([corrected])
        assert await s.rates.latest("EUR", "HUF") == [corrected]

    fx_run(body)


def test_rates_keep_every_digit_and_the_instant(fx_run) -> None:
    async def body(s: FxStores) -> None:
        precise = rate("IDR", "19384.523456789012345678", as_of=datetime(2026, 11, 19, 14, 10, tzinfo=UTC))
        await s.rates.save([precise])
        [stored] = await s.rates.latest("EUR", "IDR")
        assert stored == precise
        assert stored.value.as_tuple() == precise.value.as_tuple()

    fx_run(body)


def test_latest_from_gives_the_newest_rate_of_each_currency_and_source(fx_run) -> None:
    async def body(s: FxStores) -> None:
        def chf(quote: str, value: str, **kw) -> Rate:  # CHF-based: no other test stores any
            return Rate(base="CHF", quote=quote, value=Decimal(value), source=kw.get("source", "ECB"),
                        as_of=kw.get("as_of", NOW), fetched_at=NOW)

        assert await s.rates.latest_from("CHF") == []
        await s.rates.save([
            chf("USD", "1.2483", as_of=NOW - HOUR),
            chf("USD", "1.2490"),
            chf("USD", "1.25", source="manual", as_of=NOW - 2 * HOUR),
            chf("DKK", "8.0466"),
            chf("DKK", "8.0401", as_of=NOW - HOUR),
            chf("AUD", "1.9196", source="manual"),
        ])
        await s.rates.save([rate("GBP", "0.88045")])  # another base: not listed
        assert await s.rates.latest_from("CHF") == [
            chf("AUD", "1.9196", source="manual"),
            chf("DKK", "8.0466"),
            chf("USD", "1.2490"),
            chf("USD", "1.25", source="manual", as_of=NOW - 2 * HOUR),
        ]
        assert await s.rates.latest("CHF", "USD") == [chf("USD", "1.2490"), chf("USD", "1.25", source="manual", as_of=NOW - 2 * HOUR)]

    fx_run(body)


def test_a_batch_repeating_a_rate_keeps_the_last_and_an_empty_batch_is_nothing(fx_run) -> None:
    async def body(s: FxStores) -> None:
        first, second = rate("THB", "37.594"), rate("THB", "37.601", fetched_at=NOW + HOUR)
        await s.rates.save([first, second])
        await s.rates.save([])
        assert await s.rates.latest("EUR", "THB") == [second]

    fx_run(body)


# --- QuoteRepository ---------------------------------------------------------------------


def test_a_quote_round_trips(fx_run) -> None:
    async def body(s: FxStores) -> None:
        q = quote()
        await s.quotes.add(q)
        assert await s.quotes.get(q.id) == q
        assert await s.quotes.get(uuid.uuid4().hex) is None

    fx_run(body)


def test_a_quote_id_is_taken_once(fx_run) -> None:
    async def body(s: FxStores) -> None:
        q = quote()
        await s.quotes.add(q)
        with pytest.raises(Conflict) as error:
            await s.quotes.add(quote(q.id))
        assert error.value.code == "quote_exists"

    fx_run(body)


def test_mark_used_succeeds_once_and_keeps_the_first_time(fx_run) -> None:
    async def body(s: FxStores) -> None:
        q = quote()
        await s.quotes.add(q)
        assert await s.quotes.mark_used(q.id, NOW + timedelta(seconds=10)) is True
        assert await s.quotes.mark_used(q.id, NOW + timedelta(seconds=20)) is False
        assert (await s.quotes.get(q.id)).used_at == NOW + timedelta(seconds=10)
        assert await s.quotes.mark_used(uuid.uuid4().hex, NOW) is False

    fx_run(body)


def test_of_concurrent_uses_exactly_one_wins(fx_run) -> None:
    async def body(s: FxStores) -> None:
        q = quote()
        await s.quotes.add(q)
        outcomes = await asyncio.gather(*(s.quotes.mark_used(q.id, NOW + timedelta(seconds=i)) for i in range(8)))
        assert outcomes.count(True) == 1
        winner = outcomes.index(True)
        assert (await s.quotes.get(q.id)).used_at == NOW + timedelta(seconds=winner)

    fx_run(body)


def test_of_concurrent_uses_of_a_quote_exactly_one_succeeds(fx_run) -> None:
    """Through the use case: each caller reads the quote open, and the compare-and-set decides."""

    class Clock:
        def now(self) -> datetime:
            return NOW + timedelta(seconds=1)

    async def body(s: FxStores) -> None:
        q = quote()
        await s.quotes.add(q)
        use = UseQuote(s.quotes, Clock())
        outcomes = await asyncio.gather(*(use(q.id) for _ in range(8)), return_exceptions=True)
        used = [o for o in outcomes if isinstance(o, Quote)]
        refused = [o for o in outcomes if isinstance(o, Conflict)]
        assert len(used) == 1 and len(refused) == 7
        assert {e.code for e in refused} == {"quote_already_used"}
        assert (await s.quotes.get(q.id)).used_at == NOW + timedelta(seconds=1)

    fx_run(body)


def test_a_rate_scheduled_for_later_does_not_hide_the_one_in_effect(fx_run) -> None:
    async def body(s: FxStores) -> None:
        in_effect = rate("ZAR", "19.98", source="manual", as_of=NOW - HOUR)
        scheduled = rate("ZAR", "20.40", source="manual", as_of=NOW + HOUR)
        feed = rate("ZAR", "19.9816", as_of=NOW - 2 * HOUR)
        await s.rates.save([in_effect, scheduled, feed])
        assert await s.rates.latest("EUR", "ZAR") == [feed, scheduled]
        assert await s.rates.latest("EUR", "ZAR", NOW) == [feed, in_effect]
        assert await s.rates.latest("EUR", "ZAR", NOW - 2 * HOUR) == [feed]  # as_of == at is in effect
        assert await s.rates.latest("EUR", "ZAR", NOW - 3 * HOUR) == []
        assert [r for r in await s.rates.latest_from("EUR", NOW) if r.quote == "ZAR"] == [feed, in_effect]

    fx_run(body)
