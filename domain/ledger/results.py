"""Per-item results of a ledger batch and the stable failure codes.

Codes are part of the public contract (clients branch on them): never rename one.
They follow TigerBeetle's ``create_transfers`` results where a counterpart exists.
"""

from __future__ import annotations

from typing import Final, Literal

import msgspec

ItemStatus = Literal["created", "exists", "failed"]


class ItemResult(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The outcome of one batch item: ``code`` is set exactly when ``status`` is ``"failed"``."""

    id: str
    status: ItemStatus
    code: str | None = None


# --- Shape of the item -------------------------------------------------------------------

AMOUNT_MUST_BE_POSITIVE: Final = "amount_must_be_positive"
"""The amount (or a partial post or void amount) is zero or negative."""
ACCOUNTS_MUST_BE_DIFFERENT: Final = "accounts_must_be_different"
"""The debit and credit account are the same account."""
TIMEOUT_REQUIRES_PENDING: Final = "timeout_requires_pending"
"""A timeout was given for a transfer that is not pending."""
TIMEOUT_MUST_BE_POSITIVE: Final = "timeout_must_be_positive"
"""The timeout of a pending transfer is zero or negative (omit it for no timeout)."""
TIMEOUT_TOO_LARGE: Final = "timeout_too_large"
"""The timeout exceeds ``MAX_TIMEOUT_SECONDS`` (2**32 - 1, about 136 years, as in TigerBeetle)."""

# --- Accounts ----------------------------------------------------------------------------

DEBIT_ACCOUNT_NOT_FOUND: Final = "debit_account_not_found"
"""No account has the debit account id."""
CREDIT_ACCOUNT_NOT_FOUND: Final = "credit_account_not_found"
"""No account has the credit account id."""
CURRENCY_MISMATCH: Final = "currency_mismatch"
"""The transfer's currency differs from the debit or the credit account's currency."""
INSUFFICIENT_FUNDS: Final = "insufficient_funds"
"""The debit would take a debits_must_not_exceed_credits account beyond credits + overdraft."""
EXCEEDS_DEBITS: Final = "exceeds_debits"
"""The credit would take a credits_must_not_exceed_debits account beyond debits + overdraft."""

# --- Two-phase transfers -----------------------------------------------------------------

PENDING_TRANSFER_NOT_FOUND: Final = "pending_transfer_not_found"
"""No transfer has the pending_id."""
PENDING_TRANSFER_NOT_PENDING: Final = "pending_transfer_not_pending"
"""The pending_id names a transfer that is not a pending transfer."""
PENDING_TRANSFER_ALREADY_POSTED: Final = "pending_transfer_already_posted"
"""The hold was already posted (by another transfer id)."""
PENDING_TRANSFER_ALREADY_VOIDED: Final = "pending_transfer_already_voided"
"""The hold was already voided (by another transfer id)."""
PENDING_TRANSFER_EXPIRED: Final = "pending_transfer_expired"
"""The hold's timeout has run out; its amount was (or is now being) released."""
EXCEEDS_PENDING_AMOUNT: Final = "exceeds_pending_amount"
"""A post amount is greater than the pending amount."""
VOID_AMOUNT_MUST_MATCH: Final = "void_amount_must_match"
"""A void gave an amount other than the full pending amount."""

# --- Reversals ---------------------------------------------------------------------------

TRANSFER_NOT_FOUND: Final = "transfer_not_found"
"""No transfer has the original_id of a reversal."""
CANNOT_REVERSE_PENDING: Final = "cannot_reverse_pending"
"""The original is a pending transfer: void it instead."""
CANNOT_REVERSE_VOID: Final = "cannot_reverse_void"
"""The original is a void, which moved no posted money."""
CANNOT_REVERSE_REVERSAL: Final = "cannot_reverse_reversal"
"""The original is itself a reversal."""
ALREADY_REVERSED: Final = "already_reversed"
"""The original already has a reversal (under another id)."""

# --- Idempotency: the id exists with different fields ------------------------------------

EXISTS_WITH_DIFFERENT_KIND: Final = "exists_with_different_kind"
"""The id belongs to a different kind of item (e.g. a reversal, replayed as a transfer)."""
EXISTS_WITH_DIFFERENT_DEBIT_ACCOUNT_ID: Final = "exists_with_different_debit_account_id"
"""The id exists with another debit account."""
EXISTS_WITH_DIFFERENT_CREDIT_ACCOUNT_ID: Final = "exists_with_different_credit_account_id"
"""The id exists with another credit account."""
EXISTS_WITH_DIFFERENT_AMOUNT: Final = "exists_with_different_amount"
"""The id exists with another amount (for a resolution: another posted or voided amount)."""
EXISTS_WITH_DIFFERENT_CURRENCY: Final = "exists_with_different_currency"
"""The id exists with another currency."""
EXISTS_WITH_DIFFERENT_CODE: Final = "exists_with_different_code"
"""The id exists with another transfer code."""
EXISTS_WITH_DIFFERENT_METADATA: Final = "exists_with_different_metadata"
"""The id exists with other metadata."""
EXISTS_WITH_DIFFERENT_PENDING: Final = "exists_with_different_pending"
"""The id exists as a single transfer and was replayed as pending, or the other way round."""
EXISTS_WITH_DIFFERENT_TIMEOUT_SECONDS: Final = "exists_with_different_timeout_seconds"
"""The id exists with another timeout."""
EXISTS_WITH_DIFFERENT_PENDING_ID: Final = "exists_with_different_pending_id"
"""The id exists as the resolution of another pending transfer."""
EXISTS_WITH_DIFFERENT_ACTION: Final = "exists_with_different_action"
"""The id exists as a post and was replayed as a void, or the other way round."""
EXISTS_WITH_DIFFERENT_ORIGINAL_ID: Final = "exists_with_different_original_id"
"""The id exists as the reversal of another transfer."""

# --- Linked chains -----------------------------------------------------------------------

LINKED_EVENT_FAILED: Final = "linked_event_failed"
"""Another item of this linked chain failed, so the whole chain was rolled back."""
LINKED_EVENT_CHAIN_OPEN: Final = "linked_event_chain_open"
"""The batch's last item is linked, so its chain never closes."""

# --- Opening accounts (raised as InvalidInput by ``open_account``) ----------------------

FLAGS_ARE_MUTUALLY_EXCLUSIVE: Final = "flags_are_mutually_exclusive"
"""Both "must not exceed" flags were set on one account."""
OVERDRAFT_LIMIT_MUST_NOT_BE_NEGATIVE: Final = "overdraft_limit_must_not_be_negative"
"""The overdraft limit is below zero."""
OVERDRAFT_LIMIT_REQUIRES_FLAG: Final = "overdraft_limit_requires_flag"
"""An overdraft limit was given for an account with no "must not exceed" flag."""

TRANSFER_FAILURE_CODES: Final = frozenset(
    value for name, value in dict(globals()).items() if name.isupper() and isinstance(value, str)
) - {FLAGS_ARE_MUTUALLY_EXCLUSIVE, OVERDRAFT_LIMIT_MUST_NOT_BE_NEGATIVE, OVERDRAFT_LIMIT_REQUIRES_FLAG}
"""Every code an ``ItemResult`` can carry."""
