"""Use a quote: at most once, and only before it expires."""

from __future__ import annotations

from application.ports.clock import Clock
from application.ports.fx import QuoteRepository
from domain.fx import Quote
from domain.shared.errors import Conflict, NotFound


class UseQuote:
    def __init__(self, quotes: QuoteRepository, clock: Clock) -> None:
        self._quotes = quotes
        self._clock = clock

    async def __call__(self, quote_id: str) -> Quote:
        """The quote, now used. ``quote_not_found``, ``quote_expired`` or ``quote_already_used``
        (also when a concurrent call used it first)."""
        quote = await self._quotes.get(quote_id)
        if quote is None:
            raise NotFound(f"no quote {quote_id!r}", code="quote_not_found")
        now = self._clock.now()
        used = quote.use(now)
        if not await self._quotes.mark_used(quote_id, now):
            raise Conflict(f"quote {quote_id} was already used", code="quote_already_used")
        return used
