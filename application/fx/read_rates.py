"""The rates from one currency to every other the book can price now, stale ones flagged."""

from __future__ import annotations

from datetime import datetime, timedelta

import msgspec

from application.ports.clock import Clock
from application.ports.fx import RateRepository
from domain.fx import PIVOT, Rate, RateBook
from domain.shared.errors import DomainError
from domain.shared.money import currency


class RateLine(msgspec.Struct, frozen=True, kw_only=True):
    rate: Rate
    """``base`` -> a currency, through the pivot, exactly as a quote made now would use it."""
    stale: bool
    """Older than the maximum age: quotes in this pair are refused with ``stale_rate``."""


class RateTable(msgspec.Struct, frozen=True, kw_only=True):
    base: str
    at: datetime
    rates: list[RateLine]
    """One per currency with a rate in effect at ``at``, ordered by currency code."""


class ReadRates:
    """Reads the rate book as quotes see it (same pivot, precedence and maximum age)."""

    def __init__(self, rates: RateRepository, clock: Clock, *, max_rate_age: timedelta, pivot: str = PIVOT) -> None:
        self._rates = rates
        self._clock = clock
        self._max_rate_age = max_rate_age
        self._pivot = pivot

    async def __call__(self, base: str) -> RateTable:
        """Every rate from ``base``; ``unknown_currency``, or ``rate_unavailable`` when ``base`` has none."""
        currency(base)
        now = self._clock.now()
        stored = await self._rates.latest_from(self._pivot, now)
        fresh = RateBook(stored, max_age=self._max_rate_age, pivot=self._pivot)
        any_age = RateBook(stored, max_age=timedelta.max, pivot=self._pivot)
        if base != self._pivot:
            any_age.pivot_rate(base, now)  # rate_unavailable: nothing to list
        lines = []
        for code in sorted(({r.quote for r in stored} | {self._pivot}) - {base}):
            try:
                lines.append(RateLine(rate=fresh.rate(base, code, now), stale=False))
            except DomainError as exc:
                if exc.code != "stale_rate":
                    raise
                lines.append(RateLine(rate=any_age.rate(base, code, now), stale=True))
        return RateTable(base=base, at=now, rates=lines)
