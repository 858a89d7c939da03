"""Prices card spending in a foreign currency: the stored rates through the pivot, plus the program's
markup, rounded with the configured modes. Pivot rates are cached for a second, so the
authorization path does not read the rate table on every message."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from application.ports.fx import RateRepository
from domain.fx import PIVOT, Rate, RateBook
from domain.fx.conversion import Conversion, convert_with_markup
from domain.shared.money import Money, Rounding


class CardFx:
    def __init__(self, rates: RateRepository, *, max_rate_age: timedelta | None, rounding: Rounding = Rounding.HALF_EVEN,
                 fee_rounding: Rounding = Rounding.HALF_EVEN, cache_seconds: float = 1.0) -> None:
        self._rates = rates
        self._max_age = max_rate_age or timedelta(days=36500)
        self._rounding = rounding
        self._fee_rounding = fee_rounding
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, list[Rate]]] = {}

    async def convert(self, amount: Money, to: str, markup_bps: int, now: datetime) -> Conversion:
        """``amount`` in ``to`` with ``markup_bps`` added as a fee; ``rate_unavailable``/``stale_rate``
        when no usable rate exists."""
        rates = [r for code in sorted({amount.currency, to} - {PIVOT}) for r in await self._pivot_rates(code, now)]
        book = RateBook(rates, max_age=self._max_age)
        rate = book.rate(amount.currency, to, now)
        return self.convert_at(amount, rate, markup_bps)

    def convert_at(self, amount: Money, rate: Rate, markup_bps: int) -> Conversion:
        return convert_with_markup(amount, rate, markup_bps, rounding=self._rounding, fee_rounding=self._fee_rounding)

    async def _pivot_rates(self, code: str, now: datetime) -> list[Rate]:
        hit = self._cache.get(code)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        rates = await self._rates.latest(PIVOT, code, now)
        self._cache[code] = (time.monotonic() + self._cache_seconds, rates)
        return rates
