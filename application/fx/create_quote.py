"""Quote a conversion with the stored rates, the caller's markup and a time to live.

A quote may carry an id chosen by the client, which is then the request's idempotency key (as
transfer ids are in the ledger): a repeat with the same id, source amount and currencies gets
the first quote back, unchanged and without pricing again (even once it is used or expired);
the same id with a different amount or currency fails with ``idempotency_conflict``. The
markup, time to live and roundings are the caller's policy, not the client's request, so they
take no part in that comparison. Without an id, every call prices a new quote.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import msgspec

from application.ports.clock import Clock, IdGenerator
from application.ports.fx import QuoteRepository, RateRepository
from domain.fx import PIVOT, Quote, Rate, RateBook, create_quote
from domain.shared.errors import Conflict
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
    quote_id: str | None = None
    """The client's id for the quote, its idempotency key; a new time-ordered id when None."""


class CreatedQuote(msgspec.Struct, frozen=True, kw_only=True):
    quote: Quote
    created: bool
    """False when ``quote_id`` named an existing quote for the same request: it is that quote."""


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
        return (await self.create(cmd)).quote

    async def create(self, cmd: NewQuote) -> CreatedQuote:
        """The new quote, or the one a repeated ``quote_id`` names (``idempotency_conflict`` if it differs)."""
        if cmd.quote_id is not None:
            earlier = await self._quotes.get(cmd.quote_id)
            if earlier is not None:
                return CreatedQuote(quote=_same_request(earlier, cmd), created=False)
        source = Money(amount=cmd.source_amount, currency=cmd.source_currency)
        now = self._clock.now()
        book = RateBook(
            await self._pivot_rates({cmd.source_currency, cmd.target_currency}, now),
            max_age=self._max_rate_age,
            pivot=self._pivot,
        )
        quote = create_quote(
            quote_id=cmd.quote_id or self._ids.new_id(),
            source=source,
            target_currency=cmd.target_currency,
            book=book,
            markup_bps=cmd.markup_bps,
            now=now,
            ttl=timedelta(seconds=cmd.ttl_seconds),
            rounding=cmd.rounding,
            fee_rounding=cmd.fee_rounding,
        )
        try:
            await self._quotes.add(quote)
        except Conflict as exc:  # a concurrent request with the same id stored its quote first
            earlier = await self._quotes.get(quote.id) if exc.code == "quote_exists" else None
            if earlier is None or cmd.quote_id is None:
                raise
            return CreatedQuote(quote=_same_request(earlier, cmd), created=False)
        return CreatedQuote(quote=quote, created=True)

    async def _pivot_rates(self, currencies: set[str], now: datetime) -> list[Rate]:
        """The newest pivot->X rate in effect of each source, for each currency other than the pivot."""
        rates: list[Rate] = []
        for code in sorted(currencies - {self._pivot}):
            rates += await self._rates.latest(self._pivot, code, now)
        return rates


def _same_request(earlier: Quote, cmd: NewQuote) -> Quote:
    asked = (cmd.source_amount, cmd.source_currency, cmd.target_currency)
    stored = (earlier.source.amount, earlier.source_currency, earlier.target_currency)
    if asked != stored:
        raise Conflict(
            f"quote {earlier.id} exists for {stored[0]} {stored[1]} -> {stored[2]}, "
            f"not {asked[0]} {asked[1]} -> {asked[2]}",
            code="idempotency_conflict",
        )
    return earlier
