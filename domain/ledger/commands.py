"""Commands: the items of a ledger batch, and opening an account.

A batch item with ``linked=True`` is chained to the next item; the chain succeeds or fails
as a whole (see ``domain.ledger.engine``). Item ids are chosen by the caller and make every
item idempotent: replaying an id is answered with ``exists`` and changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from domain.ledger import results as codes
from domain.ledger.model import Account, AccountFlags
from domain.shared.errors import InvalidInput


class CreateTransfer(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Move ``amount`` from the debit to the credit account, or reserve it if ``pending``.

    A pending transfer with ``timeout_seconds`` expires that long after it was accepted.
    """

    id: str
    debit_account_id: str
    credit_account_id: str
    amount: int
    currency: str
    code: str = ""
    metadata: dict[str, str] | None = None
    pending: bool = False
    timeout_seconds: int | None = None
    linked: bool = False


class ResolvePending(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Post or void the hold of pending transfer ``pending_id``; a hold resolves at most once.

    A post may be partial (``amount`` up to the pending amount; default: all of it) and
    releases the rest. A void releases everything: ``amount`` must be omitted or equal it.
    """

    id: str
    pending_id: str
    action: Literal["post", "void"]
    amount: int | None = None
    linked: bool = False


class ReverseTransfer(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Undo a single or posted transfer by moving its amount back; at most once per original."""

    id: str
    original_id: str
    metadata: dict[str, str] | None = None
    linked: bool = False


LedgerItem = CreateTransfer | ResolvePending | ReverseTransfer

MAX_TIMEOUT_SECONDS = 2**32 - 1
"""The longest hold timeout (TigerBeetle's u32); longer ones fail with ``timeout_too_large``."""


class NewAccount(msgspec.Struct, frozen=True, kw_only=True):
    """Open an account; see ``open_account`` for the rules."""

    id: str
    currency: str
    name: str
    flags: AccountFlags = AccountFlags()
    overdraft_limit: int | None = None
    metadata: dict[str, str] = {}


def open_account(cmd: NewAccount, now: datetime) -> Account:
    """Validate ``cmd`` and return the new account with zero balances.

    Raises ``InvalidInput`` with code ``flags_are_mutually_exclusive``,
    ``overdraft_limit_must_not_be_negative`` or ``overdraft_limit_requires_flag``.
    """
    flags = cmd.flags
    if flags.debits_must_not_exceed_credits and flags.credits_must_not_exceed_debits:
        raise InvalidInput(
            "an account cannot limit both its debits and its credits",
            code=codes.FLAGS_ARE_MUTUALLY_EXCLUSIVE,
        )
    if cmd.overdraft_limit is not None:
        if cmd.overdraft_limit < 0:
            raise InvalidInput(
                "overdraft_limit must not be negative", code=codes.OVERDRAFT_LIMIT_MUST_NOT_BE_NEGATIVE
            )
        if not (flags.debits_must_not_exceed_credits or flags.credits_must_not_exceed_debits):
            raise InvalidInput(
                "overdraft_limit needs a debits_must_not_exceed_credits or credits_must_not_exceed_debits flag",
                code=codes.OVERDRAFT_LIMIT_REQUIRES_FLAG,
            )
    return Account(
        id=cmd.id,
        currency=cmd.currency,
        name=cmd.name,
        flags=flags,
        overdraft_limit=cmd.overdraft_limit,
        metadata=dict(cmd.metadata),
        created_at=now,
    )
