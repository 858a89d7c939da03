"""Pull the latest rates from a feed (e.g. the ECB) into the rate repository."""

from __future__ import annotations

import msgspec

from application.ports.clock import Clock
from application.ports.fx import RateRepository, RateSource
from domain.fx import PIVOT, Rate, require_pivot_based


class RefreshedRates(msgspec.Struct, frozen=True, kw_only=True):
    rates: list[Rate]
    """The rates received and saved."""


class RefreshRates:
    """Fetch every rate of ``source`` and save them, all or none (each must be pivot-based)."""

    def __init__(self, source: RateSource, rates: RateRepository, clock: Clock, *, pivot: str = PIVOT) -> None:
        self._source = source
        self._rates = rates
        self._clock = clock
        self._pivot = pivot

    async def __call__(self) -> RefreshedRates:
        fetched = await self._source.fetch(self._clock.now())
        for rate in fetched:
            require_pivot_based(rate, self._pivot)
        await self._rates.save(fetched)
        return RefreshedRates(rates=fetched)
