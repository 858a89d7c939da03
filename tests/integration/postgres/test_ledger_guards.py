"""The database itself refuses unbalanced entries, unexplained balances and edits of history."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg import errors


@pytest.fixture
def accounts(database):
    a, b = f"g-{uuid.uuid4().hex[:8]}-a", f"g-{uuid.uuid4().hex[:8]}-b"
    with psycopg.connect(database.core_url) as conn:
        for account in (a, b):
            conn.execute("INSERT INTO core.ledger_accounts (id, currency, name, created_at) VALUES (%s, 'USD', 'x', now())", (account,))
    return a, b


def entry(account, seq, transfer, d_debit, d_credit, debits, credits):
    return (account, seq, transfer, "single", d_debit, d_credit, 0, 0, debits, credits, 0, 0)


INSERT = (
    'INSERT INTO core.ledger_entries (account_id, account_seq, transfer_id, event, "timestamp", d_debits_posted, '
    "d_credits_posted, d_debits_pending, d_credits_pending, debits_posted, credits_posted, debits_pending, credits_pending) "
    "VALUES (%s, %s, %s, %s, now(), %s, %s, %s, %s, %s, %s, %s, %s)"
)


def test_unbalanced_entries_are_refused(database, accounts):
    a, b = accounts
    with psycopg.connect(database.core_url) as conn, pytest.raises(errors.CheckViolation, match="unbalanced"):
        conn.execute(INSERT, entry(a, 1, "t-unbalanced", 100, 0, 100, 0))


def test_balances_without_entries_are_refused(database, accounts):
    a, _ = accounts
    with psycopg.connect(database.core_url) as conn, pytest.raises(errors.CheckViolation, match="do not match"):
        conn.execute("UPDATE core.ledger_accounts SET credits_posted = 1000000, entry_count = entry_count + 1 WHERE id = %s", (a,))


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE core.ledger_transfers SET amount = amount + 1",
        "DELETE FROM core.ledger_transfers",
        "UPDATE core.ledger_entries SET d_debits_posted = 0",
        "DELETE FROM core.ledger_entries",
        "DELETE FROM core.ledger_accounts",
        "UPDATE core.ledger_accounts SET currency = 'EUR'",
        "UPDATE core.ledger_holds SET amount = 1",
    ],
)
def test_history_cannot_be_edited_by_the_application(database, statement):
    with psycopg.connect(database.core_url) as conn, pytest.raises(errors.InsufficientPrivilege):
        conn.execute(statement)


# Both sides of n transfers of 1 from %(a)s to %(b)s, as entries numbered 1..n on each account.
_SERIES = (
    'INSERT INTO core.ledger_entries (account_id, account_seq, transfer_id, event, "timestamp", d_debits_posted, '
    "d_credits_posted, d_debits_pending, d_credits_pending, debits_posted, credits_posted, debits_pending, credits_pending) "
    "SELECT side.account, i, %(prefix)s || i, 'single', now(), side.d, 1 - side.d, 0, 0, side.d * i, (1 - side.d) * i, 0, 0 "
    "FROM generate_series(1, %(n)s) AS i, (VALUES (%(a)s, 1), (%(b)s, 0)) AS side(account, d)"
)
_POINT = ("UPDATE core.ledger_accounts SET entry_count = %(seq)s, debits_posted = %(debits)s, credits_posted = %(credits)s "
          "WHERE id = %(id)s")


def test_an_account_pointing_before_its_latest_entry_is_refused(database, accounts):
    a, b = accounts
    with psycopg.connect(database.core_url) as conn:
        conn.execute(_SERIES, {"a": a, "b": b, "n": 2, "prefix": "t-later-"})
        conn.commit()
        # entry 1's balances exactly, but entry 2 exists: the balances are stale
        with pytest.raises(errors.CheckViolation, match="do not match"):
            conn.execute(_POINT, {"seq": 1, "debits": 1, "credits": 0, "id": a})
        conn.rollback()
        conn.execute(_POINT, {"seq": 2, "debits": 2, "credits": 0, "id": a})  # the latest: accepted


def test_the_account_guard_looks_entries_up_by_key_however_large_the_ledger(database):
    """The guard on balance updates must not read all of ledger_entries (it once did, through a
    hashed subplan, as soon as a statement updated a few dozen accounts): every ledger write would
    cost time in proportion to the ledger's size."""
    prefix, pairs, transfers = f"scan-{uuid.uuid4().hex[:8]}-", 20, 250
    with psycopg.connect(database.core_url) as conn:
        conn.execute("INSERT INTO core.ledger_accounts (id, currency, name, created_at) "
                     "SELECT %s || side || k, 'USD', 'x', now() FROM generate_series(1, %s) k, (VALUES ('a'), ('b')) s(side)",
                     (prefix, pairs))
        conn.execute(  # pair k: transfers of 1 from a<k> to b<k>, entries 1..n on each side
            'INSERT INTO core.ledger_entries (account_id, account_seq, transfer_id, event, "timestamp", d_debits_posted, '
            "d_credits_posted, d_debits_pending, d_credits_pending, debits_posted, credits_posted, debits_pending, "
            "credits_pending) SELECT %(p)s || side.s || k, i, %(p)s || k || '-' || i, 'single', now(), side.d, 1 - side.d, "
            "0, 0, side.d * i, (1 - side.d) * i, 0, 0 FROM generate_series(1, %(pairs)s) k, generate_series(1, %(n)s) i, "
            "(VALUES ('a', 1), ('b', 0)) AS side(s, d)", {"p": prefix, "pairs": pairs, "n": transfers})
    with psycopg.connect(database.admin_url, autocommit=True) as admin:
        admin.execute("ANALYZE core.ledger_entries")

        def scans() -> tuple[int, int]:
            admin.execute("SELECT pg_stat_clear_snapshot()")
            return admin.execute("SELECT seq_scan, idx_scan FROM pg_stat_all_tables "
                                 "WHERE relid = 'core.ledger_entries'::regclass").fetchone()

        seq_before, idx_before = scans()
        with psycopg.connect(database.core_url) as conn:
            conn.execute("UPDATE core.ledger_accounts SET entry_count = %(n)s, "
                         "debits_posted = CASE WHEN id LIKE %(a)s THEN %(n)s ELSE 0 END, "
                         "credits_posted = CASE WHEN id LIKE %(b)s THEN %(n)s ELSE 0 END WHERE id LIKE %(all)s",
                         {"n": transfers, "a": f"{prefix}a%", "b": f"{prefix}b%", "all": f"{prefix}%"})
            conn.commit()
            conn.execute("SELECT pg_stat_force_next_flush()")
        seq_after, idx_after = scans()
    assert seq_after == seq_before
    assert idx_after > idx_before  # the counters do move: the guard ran, by index
