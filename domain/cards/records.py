"""Authorizations and card transactions as recorded, each linked to its ledger transfers."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from domain.cards.authorization import Merchant, WebhookVerdict

AuthorizationStatus = Literal["declined", "pending", "closed", "reversed", "expired"]
TransactionKind = Literal["clearing", "force_post", "refund"]


class Authorization(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    card_id: str
    cardholder_id: str
    message_id: str
    status: AuthorizationStatus
    approved: bool
    response_code: str
    decline_reason: str | None = None
    amount: int
    currency: str
    approved_amount: int
    card_amount: int
    card_currency: str
    fee: int = 0
    rate: str | None = None
    merchant: Merchant
    hold_transfer_id: str | None = None
    held: int = 0
    cleared: int = 0
    counted: int = 0
    expires_at: datetime | None = None
    decision_webhook: WebhookVerdict | None = None
    created_at: datetime
    updated_at: datetime


class CardTransaction(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    card_id: str
    authorization_id: str | None
    message_id: str
    kind: TransactionKind
    amount: int
    currency: str
    card_amount: int
    card_currency: str
    fee: int = 0
    transfer_ids: tuple[str, ...]
    shortfall: int = 0
    merchant: Merchant
    created_at: datetime
