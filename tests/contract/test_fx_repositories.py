"""One contract for the FX repositories (RateRepository, QuoteRepository), run against every adapter.

Only the in-memory adapters exist today. To run the suite on PostgreSQL, add ``"postgres"`` to
``ADAPTERS`` with a factory that opens ``Database(request.getfixturevalue("database").core_url)``
and returns its repositories and ``db.close`` (see ``test_ledger_store.py``). Every test uses
fresh ids and currency pairs of its own where it matters, so one database can be shared.
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
from application.ports.fx import QuoteRepository, RateRepository
from domain.fx import Quote, Rate, RateBook, create_quote
from domain.shared.errors import Conflict
from domain.shared.money import Money

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


ADAPTERS: dict[str, Callable[[pytest.FixtureRequest], Awaitable[FxStores]]] = {"memory": _memory}


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
