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
