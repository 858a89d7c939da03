"""FX rates and quotes in memory, for unit tests; they pass the same contract suite as any other store.

Each method runs without awaiting, so on one event loop every call is atomic; that is what
makes ``mark_used`` a compare-and-set here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import msgspec

from domain.fx import Quote, Rate
from domain.shared.errors import Conflict

_RateKey = tuple[str, str, str, datetime]


class InMemoryRates:
    """RateRepository keeping every rate, keyed by (base, quote, source, as_of)."""

    def __init__(self) -> None:
        self._rates: dict[_RateKey, Rate] = {}

    async def save(self, rates: Sequence[Rate]) -> None:
        for rate in rates:
            self._rates[(rate.base, rate.quote, rate.source, rate.as_of)] = rate

    async def latest(self, base: str, quote: str, at: datetime | None = None) -> list[Rate]:
        return [rate for rate in await self.latest_from(base, at) if rate.quote == quote]

    async def latest_from(self, base: str, at: datetime | None = None) -> list[Rate]:
        newest: dict[tuple[str, str], Rate] = {}
        for rate in self._rates.values():
            if rate.base == base and (at is None or rate.as_of <= at):
                kept = newest.get((rate.quote, rate.source))
                if kept is None or rate.as_of > kept.as_of:
                    newest[(rate.quote, rate.source)] = rate
        return [newest[key] for key in sorted(newest)]


class InMemoryQuotes:
    """QuoteRepository over a dict."""

    def __init__(self) -> None:
        self._quotes: dict[str, Quote] = {}

    async def add(self, quote: Quote) -> None:
        if quote.id in self._quotes:
            raise Conflict(f"a quote with id {quote.id} exists", code="quote_exists")
        self._quotes[quote.id] = quote

    async def get(self, quote_id: str) -> Quote | None:
        return self._quotes.get(quote_id)

    async def mark_used(self, quote_id: str, used_at: datetime) -> bool:
        quote = self._quotes.get(quote_id)
        if quote is None or quote.used_at is not None:
            return False
        self._quotes[quote_id] = msgspec.structs.replace(quote, used_at=used_at)
        return True
