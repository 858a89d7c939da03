"""Opening accounts and the balance limits of flagged accounts."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from domain.ledger import AccountFlags, Balances, NewAccount, open_account
from domain.ledger.model import Account
from domain.shared.errors import DomainError

NOW = datetime(2030, 1, 1, tzinfo=UTC)
DEBIT_LIMITED = AccountFlags(debits_must_not_exceed_credits=True)
CREDIT_LIMITED = AccountFlags(credits_must_not_exceed_debits=True)


def test_open_account_starts_with_zero_balances() -> None:
    account = open_account(
        NewAccount(
            id="a1", currency="EUR", name="Alice", flags=DEBIT_LIMITED, overdraft_limit=500, metadata={"k": "v"}
        ),
        NOW,
    )

    assert account == Account(
        id="a1",
        currency="EUR",
        name="Alice",
        flags=DEBIT_LIMITED,
        overdraft_limit=500,
        metadata={"k": "v"},
        created_at=NOW,
        balances=Balances(),
        entry_count=0,
    )


def test_accounts_are_frozen() -> None:
    account = open_account(NewAccount(id="a1", currency="EUR", name="Alice"), NOW)

    with pytest.raises(AttributeError):
        account.name = "Bob"  # type: ignore[misc]
    assert msgspec.structs.replace(account, name="Bob").name == "Bob"


def test_both_flags_are_mutually_exclusive() -> None:
    flags = AccountFlags(debits_must_not_exceed_credits=True, credits_must_not_exceed_debits=True)

    with pytest.raises(DomainError) as error:
        open_account(NewAccount(id="a1", currency="EUR", name="x", flags=flags), NOW)
    assert error.value.code == "flags_are_mutually_exclusive"


def test_overdraft_limit_must_not_be_negative() -> None:
    with pytest.raises(DomainError) as error:
        open_account(NewAccount(id="a1", currency="EUR", name="x", flags=DEBIT_LIMITED, overdraft_limit=-1), NOW)
    assert error.value.code == "overdraft_limit_must_not_be_negative"


def test_zero_overdraft_limit_is_allowed() -> None:
    account = open_account(NewAccount(id="a1", currency="EUR", name="x", flags=CREDIT_LIMITED, overdraft_limit=0), NOW)

    assert account.overdraft_limit == 0


@pytest.mark.parametrize("limit", [0, 100])
def test_overdraft_limit_requires_a_flag(limit: int) -> None:
    with pytest.raises(DomainError) as error:
        open_account(NewAccount(id="a1", currency="EUR", name="x", overdraft_limit=limit), NOW)
    assert error.value.code == "overdraft_limit_requires_flag"


def _account(flags: AccountFlags, overdraft: int | None, **balances: int) -> Account:
    return Account(
        id="a",
        currency="USD",
        name="a",
        flags=flags,
        overdraft_limit=overdraft,
        created_at=NOW,
        balances=Balances(**balances),
    )


def test_debit_limit_counts_posted_pending_and_overdraft() -> None:
    account = _account(DEBIT_LIMITED, 50, credits_posted=100, debits_posted=30, debits_pending=20, credits_pending=999)

    assert account.allows_debit(100)  # 30 + 20 + 100 == 100 + 50
    assert not account.allows_debit(101)
    assert account.allows_credit(10**9)  # credits are unconstrained


def test_credit_limit_counts_posted_pending_and_overdraft() -> None:
    account = _account(
        CREDIT_LIMITED, None, debits_posted=100, credits_posted=30, credits_pending=20, debits_pending=999
    )

    assert account.allows_credit(50)
    assert not account.allows_credit(51)
    assert account.allows_debit(10**9)


def test_unflagged_account_has_no_limit() -> None:
    account = _account(AccountFlags(), None)

    assert account.allows_debit(10**12)
    assert account.allows_credit(10**12)
