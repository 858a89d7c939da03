from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from domain.fx import Quote, Rate


class RateSource(Protocol):
    """A feed of exchange rates, such as the ECB's daily reference rates."""

    async def fetch(self, fetched_at: datetime) -> list[Rate]:
        """The feed's latest rates, each stamped with ``fetched_at``."""
        ...


class RateRepository(Protocol):
    """Every rate ever received, by pair, source and ``as_of``."""

    async def save(self, rates: Sequence[Rate]) -> None:
        """Store rates; one with the same (base, quote, source, as_of) as a stored one replaces it."""
        ...

    async def latest(self, base: str, quote: str, at: datetime | None = None) -> list[Rate]:
        """For the pair, the rate with the newest ``as_of`` of each source, ordered by source.

        With ``at``, only rates in effect then count (``as_of <= at``), so a rate scheduled for
        later does not hide the one in effect now.
        """
        ...

    async def latest_from(self, base: str, at: datetime | None = None) -> list[Rate]:
        """For every currency quoted against ``base``, ``latest(base, quote, at)``; ordered by quote, then source."""
        ...


class QuoteRepository(Protocol):
    """Quotes, and the single use of each."""

    async def add(self, quote: Quote) -> None:
        """Store a new quote; ``Conflict`` with code ``quote_exists`` when the id is taken."""
        ...

    async def get(self, quote_id: str) -> Quote | None: ...

    async def mark_used(self, quote_id: str, used_at: datetime) -> bool:
        """Atomically set ``used_at`` if the quote exists and is unused (compare-and-set).

        True when this call used it; False when it was already used or does not exist. Of
        concurrent calls for one quote, exactly one gets True.
        """
        ...
