"""FX rates and quotes on PostgreSQL (``core.fx_rates``, ``core.fx_quotes``; migration 0003).

Rates are ``numeric``, so a rate keeps every digit and its scale (``1.10`` stays ``1.10``);
times are ``timestamptz`` and come back in UTC. Each method is one statement on a pooled
connection, so it is atomic by itself: ``save`` stores all its rates or none, and
``mark_used`` is a compare-and-set (``UPDATE ... WHERE used_at IS NULL``) that exactly one of
any number of concurrent callers wins, whatever process they run in.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from psycopg import errors
from psycopg_pool import AsyncConnectionPool

from domain.fx import Quote, Rate
from domain.shared.errors import Conflict, InvalidInput
from domain.shared.money import Money

_RATE_COLUMNS = "base, quote, value, source, as_of, fetched_at"
_QUOTE_COLUMNS = (
    "id, source_amount, source_currency, target_currency, rate_base, rate_quote, rate_value, rate_source, "
    "rate_as_of, rate_fetched_at, markup_bps, converted_amount, fee_amount, total_amount, created_at, "
    "expires_at, used_at"
)
_BIGINT = range(-(2**63), 2**63)


class PostgresRates:
    """RateRepository over ``core.fx_rates``; a replaced value is kept in ``core.fx_rate_revisions``."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def save(self, rates: Sequence[Rate]) -> None:
        # One row per key (the last one wins, as with repeated saves): ON CONFLICT cannot
        # update a row twice in one statement.
        unique = list({(r.base, r.quote, r.source, r.as_of): r for r in rates}.values())
        if not unique:
            return
        async with self._pool.connection() as conn:
            await conn.execute(
                "INSERT INTO core.fx_rates (base, quote, value, source, as_of, fetched_at) "
                "SELECT * FROM unnest(%s::text[], %s::text[], %s::numeric[], %s::text[], %s::timestamptz[], "
                "%s::timestamptz[]) "
                "ON CONFLICT (base, quote, source, as_of) DO UPDATE "
                "SET value = EXCLUDED.value, fetched_at = EXCLUDED.fetched_at",
                (
                    [r.base for r in unique],
                    [r.quote for r in unique],
                    [r.value for r in unique],
                    [r.source for r in unique],
                    [r.as_of for r in unique],
                    [r.fetched_at for r in unique],
                ),
            )

    async def latest(self, base: str, quote: str, at: datetime | None = None) -> list[Rate]:
        return await self._rates(
            "SELECT DISTINCT ON (source) " + _RATE_COLUMNS + " FROM core.fx_rates "
            "WHERE base = %s AND quote = %s AND (%s::timestamptz IS NULL OR as_of <= %s) ORDER BY source, as_of DESC",
            (base, quote, at, at),
        )

    async def latest_from(self, base: str, at: datetime | None = None) -> list[Rate]:
        return await self._rates(
            "SELECT DISTINCT ON (quote, source) " + _RATE_COLUMNS + " FROM core.fx_rates "
            "WHERE base = %s AND (%s::timestamptz IS NULL OR as_of <= %s) ORDER BY quote, source, as_of DESC",
            (base, at, at),
        )

    async def _rates(self, query: str, params: tuple[Any, ...]) -> list[Rate]:
        async with self._pool.connection() as conn:
            cur = await conn.execute(query, params)  # type: ignore[arg-type]  # constant SQL
            rows = await cur.fetchall()
        return [
            Rate(base=base, quote=quote, value=value, source=source, as_of=_utc(as_of), fetched_at=_utc(fetched_at))
            for base, quote, value, source, as_of, fetched_at in rows
        ]


class PostgresQuotes:
    """QuoteRepository over ``core.fx_quotes``; only ``used_at`` ever changes, once."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def add(self, quote: Quote) -> None:
        row = _quote_row(quote)
        try:
            async with self._pool.connection() as conn:
                await conn.execute(
                    "INSERT INTO core.fx_quotes (" + _QUOTE_COLUMNS + ") VALUES (" + ", ".join(["%s"] * len(row)) + ")",
                    row,
                )
        except errors.UniqueViolation:
            raise Conflict(f"a quote with id {quote.id} exists", code="quote_exists") from None

    async def get(self, quote_id: str) -> Quote | None:
        async with self._pool.connection() as conn:
            cur = await conn.execute("SELECT " + _QUOTE_COLUMNS + " FROM core.fx_quotes WHERE id = %s", (quote_id,))
            row = await cur.fetchone()
        return None if row is None else _quote(row)

    async def mark_used(self, quote_id: str, used_at: datetime) -> bool:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "UPDATE core.fx_quotes SET used_at = %s WHERE id = %s AND used_at IS NULL", (used_at, quote_id)
            )
            return cur.rowcount == 1


def _quote_row(q: Quote) -> tuple[Any, ...]:
    target = q.total.currency
    if {q.converted.currency, q.fee.currency, q.rate.quote} != {target} or q.rate.base != q.source.currency:
        raise InvalidInput(f"quote {q.id}: its rate and amounts disagree on currencies", code="invalid_quote")
    amounts = (q.source.amount, q.converted.amount, q.fee.amount, q.total.amount)
    if any(amount not in _BIGINT for amount in amounts):
        raise InvalidInput(f"quote {q.id}: an amount is too large to store", code="amount_out_of_range")
    return (
        q.id, q.source.amount, q.source.currency, target, q.rate.base, q.rate.quote, q.rate.value, q.rate.source,
        q.rate.as_of, q.rate.fetched_at, q.markup_bps, q.converted.amount, q.fee.amount, q.total.amount,
        q.created_at, q.expires_at, q.used_at,
    )


def _quote(row: tuple[Any, ...]) -> Quote:
    (id_, source_amount, source_currency, target, rate_base, rate_quote, rate_value, rate_source, rate_as_of,
     rate_fetched_at, markup_bps, converted, fee, total, created_at, expires_at, used_at) = row
    return Quote(
        id=id_,
        source=Money(amount=source_amount, currency=source_currency),
        rate=Rate(base=rate_base, quote=rate_quote, value=rate_value, source=rate_source, as_of=_utc(rate_as_of),
                  fetched_at=_utc(rate_fetched_at)),
        markup_bps=markup_bps,
        converted=Money(amount=converted, currency=target),
        fee=Money(amount=fee, currency=target),
        total=Money(amount=total, currency=target),
        created_at=_utc(created_at),
        expires_at=_utc(expires_at),
        used_at=None if used_at is None else _utc(used_at),
    )


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)
