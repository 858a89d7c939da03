"""Quote a conversion with the stored rates, the caller's markup and a time to live."""

from __future__ import annotations

from datetime import timedelta

import msgspec

from application.ports.clock import Clock, IdGenerator
from application.ports.fx import QuoteRepository, RateRepository
from domain.fx import PIVOT, Quote, Rate, RateBook, create_quote
from domain.shared.money import Money, Rounding


class NewQuote(msgspec.Struct, frozen=True, kw_only=True):
    source_amount: int
    """In minor units of ``source_currency``, e.g. the merchant amount."""
    source_currency: str
    target_currency: str
    """The currency charged, e.g. the card's."""
    markup_bps: int
    """The program's FX markup in basis points (0 to 10,000)."""
    ttl_seconds: int
    """How long the quote can be used."""
    rounding: Rounding = Rounding.HALF_EVEN
    """Rounding of the converted amount."""
    fee_rounding: Rounding = Rounding.HALF_EVEN
    """Rounding of the markup fee."""


class CreateQuote:
    """Prices quotes from the latest stored rates; rates older than ``max_rate_age`` are refused."""

    def __init__(
        self,
        rates: RateRepository,
        quotes: QuoteRepository,
        clock: Clock,
        ids: IdGenerator,
        *,
        max_rate_age: timedelta,
        pivot: str = PIVOT,
    ) -> None:
        self._rates = rates
        self._quotes = quotes
        self._clock = clock
        self._ids = ids
        self._max_rate_age = max_rate_age
        self._pivot = pivot

    async def __call__(self, cmd: NewQuote) -> Quote:
        source = Money(amount=cmd.source_amount, currency=cmd.source_currency)
        book = RateBook(
            await self._pivot_rates({cmd.source_currency, cmd.target_currency}),
            max_age=self._max_rate_age,
            pivot=self._pivot,
        )
        quote = create_quote(
            quote_id=self._ids.new_id(),
            source=source,
            target_currency=cmd.target_currency,
            book=book,
            markup_bps=cmd.markup_bps,
            now=self._clock.now(),
            ttl=timedelta(seconds=cmd.ttl_seconds),
            rounding=cmd.rounding,
            fee_rounding=cmd.fee_rounding,
        )
        await self._quotes.add(quote)
        return quote

    async def _pivot_rates(self, currencies: set[str]) -> list[Rate]:
        """The newest pivot->X rate of each source, for each currency other than the pivot."""
        rates: list[Rate] = []
        for code in sorted(currencies - {self._pivot}):
            rates += await self._rates.latest(self._pivot, code)
        return rates
