"""Example tests for the ledger engine: every result code at its boundary, chains, expiry, entries."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest

from domain.ledger import (
    Account,
    AccountFlags,
    Balances,
    BatchOutcome,
    CreateTransfer,
    Hold,
    IncompleteSnapshot,
    LedgerItem,
    LedgerSnapshot,
    ResolvePending,
    ReverseTransfer,
    Transfer,
    execute_batch,
    expire_due_holds,
    referenced_ids,
)
from domain.ledger.model import Entry
from domain.ledger.results import TRANSFER_FAILURE_CODES

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
DEBIT_LIMITED = AccountFlags(debits_must_not_exceed_credits=True)
CREDIT_LIMITED = AccountFlags(credits_must_not_exceed_debits=True)


class Book:
    """A tiny in-memory store: hands the engine everything and applies each outcome."""

    def __init__(self, *accounts: Account) -> None:
        self.accounts = {account.id: account for account in accounts}
        self.transfers: dict[str, Transfer] = {}
        self.holds: dict[str, Hold] = {}
        self.reversals: dict[str, str] = {}
        self.entries: list[Entry] = []

    def snapshot(self) -> LedgerSnapshot:
        return LedgerSnapshot(
            accounts=dict(self.accounts),
            transfers=dict(self.transfers),
            holds=dict(self.holds),
            reversals=dict(self.reversals),
        )

    def run(self, *items: LedgerItem, at: datetime = NOW) -> BatchOutcome:
        return self.apply(execute_batch(items, self.snapshot(), at))

    def sweep(self, at: datetime) -> BatchOutcome:
        return self.apply(expire_due_holds(self.snapshot(), at))

    def apply(self, outcome: BatchOutcome) -> BatchOutcome:
        self.accounts.update(outcome.accounts)
        for transfer in outcome.transfers:
            self.transfers[transfer.id] = transfer
            if transfer.reverses_id is not None:
                self.reversals[transfer.reverses_id] = transfer.id
        for hold in [*outcome.holds_created, *outcome.holds_resolved]:
            self.holds[hold.transfer_id] = hold
        self.entries.extend(outcome.entries)
        return outcome

    def code(self, *items: LedgerItem, at: datetime = NOW) -> str | None:
        """Run one batch and return the last item's result code (``None`` when it succeeded)."""
        return self.run(*items, at=at).results[-1].code

    def balances(self, account_id: str) -> Balances:
        return self.accounts[account_id].balances


def account(
    account_id: str,
    currency: str = "USD",
    flags: AccountFlags = AccountFlags(),
    overdraft: int | None = None,
    **balances: int,
) -> Account:
    return Account(
        id=account_id,
        currency=currency,
        name=account_id,
        flags=flags,
        overdraft_limit=overdraft,
        created_at=NOW,
        balances=Balances(**balances),
    )


def transfer(tid: str, debit: str = "a", credit: str = "b", amount: int = 10, **fields: Any) -> CreateTransfer:
    return CreateTransfer(
        id=tid, debit_account_id=debit, credit_account_id=credit, amount=amount, currency="USD", **fields
    )


def pending(tid: str, amount: int = 10, timeout: int | None = None, **fields: Any) -> CreateTransfer:
    return transfer(tid, amount=amount, pending=True, timeout_seconds=timeout, **fields)


def post(tid: str, pending_id: str, amount: int | None = None, **fields: Any) -> ResolvePending:
    return ResolvePending(id=tid, pending_id=pending_id, action="post", amount=amount, **fields)


def void(tid: str, pending_id: str, amount: int | None = None, **fields: Any) -> ResolvePending:
    return ResolvePending(id=tid, pending_id=pending_id, action="void", amount=amount, **fields)


def reverse(tid: str, original_id: str, **fields: Any) -> ReverseTransfer:
    return ReverseTransfer(id=tid, original_id=original_id, **fields)


@pytest.fixture
def book() -> Book:
    """Two unconstrained USD accounts ``a`` and ``b`` plus a EUR account ``e``."""
    return Book(account("a"), account("b"), account("e", "EUR"))


def statuses(outcome: BatchOutcome) -> list[tuple[str, str | None]]:
    return [(result.status, result.code) for result in outcome.results]


def deltas(entry: Entry) -> tuple[int, int, int, int]:
    return entry.d_debits_posted, entry.d_credits_posted, entry.d_debits_pending, entry.d_credits_pending


# --- Shape checks --------------------------------------------------------------------------


def test_a_single_transfer_moves_posted_money(book: Book) -> None:
    outcome = book.run(transfer("t1", amount=25, code="purchase", metadata={"m": "1"}))

    assert statuses(outcome) == [("created", None)]
    assert book.balances("a") == Balances(debits_posted=25)
    assert book.balances("b") == Balances(credits_posted=25)
    assert outcome.transfers == [
        Transfer(
            id="t1",
            debit_account_id="a",
            credit_account_id="b",
            amount=25,
            currency="USD",
            code="purchase",
            metadata={"m": "1"},
            kind="single",
            timestamp=NOW,
        )
    ]


@pytest.mark.parametrize("amount", [0, -1])
def test_amount_must_be_positive(book: Book, amount: int) -> None:
    assert book.code(transfer("t1", amount=amount)) == "amount_must_be_positive"
    assert book.code(transfer("t1", amount=1)) is None


def test_accounts_must_be_different(book: Book) -> None:
    assert book.code(transfer("t1", "a", "a")) == "accounts_must_be_different"


def test_timeout_requires_pending(book: Book) -> None:
    assert book.code(transfer("t1", timeout_seconds=5)) == "timeout_requires_pending"


@pytest.mark.parametrize("timeout", [0, -5])
def test_timeout_must_be_positive(book: Book, timeout: int) -> None:
    assert book.code(pending("p1", timeout=timeout)) == "timeout_must_be_positive"
    assert book.code(pending("p1", timeout=1)) is None


def test_timeout_too_large(book: Book) -> None:
    assert book.code(pending("p1", timeout=2**32)) == "timeout_too_large"
    assert book.code(pending("p1", timeout=2**32 - 1)) is None


# --- Accounts and limits -------------------------------------------------------------------


def test_debit_account_not_found_is_checked_first(book: Book) -> None:
    assert book.code(transfer("t1", "nope", "nada")) == "debit_account_not_found"


def test_credit_account_not_found(book: Book) -> None:
    assert book.code(transfer("t1", "a", "nope")) == "credit_account_not_found"


def test_currency_mismatch_with_either_account(book: Book) -> None:
    eur = msgspec.structs.replace(transfer("t1"), currency="EUR")

    assert book.code(eur) == "currency_mismatch"  # both accounts are USD
    assert book.code(transfer("t2", "a", "e")) == "currency_mismatch"  # credit account is EUR
    assert book.code(transfer("t3", "e", "a")) == "currency_mismatch"  # debit account is EUR


def test_insufficient_funds_at_exactly_the_balance() -> None:
    book = Book(account("a", flags=DEBIT_LIMITED, credits_posted=100), account("b"))

    assert book.code(transfer("t1", amount=100)) is None
    assert book.code(transfer("t2", amount=1)) == "insufficient_funds"
    assert book.balances("a") == Balances(credits_posted=100, debits_posted=100)


def test_insufficient_funds_counts_the_overdraft() -> None:
    book = Book(account("a", flags=DEBIT_LIMITED, overdraft=50, credits_posted=100), account("b"))

    assert book.code(transfer("t1", amount=151)) == "insufficient_funds"
    assert book.code(transfer("t1", amount=150)) is None
    assert book.code(transfer("t2", amount=1)) == "insufficient_funds"


def test_insufficient_funds_counts_pending_debits() -> None:
    book = Book(account("a", flags=DEBIT_LIMITED, credits_posted=100), account("b"))
    book.run(pending("p1", amount=60))

    assert book.code(transfer("t1", amount=41)) == "insufficient_funds"
    assert book.code(pending("p2", amount=41)) == "insufficient_funds"
    assert book.code(transfer("t1", amount=40)) is None


def test_pending_credits_do_not_count_as_funds() -> None:
    book = Book(account("a", flags=DEBIT_LIMITED), account("b"))
    book.run(transfer("p1", "b", "a", amount=50, pending=True))

    assert book.code(transfer("t1", amount=1)) == "insufficient_funds"


def test_exceeds_debits_at_exactly_the_limit() -> None:
    book = Book(account("a"), account("b", flags=CREDIT_LIMITED, overdraft=5, debits_posted=20, credits_pending=10))

    assert book.code(transfer("t1", amount=16)) == "exceeds_debits"
    assert book.code(transfer("t1", amount=15)) is None
    assert book.code(pending("p1", amount=1)) == "exceeds_debits"


def test_debit_side_limit_is_checked_before_credit_side() -> None:
    book = Book(account("a", flags=DEBIT_LIMITED), account("b", flags=CREDIT_LIMITED))

    assert book.code(transfer("t1")) == "insufficient_funds"


# --- Two-phase transfers -------------------------------------------------------------------


def test_pending_reserves_and_full_post_moves_it(book: Book) -> None:
    created = book.run(pending("p1", amount=30, timeout=60))
    assert book.balances("a") == Balances(debits_pending=30)
    assert book.balances("b") == Balances(credits_pending=30)
    assert created.holds_created == [
        Hold(
            transfer_id="p1",
            debit_account_id="a",
            credit_account_id="b",
            amount=30,
            currency="USD",
            expires_at=NOW + timedelta(seconds=60),
        )
    ]
    assert created.transfers[0].expires_at == NOW + timedelta(seconds=60)

    later = NOW + timedelta(seconds=10)
    posted = book.run(post("x1", "p1"), at=later)

    assert statuses(posted) == [("created", None)]
    assert book.balances("a") == Balances(debits_posted=30)
    assert book.balances("b") == Balances(credits_posted=30)
    assert posted.transfers[0].kind == "post_pending"
    assert posted.transfers[0].amount == 30
    assert posted.transfers[0].pending_id == "p1"
    assert posted.holds_resolved == [
        msgspec.structs.replace(created.holds_created[0], state="posted", resolved_by="x1", resolved_at=later)
    ]


def test_partial_post_releases_the_rest(book: Book) -> None:
    book.run(pending("p1", amount=30, code="auth"))
    outcome = book.run(post("x1", "p1", amount=12))

    assert book.balances("a") == Balances(debits_posted=12)
    assert book.balances("b") == Balances(credits_posted=12)
    assert outcome.transfers[0].amount == 12
    assert outcome.transfers[0].code == "auth"
    assert [deltas(entry) for entry in outcome.entries] == [(12, 0, -30, 0), (0, 12, 0, -30)]


def test_void_releases_everything(book: Book) -> None:
    book.run(pending("p1", amount=30))
    outcome = book.run(void("v1", "p1"))

    assert book.balances("a") == Balances()
    assert book.balances("b") == Balances()
    assert outcome.transfers[0].kind == "void_pending"
    assert outcome.transfers[0].amount == 30
    assert outcome.holds_resolved[0].state == "voided"


def test_exceeds_pending_amount_by_one_unit(book: Book) -> None:
    book.run(pending("p1", amount=30))

    assert book.code(post("x1", "p1", amount=31)) == "exceeds_pending_amount"
    assert book.code(post("x1", "p1", amount=30)) is None


def test_partial_post_amount_must_be_positive(book: Book) -> None:
    book.run(pending("p1", amount=30))

    assert book.code(post("x1", "p1", amount=0)) == "amount_must_be_positive"


def test_void_amount_must_match(book: Book) -> None:
    book.run(pending("p1", amount=30))

    assert book.code(void("v1", "p1", amount=29)) == "void_amount_must_match"
    assert book.code(void("v1", "p1", amount=31)) == "void_amount_must_match"
    assert book.code(void("v1", "p1", amount=30)) is None


def test_pending_transfer_not_found(book: Book) -> None:
    assert book.code(post("x1", "nope")) == "pending_transfer_not_found"


def test_pending_transfer_not_pending(book: Book) -> None:
    book.run(transfer("t1"))

    assert book.code(post("x1", "t1")) == "pending_transfer_not_pending"


def test_pending_transfer_already_posted(book: Book) -> None:
    book.run(pending("p1"), post("x1", "p1", amount=5))

    assert book.code(post("x2", "p1")) == "pending_transfer_already_posted"
    assert book.code(void("v1", "p1")) == "pending_transfer_already_posted"


def test_pending_transfer_already_voided(book: Book) -> None:
    book.run(pending("p1"), void("v1", "p1"))

    assert book.code(post("x1", "p1")) == "pending_transfer_already_voided"


def test_hold_can_be_resolved_until_just_before_it_expires(book: Book) -> None:
    book.run(pending("p1", timeout=60))

    assert book.code(post("x1", "p1"), at=NOW + timedelta(seconds=60, microseconds=-1)) is None


def test_pending_transfer_expired_at_exactly_its_deadline(book: Book) -> None:
    book.run(pending("p1", amount=30, timeout=60))
    deadline = NOW + timedelta(seconds=60)

    outcome = book.run(post("x1", "p1"), at=deadline)

    assert statuses(outcome) == [("failed", "pending_transfer_expired")]
    assert [(e.account_id, e.event, e.transfer_id, *deltas(e)) for e in outcome.entries] == [
        ("a", "expire_pending", "p1", 0, 0, -30, 0),
        ("b", "expire_pending", "p1", 0, 0, 0, -30),
    ]
    assert outcome.holds_resolved[0].state == "expired"
    assert outcome.holds_resolved[0].resolved_by is None
    assert book.balances("a") == Balances()
    assert book.code(void("v1", "p1"), at=deadline + timedelta(days=1)) == "pending_transfer_expired"


def test_missing_hold_of_a_referenced_pending_transfer_is_a_store_bug(book: Book) -> None:
    book.run(pending("p1", timeout=60))
    snapshot = msgspec.structs.replace(book.snapshot(), holds={})

    with pytest.raises(IncompleteSnapshot):
        execute_batch([post("x1", "p1")], snapshot, NOW)


def test_expiry_frees_funds_before_the_items_run() -> None:
    book = Book(account("a", flags=DEBIT_LIMITED, credits_posted=100), account("b"))
    book.run(pending("p1", amount=100, timeout=5))
    assert book.code(transfer("t1", amount=100)) == "insufficient_funds"

    assert book.code(transfer("t1", amount=100), at=NOW + timedelta(seconds=5)) is None


def test_sweeper_expires_due_holds_oldest_first(book: Book) -> None:
    book.run(pending("p2", timeout=20), pending("p1", timeout=20), pending("p0", timeout=10), pending("p3"))

    outcome = book.sweep(NOW + timedelta(seconds=20))

    assert outcome.results == []
    assert [hold.transfer_id for hold in outcome.holds_resolved] == ["p0", "p1", "p2"]
    assert [entry.transfer_id for entry in outcome.entries] == ["p0", "p0", "p1", "p1", "p2", "p2"]
    assert book.balances("a") == Balances(debits_pending=10)
    assert book.sweep(NOW + timedelta(days=365)).entries == []


# --- Reversals -----------------------------------------------------------------------------


def test_reversal_moves_the_amount_back(book: Book) -> None:
    book.run(transfer("t1", amount=25, code="purchase"))
    outcome = book.run(reverse("r1", "t1", metadata={"why": "refund"}))

    assert statuses(outcome) == [("created", None)]
    assert outcome.transfers == [
        Transfer(
            id="r1",
            debit_account_id="b",
            credit_account_id="a",
            amount=25,
            currency="USD",
            code="purchase",
            metadata={"why": "refund"},
            kind="reversal",
            reverses_id="t1",
            timestamp=NOW,
        )
    ]
    assert book.balances("a") == Balances(debits_posted=25, credits_posted=25)


def test_reversal_of_a_partial_post_reverses_the_posted_amount(book: Book) -> None:
    book.run(pending("p1", amount=30), post("x1", "p1", amount=12))
    outcome = book.run(reverse("r1", "x1"))

    assert outcome.transfers[0].amount == 12
    assert book.balances("a") == Balances(debits_posted=12, credits_posted=12)


def test_transfer_not_found(book: Book) -> None:
    assert book.code(reverse("r1", "nope")) == "transfer_not_found"


def test_cannot_reverse_pending_void_or_reversal(book: Book) -> None:
    book.run(pending("p1"), pending("p2"), void("v2", "p2"), transfer("t1"), reverse("r1", "t1"))

    assert book.code(reverse("r2", "p1")) == "cannot_reverse_pending"
    assert book.code(reverse("r2", "v2")) == "cannot_reverse_void"
    assert book.code(reverse("r2", "r1")) == "cannot_reverse_reversal"


def test_already_reversed(book: Book) -> None:
    book.run(transfer("t1"), reverse("r1", "t1"))

    assert book.code(reverse("r2", "t1")) == "already_reversed"
    assert statuses(book.run(reverse("r3", "t1"), reverse("r3", "t1"))) == [
        ("failed", "already_reversed"),
        ("failed", "already_reversed"),
    ]


def test_reversal_is_subject_to_limits() -> None:
    book = Book(account("a"), account("b", flags=DEBIT_LIMITED))
    book.run(transfer("t1", amount=100), transfer("t2", "b", "a", amount=1))

    assert book.code(reverse("r1", "t1")) == "insufficient_funds"  # b holds only 99 now
    book.run(transfer("t3", amount=1))
    assert book.code(reverse("r1", "t1")) is None


def test_reversal_credit_side_limit() -> None:
    book = Book(account("a", flags=CREDIT_LIMITED), account("b"))
    book.run(transfer("t1", amount=10))
    book.run(transfer("t2", "b", "a", amount=10))

    assert book.code(reverse("r1", "t1")) == "exceeds_debits"  # a's credits would be 20 > debits 10


# --- Idempotency ---------------------------------------------------------------------------


def test_replay_answers_exists_and_changes_nothing(book: Book) -> None:
    item = transfer("t1", amount=25, metadata={"m": "1"})
    book.run(item)

    outcome = book.run(item, msgspec.structs.replace(item, linked=True), item)

    assert statuses(outcome) == [("exists", None)] * 3
    assert outcome.transfers == outcome.entries == []
    assert outcome.accounts == {}
    assert book.balances("a") == Balances(debits_posted=25)


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"debit_account_id": "e"}, "exists_with_different_debit_account_id"),
        ({"credit_account_id": "e"}, "exists_with_different_credit_account_id"),
        ({"amount": 26}, "exists_with_different_amount"),
        ({"currency": "EUR"}, "exists_with_different_currency"),
        ({"code": "other"}, "exists_with_different_code"),
        ({"metadata": None}, "exists_with_different_metadata"),
        ({"pending": True}, "exists_with_different_pending"),
        ({"timeout_seconds": 5}, "exists_with_different_timeout_seconds"),
        ({"amount": 0, "currency": "EUR"}, "exists_with_different_amount"),  # first field wins
    ],
)
def test_exists_with_different_transfer_field(book: Book, change: dict[str, Any], code: str) -> None:
    item = transfer("t1", amount=25, metadata={"m": "1"})
    book.run(item)

    assert book.code(msgspec.structs.replace(item, **change)) == code


def test_exists_with_different_pending_and_timeout_for_a_pending_transfer(book: Book) -> None:
    item = pending("p1", timeout=30)
    book.run(item)

    as_single = msgspec.structs.replace(item, pending=False, timeout_seconds=None)
    assert book.code(as_single) == "exists_with_different_pending"
    assert book.code(msgspec.structs.replace(item, timeout_seconds=None)) == "exists_with_different_timeout_seconds"
    assert book.code(item) is None


@pytest.mark.parametrize(
    ("replay", "code"),
    [
        (post("x1", "p1"), None),
        (post("x1", "p1", amount=30), None),  # an explicit full amount equals the default
        (post("x1", "p2"), "exists_with_different_pending_id"),
        (void("x1", "p1"), "exists_with_different_action"),
        (post("x1", "p1", amount=29), "exists_with_different_amount"),
    ],
)
def test_resolution_replays(book: Book, replay: ResolvePending, code: str | None) -> None:
    book.run(pending("p1", amount=30), pending("p2", amount=30), post("x1", "p1"))

    outcome = book.run(replay)

    assert statuses(outcome) == [("exists", None) if code is None else ("failed", code)]
    assert outcome.entries == []


def test_partial_post_replay_compares_the_amount(book: Book) -> None:
    book.run(pending("p1", amount=30), post("x1", "p1", amount=12))

    assert book.code(post("x1", "p1", amount=12)) is None
    assert book.code(post("x1", "p1")) == "exists_with_different_amount"


@pytest.mark.parametrize(
    ("replay", "code"),
    [
        (reverse("r1", "t1", metadata={"a": "b"}), None),
        (reverse("r1", "t2", metadata={"a": "b"}), "exists_with_different_original_id"),
        (reverse("r1", "t1"), "exists_with_different_metadata"),
    ],
)
def test_reversal_replays(book: Book, replay: ReverseTransfer, code: str | None) -> None:
    book.run(transfer("t1"), transfer("t2"), reverse("r1", "t1", metadata={"a": "b"}))

    assert book.code(replay) == code


def test_exists_with_different_kind(book: Book) -> None:
    book.run(transfer("t1"), pending("p1"), post("x1", "p1"), reverse("r1", "t1"))

    assert book.code(post("t1", "p1")) == "exists_with_different_kind"
    assert book.code(reverse("t1", "t1")) == "exists_with_different_kind"
    assert book.code(transfer("x1")) == "exists_with_different_kind"
    assert book.code(reverse("x1", "t1")) == "exists_with_different_kind"
    assert book.code(transfer("r1")) == "exists_with_different_kind"
    assert book.code(void("r1", "p1")) == "exists_with_different_kind"


def test_failed_item_leaves_no_trace_and_can_be_retried() -> None:
    book = Book(account("a", flags=DEBIT_LIMITED), account("b"))
    failed = book.run(transfer("t1"))
    assert statuses(failed) == [("failed", "insufficient_funds")]
    assert failed.transfers == failed.entries == failed.holds_created == []
    assert failed.accounts == {}

    book.run(transfer("fund", "b", "a", amount=10))
    assert book.code(transfer("t1")) is None


def test_id_used_twice_in_a_batch(book: Book) -> None:
    outcome = book.run(transfer("t1"), transfer("t1"), transfer("t1", amount=11))

    assert statuses(outcome) == [("created", None), ("exists", None), ("failed", "exists_with_different_amount")]
    assert len(outcome.transfers) == 1


def test_id_of_a_failed_item_is_fresh_later_in_the_batch(book: Book) -> None:
    outcome = book.run(transfer("t1", amount=0), transfer("t1", amount=5))

    assert statuses(outcome) == [("failed", "amount_must_be_positive"), ("created", None)]


# --- Linked chains -------------------------------------------------------------------------


def test_linked_chain_succeeds_as_a_whole(book: Book) -> None:
    outcome = book.run(transfer("t1", linked=True), pending("p1", linked=True), post("x1", "p1"), transfer("t2"))

    assert statuses(outcome) == [("created", None)] * 4
    assert book.balances("a") == Balances(debits_posted=30)


def test_failing_member_rolls_back_the_whole_chain(book: Book) -> None:
    book.run(pending("p0", amount=7), transfer("t0", amount=3))
    before = book.snapshot()

    outcome = book.run(
        transfer("t1", linked=True),
        pending("p1", linked=True),
        post("x0", "p0", linked=True),
        reverse("r0", "t0", linked=True),
        transfer("t2", amount=0, linked=True),
        transfer("t3", linked=True),
        transfer("t4"),
        transfer("t5", amount=5),
    )

    assert statuses(outcome) == [
        ("failed", "linked_event_failed"),
        ("failed", "linked_event_failed"),
        ("failed", "linked_event_failed"),
        ("failed", "linked_event_failed"),
        ("failed", "amount_must_be_positive"),
        ("failed", "linked_event_failed"),
        ("failed", "linked_event_failed"),
        ("created", None),
    ]
    assert [t.id for t in outcome.transfers] == ["t5"]
    assert outcome.holds_created == outcome.holds_resolved == []
    assert [e.transfer_id for e in outcome.entries] == ["t5", "t5"]
    assert book.balances("a") == msgspec.structs.replace(
        before.accounts["a"].balances, debits_posted=before.accounts["a"].balances.debits_posted + 5
    )
    assert book.holds["p0"].state == "pending"
    # Everything in the chain can be retried.
    assert statuses(book.run(post("x0", "p0"), reverse("r0", "t0"), transfer("t1"))) == [("created", None)] * 3


def test_exists_counts_as_success_in_a_chain(book: Book) -> None:
    book.run(transfer("t1"))

    outcome = book.run(transfer("t1", linked=True), transfer("t2"))

    assert statuses(outcome) == [("exists", None), ("created", None)]


def test_exists_in_a_failed_chain_is_reported_as_linked_event_failed(book: Book) -> None:
    book.run(transfer("t1"))

    outcome = book.run(transfer("t1", linked=True), transfer("t2", amount=0))

    assert statuses(outcome) == [("failed", "linked_event_failed"), ("failed", "amount_must_be_positive")]


def test_open_chain_fails_entirely(book: Book) -> None:
    outcome = book.run(transfer("t0"), transfer("t1", linked=True), transfer("t2", linked=True))

    assert statuses(outcome) == [
        ("created", None),
        ("failed", "linked_event_failed"),
        ("failed", "linked_event_chain_open"),
    ]
    assert [t.id for t in outcome.transfers] == ["t0"]


def test_open_chain_with_a_failing_member_keeps_its_code(book: Book) -> None:
    outcome = book.run(transfer("t1", amount=0, linked=True), transfer("t2", linked=True))

    assert statuses(outcome) == [("failed", "amount_must_be_positive"), ("failed", "linked_event_chain_open")]


def test_single_linked_item_at_the_end_is_an_open_chain(book: Book) -> None:
    assert statuses(book.run(transfer("t1", linked=True))) == [("failed", "linked_event_chain_open")]


def test_duplicate_inside_a_failed_chain_is_rolled_back_too(book: Book) -> None:
    outcome = book.run(transfer("t1", linked=True), transfer("t1", linked=True), transfer("t2", "a", "nope"))

    assert statuses(outcome) == [
        ("failed", "linked_event_failed"),
        ("failed", "linked_event_failed"),
        ("failed", "credit_account_not_found"),
    ]
    assert book.code(transfer("t1", amount=99)) is None


def test_chain_failure_after_limits_uses_the_chain_state() -> None:
    """Later chain members see earlier members' effects; rolled-back funds are not spendable."""
    book = Book(account("a", flags=DEBIT_LIMITED), account("b"))

    outcome = book.run(
        transfer("fund", "b", "a", amount=10, linked=True),
        transfer("spend", amount=10, linked=True),
        transfer("bad", amount=0),
        transfer("spend2", amount=1),
    )

    assert [r.code for r in outcome.results] == [
        "linked_event_failed",
        "linked_event_failed",
        "amount_must_be_positive",
        "insufficient_funds",
    ]
    assert outcome.accounts == {}


# --- Entries and the outcome ---------------------------------------------------------------


def test_entries_continue_each_accounts_sequence(book: Book) -> None:
    book.accounts["a"] = msgspec.structs.replace(book.accounts["a"], entry_count=41)

    outcome = book.run(transfer("t1", amount=5), pending("p1", amount=3))

    assert [(e.account_id, e.account_seq, e.event) for e in outcome.entries] == [
        ("a", 42, "single"),
        ("b", 1, "single"),
        ("a", 43, "pending"),
        ("b", 2, "pending"),
    ]
    assert outcome.entries[-2].balances == Balances(debits_posted=5, debits_pending=3)
    assert outcome.accounts["a"].entry_count == 43
    assert set(outcome.accounts) == {"a", "b"}


def test_money_is_never_created_or_destroyed(book: Book) -> None:
    book.run(pending("p9", amount=4, timeout=1))
    outcome = book.run(
        transfer("t1", amount=5),
        pending("p1", amount=30),
        post("x1", "p1", amount=7),
        pending("p2", amount=8),
        void("v2", "p2"),
        reverse("r1", "t1"),
        at=NOW + timedelta(seconds=2),
    )

    per_change: dict[tuple[str, str], list[Entry]] = defaultdict(list)
    for entry in outcome.entries:
        per_change[(entry.transfer_id, entry.event)].append(entry)
    assert len(per_change) == 7  # six items and the expiry of p9
    for pair in per_change.values():
        assert len(pair) == 2
        assert sum(e.d_debits_posted for e in pair) == sum(e.d_credits_posted for e in pair)
        assert sum(e.d_debits_pending for e in pair) == sum(e.d_credits_pending for e in pair)
    for side in ("a", "b"):
        assert book.accounts[side].balances.debits_pending == book.accounts[side].balances.credits_pending == 0


def test_holds_created_and_resolved_never_overlap(book: Book) -> None:
    book.run(pending("p0"))

    outcome = book.run(pending("p1", linked=True), post("x1", "p1", amount=4), pending("p2"), void("v0", "p0"))

    assert [(h.transfer_id, h.state) for h in outcome.holds_created] == [("p1", "posted"), ("p2", "pending")]
    assert [(h.transfer_id, h.state) for h in outcome.holds_resolved] == [("p0", "voided")]


def test_transfers_keep_their_own_copy_of_metadata(book: Book) -> None:
    metadata = {"m": "1"}
    outcome = book.run(transfer("t1", metadata=metadata))
    metadata["m"] = "2"

    assert outcome.transfers[0].metadata == {"m": "1"}


def test_the_snapshot_is_not_mutated(book: Book) -> None:
    book.run(pending("p0", timeout=1), transfer("t0"))
    snapshot = book.snapshot()
    frozen = msgspec.json.encode(snapshot)

    execute_batch(
        [post("x1", "p0"), transfer("t1", linked=True), reverse("r0", "t0"), pending("p1"), reverse("r1", "t0")],
        snapshot,
        NOW + timedelta(seconds=5),
    )

    assert msgspec.json.encode(snapshot) == frozen


def test_missing_account_of_a_stored_transfer_is_a_store_bug(book: Book) -> None:
    book.run(transfer("t1"))
    snapshot = msgspec.structs.replace(book.snapshot(), accounts={"a": book.accounts["a"]})

    with pytest.raises(IncompleteSnapshot):
        execute_batch([reverse("r1", "t1")], snapshot, NOW)


def test_now_must_be_timezone_aware(book: Book) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        execute_batch([transfer("t1")], book.snapshot(), datetime(2030, 1, 1))


def test_referenced_ids() -> None:
    items = [transfer("t1", "a", "b"), post("x1", "p1"), reverse("r1", "t0"), transfer("t2", "c", "a")]

    assert referenced_ids(items) == ({"a", "b", "c"}, {"t1", "x1", "p1", "r1", "t0", "t2"})


def test_failure_codes_are_the_documented_set() -> None:
    assert TRANSFER_FAILURE_CODES == {
        "amount_must_be_positive",
        "accounts_must_be_different",
        "timeout_requires_pending",
        "timeout_must_be_positive",
        "timeout_too_large",
        "debit_account_not_found",
        "credit_account_not_found",
        "currency_mismatch",
        "insufficient_funds",
        "exceeds_debits",
        "pending_transfer_not_found",
        "pending_transfer_not_pending",
        "pending_transfer_already_posted",
        "pending_transfer_already_voided",
        "pending_transfer_expired",
        "exceeds_pending_amount",
        "void_amount_must_match",
        "transfer_not_found",
        "cannot_reverse_pending",
        "cannot_reverse_void",
        "cannot_reverse_reversal",
        "already_reversed",
        "exists_with_different_kind",
        "exists_with_different_debit_account_id",
        "exists_with_different_credit_account_id",
        "exists_with_different_amount",
        "exists_with_different_currency",
        "exists_with_different_code",
        "exists_with_different_metadata",
        "exists_with_different_pending",
        "exists_with_different_timeout_seconds",
        "exists_with_different_pending_id",
        "exists_with_different_action",
        "exists_with_different_original_id",
        "linked_event_failed",
        "linked_event_chain_open",
    }
