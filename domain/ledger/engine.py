"""The ledger engine: apply a batch of items to a snapshot of the ledger, purely.

The caller (a store) loads a ``LedgerSnapshot`` with everything the batch can touch, calls
``execute_batch`` and persists the ``BatchOutcome`` atomically. The engine never mutates the
snapshot: it works on shallow copies of its tables and records what changed.

Semantics follow TigerBeetle's ``create_transfers``:

* Due holds in the snapshot expire first (their pending amounts are released).
* Items run strictly in order. An id that already exists is compared field by field and
  answered ``exists`` or ``exists_with_different_<field>``; it never changes anything.
* A failed item leaves no trace, so the same id can be retried later.
* ``linked`` items form a chain that succeeds or fails as a whole; a failing chain is
  rolled back through an undo log, so linking costs nothing per unlinked item.
* Every balance change writes two entries (debit side, credit side) whose deltas
  balance, so no batch can create or destroy money.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import msgspec

from domain.ledger.commands import (
    MAX_TIMEOUT_SECONDS,
    CreateTransfer,
    LedgerItem,
    ResolvePending,
    ReverseTransfer,
)
from domain.ledger.model import Account, Balances, Entry, EntryEvent, Hold, Transfer
from domain.ledger.results import (
    ACCOUNTS_MUST_BE_DIFFERENT,
    ALREADY_REVERSED,
    AMOUNT_MUST_BE_POSITIVE,
    CANNOT_REVERSE_PENDING,
    CANNOT_REVERSE_REVERSAL,
    CANNOT_REVERSE_VOID,
    CREDIT_ACCOUNT_NOT_FOUND,
    CURRENCY_MISMATCH,
    DEBIT_ACCOUNT_NOT_FOUND,
    EXCEEDS_DEBITS,
    EXCEEDS_PENDING_AMOUNT,
    EXISTS_WITH_DIFFERENT_ACTION,
    EXISTS_WITH_DIFFERENT_AMOUNT,
    EXISTS_WITH_DIFFERENT_CODE,
    EXISTS_WITH_DIFFERENT_CREDIT_ACCOUNT_ID,
    EXISTS_WITH_DIFFERENT_CURRENCY,
    EXISTS_WITH_DIFFERENT_DEBIT_ACCOUNT_ID,
    EXISTS_WITH_DIFFERENT_KIND,
    EXISTS_WITH_DIFFERENT_METADATA,
    EXISTS_WITH_DIFFERENT_ORIGINAL_ID,
    EXISTS_WITH_DIFFERENT_PENDING,
    EXISTS_WITH_DIFFERENT_PENDING_ID,
    EXISTS_WITH_DIFFERENT_TIMEOUT_SECONDS,
    INSUFFICIENT_FUNDS,
    LINKED_EVENT_CHAIN_OPEN,
    LINKED_EVENT_FAILED,
    PENDING_TRANSFER_ALREADY_POSTED,
    PENDING_TRANSFER_ALREADY_VOIDED,
    PENDING_TRANSFER_EXPIRED,
    PENDING_TRANSFER_NOT_FOUND,
    PENDING_TRANSFER_NOT_PENDING,
    TIMEOUT_MUST_BE_POSITIVE,
    TIMEOUT_REQUIRES_PENDING,
    TIMEOUT_TOO_LARGE,
    TRANSFER_NOT_FOUND,
    VOID_AMOUNT_MUST_MATCH,
    ItemResult,
)
from domain.shared.errors import DomainError

__all__ = [
    "BatchOutcome",
    "IncompleteSnapshot",
    "LedgerSnapshot",
    "execute_batch",
    "expire_due_holds",
    "referenced_ids",
]


class IncompleteSnapshot(DomainError):
    """The snapshot lacks a record the batch needs: a bug in the store, never a client error."""

    code = "incomplete_snapshot"


class LedgerSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """What the store loads before a batch (see ``referenced_ids``). Treated as immutable."""

    accounts: dict[str, Account] = {}
    """Every account named by an item or by a referenced transfer, and both accounts of every hold."""
    transfers: dict[str, Transfer] = {}
    """Existing transfers whose id is an item id, a pending_id or an original_id."""
    holds: dict[str, Hold] = {}
    """Holds of referenced pending transfers, plus the due pending holds of the involved accounts."""
    reversals: dict[str, str] = {}
    """original_id -> reversal id, for referenced originals that are already reversed."""


class BatchOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the store must persist, atomically, after a batch.

    ``holds_created`` and ``holds_resolved`` never share a hold: a hold created in this batch
    is listed once, in ``holds_created``, in its final state (it may already be resolved);
    ``holds_resolved`` holds the snapshot's holds whose state changed, in their final state.
    """

    results: list[ItemResult] = []
    """One per item, in item order."""
    transfers: list[Transfer] = []
    """Newly created transfers, in order."""
    holds_created: list[Hold] = []
    holds_resolved: list[Hold] = []
    entries: list[Entry] = []
    """New entries, in order; per account, ``account_seq`` continues from ``entry_count``."""
    accounts: dict[str, Account] = {}
    """Only the accounts whose balances changed, in their final state."""


def referenced_ids(items: Iterable[LedgerItem]) -> tuple[set[str], set[str]]:
    """The account ids and transfer ids a store must load for ``items``.

    Transfer ids are the item ids, pending_ids and original_ids; account ids are the debit and
    credit accounts of new transfers. The store must add the accounts of the transfers items
    refer to (pending_ids, original_ids: an item's own id, found, only answers ``exists``), the
    holds of the pending ones, and the due holds of all those accounts (with both of their
    accounts).
    """
    account_ids: set[str] = set()
    transfer_ids: set[str] = set()
    for item in items:
        transfer_ids.add(item.id)
        match item:
            case CreateTransfer():
                account_ids.add(item.debit_account_id)
                account_ids.add(item.credit_account_id)
            case ResolvePending():
                transfer_ids.add(item.pending_id)
            case ReverseTransfer():
                transfer_ids.add(item.original_id)
    return account_ids, transfer_ids


def execute_batch(items: Sequence[LedgerItem], snapshot: LedgerSnapshot, now: datetime) -> BatchOutcome:
    """Expire the snapshot's due holds, then apply ``items`` in order at time ``now`` (timezone-aware)."""
    ledger = _Ledger(snapshot, now)
    ledger.expire_due_holds()
    results = ledger.run(items)
    return ledger.outcome(results)


def expire_due_holds(snapshot: LedgerSnapshot, now: datetime) -> BatchOutcome:
    """Expire every pending hold in ``snapshot`` whose ``expires_at`` is at or before ``now``."""
    ledger = _Ledger(snapshot, now)
    ledger.expire_due_holds()
    return ledger.outcome([])


_MISSING: Any = object()

_CANNOT_REVERSE = {
    "pending": CANNOT_REVERSE_PENDING,
    "void_pending": CANNOT_REVERSE_VOID,
    "reversal": CANNOT_REVERSE_REVERSAL,
}
_RESOLVED_HOLD = {
    "posted": PENDING_TRANSFER_ALREADY_POSTED,
    "voided": PENDING_TRANSFER_ALREADY_VOIDED,
    "expired": PENDING_TRANSFER_EXPIRED,
}


class _Ledger:
    """The working state of one batch: the snapshot's tables plus this batch's changes.

    While a linked chain is open, every table write is recorded in an undo log and the
    output lists are marked, so a failing chain can be rolled back exactly.
    """

    def __init__(self, snapshot: LedgerSnapshot, now: datetime) -> None:
        if now.utcoffset() is None:
            raise ValueError("now must be timezone-aware")
        self._now = now
        self._original_accounts = snapshot.accounts
        self._accounts = dict(snapshot.accounts)
        self._transfers = dict(snapshot.transfers)
        self._holds = dict(snapshot.holds)
        self._reversals = dict(snapshot.reversals)
        self._new_transfers: list[Transfer] = []
        self._entries: list[Entry] = []
        self._created_holds: list[str] = []
        self._resolved_holds: list[str] = []
        self._touched_accounts: dict[str, None] = {}
        self._undo: list[tuple[dict[str, Any], str, Any]] | None = None
        self._chain_marks = (0, 0, 0, 0)

    # --- Running a batch -----------------------------------------------------------------

    def run(self, items: Sequence[LedgerItem]) -> list[ItemResult]:
        """Apply ``items`` in order, honouring linked chains; return one result per item."""
        results: list[ItemResult] = []
        last = len(items) - 1
        chain_start: int | None = None
        chain_failed = False
        for index, item in enumerate(items):
            if chain_start is None:
                if not item.linked:
                    results.append(self._execute(item))
                    continue
                chain_start, chain_failed = index, False
                self._begin_chain()

            if item.linked and index == last:
                result = _failed(item.id, LINKED_EVENT_CHAIN_OPEN)
            elif chain_failed:
                result = _failed(item.id, LINKED_EVENT_FAILED)
            else:
                result = self._execute(item)
            results.append(result)
            if result.code is not None and not chain_failed:
                chain_failed = True
                self._rollback_chain()

            if not item.linked or index == last:
                if chain_failed:
                    _fail_chain(results, chain_start)
                else:
                    self._commit_chain()
                chain_start = None
        return results

    def outcome(self, results: list[ItemResult]) -> BatchOutcome:
        """Package this batch's changes for the store."""
        created = set(self._created_holds)
        original_accounts = self._original_accounts
        changed_accounts: dict[str, Account] = {}
        for account_id in self._touched_accounts:
            account = self._accounts[account_id]
            if account is not original_accounts.get(account_id):  # a rolled-back chain restores the original
                changed_accounts[account_id] = account
        return BatchOutcome(
            results=results,
            transfers=self._new_transfers,
            holds_created=[self._holds[hold_id] for hold_id in self._created_holds],
            holds_resolved=[self._holds[hold_id] for hold_id in self._resolved_holds if hold_id not in created],
            entries=self._entries,
            accounts=changed_accounts,
        )

    def expire_due_holds(self) -> None:
        """Expire every due pending hold, oldest deadline first, releasing its pending amount."""
        now = self._now
        due = sorted(
            (hold for hold in self._holds.values() if hold.is_due(now)),
            key=lambda hold: (hold.expires_at, hold.transfer_id),
        )
        for hold in due:
            self._require_accounts(hold.debit_account_id, hold.credit_account_id)
            self._resolve_hold(msgspec.structs.replace(hold, state="expired", resolved_at=now))
            self._move(
                hold.debit_account_id,
                hold.credit_account_id,
                hold.transfer_id,
                "expire_pending",
                posted=0,
                pending=-hold.amount,
            )

    def _execute(self, item: LedgerItem) -> ItemResult:
        existing = self._transfers.get(item.id)
        if existing is not None:
            code = _difference(item, existing, self._transfers)
            return ItemResult(id=item.id, status="exists") if code is None else _failed(item.id, code)
        match item:
            case CreateTransfer():
                code = self._create(item)
            case ResolvePending():
                code = self._resolve(item)
            case ReverseTransfer():
                code = self._reverse(item)
            case _:
                raise TypeError(f"not a ledger item: {type(item).__name__}")
        return ItemResult(id=item.id, status="created") if code is None else _failed(item.id, code)

    # --- The three kinds of item: validate everything, then apply ------------------------

    def _create(self, item: CreateTransfer) -> str | None:
        amount = item.amount
        if amount <= 0:
            return AMOUNT_MUST_BE_POSITIVE
        if item.debit_account_id == item.credit_account_id:
            return ACCOUNTS_MUST_BE_DIFFERENT
        if item.timeout_seconds is not None:
            if not item.pending:
                return TIMEOUT_REQUIRES_PENDING
            if item.timeout_seconds <= 0:
                return TIMEOUT_MUST_BE_POSITIVE
            if item.timeout_seconds > MAX_TIMEOUT_SECONDS:
                return TIMEOUT_TOO_LARGE
        debit = self._accounts.get(item.debit_account_id)
        if debit is None:
            return DEBIT_ACCOUNT_NOT_FOUND
        credit = self._accounts.get(item.credit_account_id)
        if credit is None:
            return CREDIT_ACCOUNT_NOT_FOUND
        if debit.currency != item.currency or credit.currency != item.currency:
            return CURRENCY_MISMATCH
        if not debit.allows_debit(amount):
            return INSUFFICIENT_FUNDS
        if not credit.allows_credit(amount):
            return EXCEEDS_DEBITS

        now = self._now
        expires_at = None
        if item.timeout_seconds is not None:
            expires_at = now + timedelta(seconds=item.timeout_seconds)
        self._record(
            Transfer(
                id=item.id,
                debit_account_id=item.debit_account_id,
                credit_account_id=item.credit_account_id,
                amount=amount,
                currency=item.currency,
                code=item.code,
                metadata=None if item.metadata is None else dict(item.metadata),
                kind="pending" if item.pending else "single",
                timeout_seconds=item.timeout_seconds,
                expires_at=expires_at,
                timestamp=now,
            )
        )
        if item.pending:
            hold = Hold(
                transfer_id=item.id,
                debit_account_id=item.debit_account_id,
                credit_account_id=item.credit_account_id,
                amount=amount,
                currency=item.currency,
                expires_at=expires_at,
            )
            self._set(self._holds, item.id, hold)
            self._created_holds.append(item.id)
            self._move(item.debit_account_id, item.credit_account_id, item.id, "pending", posted=0, pending=amount)
        else:
            self._move(item.debit_account_id, item.credit_account_id, item.id, "single", posted=amount, pending=0)
        return None

    def _resolve(self, item: ResolvePending) -> str | None:
        if item.amount is not None and item.amount <= 0:
            return AMOUNT_MUST_BE_POSITIVE
        pending = self._transfers.get(item.pending_id)
        if pending is None:
            return PENDING_TRANSFER_NOT_FOUND
        if pending.kind != "pending":
            return PENDING_TRANSFER_NOT_PENDING
        hold = self._holds.get(pending.id)
        if hold is None:
            raise IncompleteSnapshot(f"the snapshot lacks the hold of pending transfer {pending.id!r}")
        if hold.state != "pending":  # due holds were expired before the items ran
            return _RESOLVED_HOLD[hold.state]
        if item.action == "post":
            posted = hold.amount if item.amount is None else item.amount
            if posted > hold.amount:
                return EXCEEDS_PENDING_AMOUNT
            kind: EntryEvent = "post_pending"
            state = "posted"
            amount = posted
        else:
            if item.amount is not None and item.amount != hold.amount:
                return VOID_AMOUNT_MUST_MATCH
            kind, state, posted, amount = "void_pending", "voided", 0, hold.amount
        self._require_accounts(hold.debit_account_id, hold.credit_account_id)

        now = self._now
        self._record(
            Transfer(
                id=item.id,
                debit_account_id=pending.debit_account_id,
                credit_account_id=pending.credit_account_id,
                amount=amount,
                currency=pending.currency,
                code=pending.code,
                kind=kind,
                pending_id=pending.id,
                timestamp=now,
            )
        )
        self._resolve_hold(msgspec.structs.replace(hold, state=state, resolved_by=item.id, resolved_at=now))
        self._move(hold.debit_account_id, hold.credit_account_id, item.id, kind, posted=posted, pending=-hold.amount)
        return None

    def _reverse(self, item: ReverseTransfer) -> str | None:
        original = self._transfers.get(item.original_id)
        if original is None:
            return TRANSFER_NOT_FOUND
        unreversible = _CANNOT_REVERSE.get(original.kind)
        if unreversible is not None:
            return unreversible
        if original.id in self._reversals:
            return ALREADY_REVERSED
        # The money flows back: the original's credit account is debited.
        debit, credit = self._require_accounts(original.credit_account_id, original.debit_account_id)
        amount = original.amount
        if not debit.allows_debit(amount):
            return INSUFFICIENT_FUNDS
        if not credit.allows_credit(amount):
            return EXCEEDS_DEBITS

        self._record(
            Transfer(
                id=item.id,
                debit_account_id=debit.id,
                credit_account_id=credit.id,
                amount=amount,
                currency=original.currency,
                code=original.code,
                metadata=None if item.metadata is None else dict(item.metadata),
                kind="reversal",
                reverses_id=original.id,
                timestamp=self._now,
            )
        )
        self._set(self._reversals, original.id, item.id)
        self._move(debit.id, credit.id, item.id, "reversal", posted=amount, pending=0)
        return None

    # --- Writing state -------------------------------------------------------------------

    def _move(
        self, debit_id: str, credit_id: str, transfer_id: str, event: EntryEvent, *, posted: int, pending: int
    ) -> None:
        """Write one balance change: ``posted``/``pending`` on the debit side's debits and the credit side's credits."""
        self._write_entry(debit_id, transfer_id, event, posted, 0, pending, 0)
        self._write_entry(credit_id, transfer_id, event, 0, posted, 0, pending)

    def _write_entry(
        self,
        account_id: str,
        transfer_id: str,
        event: EntryEvent,
        d_debits_posted: int,
        d_credits_posted: int,
        d_debits_pending: int,
        d_credits_pending: int,
    ) -> None:
        account = self._accounts[account_id]
        before = account.balances
        after = Balances(
            debits_posted=before.debits_posted + d_debits_posted,
            credits_posted=before.credits_posted + d_credits_posted,
            debits_pending=before.debits_pending + d_debits_pending,
            credits_pending=before.credits_pending + d_credits_pending,
        )
        seq = account.entry_count + 1
        self._entries.append(
            Entry(
                account_id=account_id,
                account_seq=seq,
                transfer_id=transfer_id,
                event=event,
                timestamp=self._now,
                d_debits_posted=d_debits_posted,
                d_credits_posted=d_credits_posted,
                d_debits_pending=d_debits_pending,
                d_credits_pending=d_credits_pending,
                balances=after,
            )
        )
        self._set(self._accounts, account_id, msgspec.structs.replace(account, balances=after, entry_count=seq))
        self._touched_accounts[account_id] = None

    def _record(self, transfer: Transfer) -> None:
        self._set(self._transfers, transfer.id, transfer)
        self._new_transfers.append(transfer)

    def _resolve_hold(self, hold: Hold) -> None:
        self._set(self._holds, hold.transfer_id, hold)
        self._resolved_holds.append(hold.transfer_id)

    def _require_accounts(self, *account_ids: str) -> list[Account]:
        """The accounts named by a stored transfer or hold; their absence is the store's bug."""
        accounts = []
        for account_id in account_ids:
            account = self._accounts.get(account_id)
            if account is None:
                raise IncompleteSnapshot(f"the snapshot lacks account {account_id!r}")
            accounts.append(account)
        return accounts

    def _set(self, table: dict[str, Any], key: str, value: Any) -> None:
        if self._undo is not None:
            self._undo.append((table, key, table.get(key, _MISSING)))
        table[key] = value

    # --- Linked chains -------------------------------------------------------------------

    def _begin_chain(self) -> None:
        self._undo = []
        self._chain_marks = (
            len(self._new_transfers),
            len(self._entries),
            len(self._created_holds),
            len(self._resolved_holds),
        )

    def _commit_chain(self) -> None:
        self._undo = None

    def _rollback_chain(self) -> None:
        assert self._undo is not None
        for table, key, previous in reversed(self._undo):
            if previous is _MISSING:
                del table[key]
            else:
                table[key] = previous
        transfers, entries, created_holds, resolved_holds = self._chain_marks
        del self._new_transfers[transfers:]
        del self._entries[entries:]
        del self._created_holds[created_holds:]
        del self._resolved_holds[resolved_holds:]
        self._undo = None


def _failed(item_id: str, code: str) -> ItemResult:
    return ItemResult(id=item_id, status="failed", code=code)


def _fail_chain(results: list[ItemResult], chain_start: int) -> None:
    """Turn every success of a failed chain into ``linked_event_failed``; failures keep their code."""
    for index in range(chain_start, len(results)):
        if results[index].code is None:
            results[index] = _failed(results[index].id, LINKED_EVENT_FAILED)


def _difference(item: LedgerItem, existing: Transfer, transfers: dict[str, Transfer]) -> str | None:
    """The code for the first field (in the command's order) where ``item`` differs from ``existing``."""
    match item:
        case CreateTransfer():
            if existing.kind not in ("single", "pending"):
                return EXISTS_WITH_DIFFERENT_KIND
            return _first_difference(
                (item.debit_account_id, existing.debit_account_id, EXISTS_WITH_DIFFERENT_DEBIT_ACCOUNT_ID),
                (item.credit_account_id, existing.credit_account_id, EXISTS_WITH_DIFFERENT_CREDIT_ACCOUNT_ID),
                (item.amount, existing.amount, EXISTS_WITH_DIFFERENT_AMOUNT),
                (item.currency, existing.currency, EXISTS_WITH_DIFFERENT_CURRENCY),
                (item.code, existing.code, EXISTS_WITH_DIFFERENT_CODE),
                (item.metadata, existing.metadata, EXISTS_WITH_DIFFERENT_METADATA),
                (item.pending, existing.kind == "pending", EXISTS_WITH_DIFFERENT_PENDING),
                (item.timeout_seconds, existing.timeout_seconds, EXISTS_WITH_DIFFERENT_TIMEOUT_SECONDS),
            )
        case ResolvePending():
            if existing.kind not in ("post_pending", "void_pending"):
                return EXISTS_WITH_DIFFERENT_KIND
            # An omitted amount means "all of it": the pending transfer's amount.
            amount = item.amount
            if amount is None:
                pending = transfers.get(item.pending_id)
                amount = existing.amount if pending is None else pending.amount
            return _first_difference(
                (item.pending_id, existing.pending_id, EXISTS_WITH_DIFFERENT_PENDING_ID),
                (item.action, "post" if existing.kind == "post_pending" else "void", EXISTS_WITH_DIFFERENT_ACTION),
                (amount, existing.amount, EXISTS_WITH_DIFFERENT_AMOUNT),
            )
        case ReverseTransfer():
            if existing.kind != "reversal":
                return EXISTS_WITH_DIFFERENT_KIND
            return _first_difference(
                (item.original_id, existing.reverses_id, EXISTS_WITH_DIFFERENT_ORIGINAL_ID),
                (item.metadata, existing.metadata, EXISTS_WITH_DIFFERENT_METADATA),
            )
    raise TypeError(f"not a ledger item: {type(item).__name__}")


def _first_difference(*fields: tuple[object, object, str]) -> str | None:
    for given, recorded, code in fields:
        if given != recorded:
            return code
    return None
