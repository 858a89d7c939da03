"""Operations set a rate by hand: a currency the feed lacks (KWD, BHD, JOD), or an override.

A manual rate wins over a feed rate with the same ``as_of`` and loses to any newer one
(the precedence rule of ``domain.fx.rates``).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import msgspec

from application.ports.clock import Clock
from application.ports.fx import RateRepository
from domain.fx import MANUAL_SOURCE, PIVOT, Rate, require_pivot_based


class SetRate(msgspec.Struct, frozen=True, kw_only=True):
    base: str
    """Must be the pivot (EUR by default): 1 ``base`` is worth ``value`` ``quote``."""
    quote: str
    value: Decimal
    as_of: datetime | None = None
    """When the rate takes effect; now when omitted."""


class SetManualRate:
    def __init__(self, rates: RateRepository, clock: Clock, *, pivot: str = PIVOT) -> None:
        self._rates = rates
        self._clock = clock
        self._pivot = pivot

    async def __call__(self, cmd: SetRate) -> Rate:
        now = self._clock.now()
        rate = Rate(
            base=cmd.base,
            quote=cmd.quote,
            value=cmd.value,
            source=MANUAL_SOURCE,
            as_of=cmd.as_of or now,
            fetched_at=now,
        )
        require_pivot_based(rate, self._pivot)
        await self._rates.save([rate])
        return rate
