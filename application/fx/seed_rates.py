"""Give an empty rate book its first rates (in development: the bundled ECB snapshot)."""

from __future__ import annotations

from application.fx.refresh_rates import RefreshedRates, RefreshRates
from application.ports.clock import Clock
from application.ports.fx import RateRepository, RateSource
from domain.fx import PIVOT


class SeedRates:
    """Refresh from ``source`` only when no rate from the pivot is stored at all.

    Concurrent seeders (several workers starting together) are harmless: saving the same
    rates again replaces them with themselves.
    """

    def __init__(self, source: RateSource, rates: RateRepository, clock: Clock, *, pivot: str = PIVOT) -> None:
        self._rates = rates
        self._pivot = pivot
        self._refresh = RefreshRates(source, rates, clock, pivot=pivot)

    async def __call__(self) -> RefreshedRates | None:
        """The rates loaded, or None when the book already had some."""
        if await self._rates.latest_from(self._pivot):
            return None
        return await self._refresh()
