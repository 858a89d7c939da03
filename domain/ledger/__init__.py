"""The double-entry ledger: a pure engine over accounts, transfers, holds and entries."""

from domain.ledger.commands import (
    CreateTransfer,
    LedgerItem,
    NewAccount,
    ResolvePending,
    ReverseTransfer,
    open_account,
)
from domain.ledger.engine import (
    BatchOutcome,
    IncompleteSnapshot,
    LedgerSnapshot,
    execute_batch,
    expire_due_holds,
    referenced_ids,
)
from domain.ledger.model import Account, AccountFlags, Balances, Entry, Hold, Transfer
from domain.ledger.results import ItemResult

__all__ = [
    "Account",
    "AccountFlags",
    "Balances",
    "BatchOutcome",
    "CreateTransfer",
    "Entry",
    "Hold",
    "IncompleteSnapshot",
    "ItemResult",
    "LedgerItem",
    "LedgerSnapshot",
    "NewAccount",
    "ResolvePending",
    "ReverseTransfer",
    "Transfer",
    "execute_batch",
    "expire_due_holds",
    "open_account",
    "referenced_ids",
]
