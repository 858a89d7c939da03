"""The database keeps FX history on its own: no deletes, replaced rates kept, a quote used once."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest
from psycopg import errors

from adapters.postgres.database import Database
from adapters.postgres.fx import PostgresRates
from domain.fx import Rate


def unique_as_of() -> datetime:
    """A rate time no other test uses, so the rows here are this test's own."""
    return datetime(2020, 1, 1, tzinfo=UTC) + timedelta(microseconds=uuid.uuid4().int % 10**15)


def insert_quote(conn: psycopg.Connection, quote_id: str) -> None:
    conn.execute(
        "INSERT INTO core.fx_quotes (id, source_amount, source_currency, target_currency, rate_base, rate_quote, "
        "rate_value, rate_source, rate_as_of, rate_fetched_at, markup_bps, converted_amount, fee_amount, "
        "total_amount, created_at, expires_at) VALUES (%s, 100, 'EUR', 'USD', 'EUR', 'USD', 1.1587, 'ECB', now(), "
        "now(), 200, 116, 2, 118, now(), now() + interval '5 minutes')",
        (quote_id,),
    )


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM core.fx_rates",
        "DELETE FROM core.fx_quotes",
        "DELETE FROM core.fx_rate_revisions",
        "UPDATE core.fx_rate_revisions SET value = 1",
        "SELECT * FROM core.fx_rate_revisions",
        "UPDATE core.fx_rates SET source = 'manual'",
        "UPDATE core.fx_rates SET as_of = now()",
        "UPDATE core.fx_quotes SET total_amount = 0",
        "UPDATE core.fx_quotes SET expires_at = now() + interval '1 day'",
    ],
)
def test_the_application_cannot_rewrite_fx_history(database, statement):
    with psycopg.connect(database.core_url) as conn, pytest.raises(errors.InsufficientPrivilege):
        conn.execute(statement)


def test_a_quote_is_used_once_even_by_hand(database):
    quote_id = f"guard-{uuid.uuid4()}"
    with psycopg.connect(database.core_url, autocommit=True) as conn:
        insert_quote(conn, quote_id)
        conn.execute("UPDATE core.fx_quotes SET used_at = now() WHERE id = %s", (quote_id,))
        for change in ("now() + interval '1 second'", "NULL"):
            with pytest.raises(errors.CheckViolation, match="used once"):
                conn.execute(f"UPDATE core.fx_quotes SET used_at = {change} WHERE id = %s", (quote_id,))


def test_quote_amounts_must_reconcile(database):
    with psycopg.connect(database.core_url) as conn, pytest.raises(errors.CheckViolation):
        conn.execute(
            "INSERT INTO core.fx_quotes (id, source_amount, source_currency, target_currency, rate_base, rate_quote, "
            "rate_value, rate_source, rate_as_of, rate_fetched_at, markup_bps, converted_amount, fee_amount, "
            "total_amount, created_at, expires_at) VALUES (%s, 100, 'EUR', 'USD', 'EUR', 'USD', 1.1587, 'ECB', "
            "now(), now(), 200, 116, 2, 119, now(), now() + interval '5 minutes')",
            (f"guard-{uuid.uuid4()}",),
        )


def test_a_replaced_rate_is_kept_as_a_revision(database):
    as_of = unique_as_of()
    first = Rate(base="EUR", quote="MUR", value=Decimal("53.71"), source="manual", as_of=as_of, fetched_at=as_of)
    corrected = Rate(base="EUR", quote="MUR", value=Decimal("53.17"), source="manual", as_of=as_of,
                     fetched_at=as_of + timedelta(minutes=3))

    async def save_twice() -> None:
        db = Database(database.core_url, min_size=1, max_size=1)
        await db.open()
        try:
            rates = PostgresRates(db.pool)
            await rates.save([first])
            await rates.save([corrected])
            await rates.save([corrected])  # the same again: nothing to keep
            assert corrected in await rates.latest("EUR", "MUR")
        finally:
            await db.close()

    asyncio.run(save_twice())
    with psycopg.connect(database.admin_url) as conn:
        revisions = conn.execute(
            "SELECT value, fetched_at FROM core.fx_rate_revisions WHERE quote = 'MUR' AND as_of = %s", (as_of,)
        ).fetchall()
    assert revisions == [(Decimal("53.71"), as_of)]
