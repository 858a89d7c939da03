"""The ledger's records: accounts, transfers, holds and entries.

Modelled on TigerBeetle: an account keeps four running totals (debits and credits, each
posted and pending), a transfer moves an amount from a debit account to a credit account,
and a two-phase transfer first reserves the amount as *pending* and later posts, voids or
expires it. Money is always an ``int`` in minor units of the account's currency.

Every record is a frozen struct; the engine produces new instances instead of mutating.
High-volume records opt out of the cyclic garbage collector (``gc=False``): they hold only
strings, numbers, datetimes and string dicts, so they can never take part in a cycle.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

NonNegative = Annotated[int, msgspec.Meta(ge=0)]
"""An amount or total in minor units that can never drop below zero."""

TransferKind = Literal["single", "pending", "post_pending", "void_pending", "reversal"]
HoldState = Literal["pending", "posted", "voided", "expired"]
EntryEvent = Literal["single", "pending", "post_pending", "void_pending", "expire_pending", "reversal"]


class AccountFlags(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Balance constraints; at most one may be set (see ``open_account``)."""

    debits_must_not_exceed_credits: bool = False
    """An asset-style account of the customer: it cannot spend more than it holds."""
    credits_must_not_exceed_debits: bool = False
    """The mirror constraint, for accounts that must never be owed more than they lent."""


class Balances(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The four running totals of an account, in minor units."""

    debits_posted: NonNegative = 0
    credits_posted: NonNegative = 0
    debits_pending: NonNegative = 0
    credits_pending: NonNegative = 0


class Account(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A ledger account in one currency. Updates produce new instances."""

    id: str
    currency: str
    name: str
    flags: AccountFlags = AccountFlags()
    overdraft_limit: NonNegative | None = None
    """Extra room granted to whichever "must not exceed" flag is set; ``None`` means none."""
    metadata: dict[str, str] = {}
    created_at: datetime
    balances: Balances = Balances()
    entry_count: NonNegative = 0
    """Entries ever written for this account; the next entry gets ``account_seq = entry_count + 1``."""

    def allows_debit(self, amount: int) -> bool:
        """Whether a further debit (posted or pending) of ``amount`` keeps the account within its limit.

        Pending debits count against the limit, so a hold reserves funds.
        """
        if not self.flags.debits_must_not_exceed_credits:
            return True
        b = self.balances
        return b.debits_posted + b.debits_pending + amount <= b.credits_posted + (self.overdraft_limit or 0)

    def allows_credit(self, amount: int) -> bool:
        """Whether a further credit (posted or pending) of ``amount`` keeps the account within its limit."""
        if not self.flags.credits_must_not_exceed_debits:
            return True
        b = self.balances
        return b.credits_posted + b.credits_pending + amount <= b.debits_posted + (self.overdraft_limit or 0)


class Transfer(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The immutable record of an accepted batch item.

    For ``post_pending`` and ``void_pending`` the accounts, currency and code are copied from
    the pending transfer; ``amount`` is the posted amount (post) or the released amount (void).
    """

    id: str
    debit_account_id: str
    credit_account_id: str
    amount: NonNegative
    currency: str
    code: str = ""
    metadata: dict[str, str] | None = None
    kind: TransferKind
    pending_id: str | None = None
    """For ``post_pending``/``void_pending``: the pending transfer resolved."""
    reverses_id: str | None = None
    """For ``reversal``: the transfer reversed."""
    timeout_seconds: int | None = None
    expires_at: datetime | None = None
    """For a ``pending`` transfer with a timeout: when its hold expires."""
    timestamp: datetime


class Hold(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The changing state of a pending transfer, kept apart from its immutable ``Transfer``."""

    transfer_id: str
    debit_account_id: str
    credit_account_id: str
    amount: NonNegative
    currency: str
    expires_at: datetime | None = None
    state: HoldState = "pending"
    resolved_by: str | None = None
    """Id of the post or void transfer; ``None`` while pending or once expired."""
    resolved_at: datetime | None = None

    def is_due(self, now: datetime) -> bool:
        """Whether the hold is still pending but its timeout has run out."""
        return self.state == "pending" and self.expires_at is not None and self.expires_at <= now


class Entry(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One change to one account's balances.

    Every balance change writes two entries, one per side, whose deltas balance:
    the debit side's ``d_debits_*`` equal the credit side's ``d_credits_*``.
    """

    account_id: str
    account_seq: int
    """1, 2, 3, ... per account, without gaps."""
    transfer_id: str
    """The transfer that caused the change; for an expiry, the pending transfer."""
    event: EntryEvent
    timestamp: datetime
    d_debits_posted: int
    d_credits_posted: int
    d_debits_pending: int
    d_credits_pending: int
    balances: Balances
    """The account's balances after the change."""
