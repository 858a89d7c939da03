from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Protocol

import msgspec

from domain.cards.controls import Usage
from domain.cards.model import Card, Cardholder, DecisionWebhook, Program
from domain.cards.records import Authorization, CardTransaction


class CardsRepository(Protocol):
    """Programs, cardholders, cards and their network activity, inside one unit of work."""

    async def add_program(self, program: Program) -> None: ...
    async def get_program(self, program_id: str) -> Program | None: ...

    async def add_cardholder(self, cardholder: Cardholder) -> None: ...
    async def get_cardholder(self, cardholder_id: str, *, lock: bool = False) -> Cardholder | None: ...
    async def update_cardholder(self, cardholder: Cardholder) -> None: ...

    async def add_card(self, card: Card) -> None: ...
    async def get_card(self, card_id: str, *, lock: bool = False) -> Card | None: ...
    async def card_by_token(self, token: str) -> Card | None: ...
    async def update_card(self, card: Card) -> None: ...

    async def usage(self, *, card_id: str | None = None, cardholder_id: str | None = None,
                    now: datetime, since: datetime | None = None) -> Usage:
        """Approved, not reversed amounts and counts per window (docs/cards.md) for one card or
        holder. With ``since`` (``controls.usage_since`` of the limits that will read it), only what
        was authorized from ``since`` on is summed, and windows that begin earlier are left out."""
        ...

    async def add_authorization(self, authorization: Authorization) -> None: ...
    async def get_authorization(self, authorization_id: str, *, lock: bool = False) -> Authorization | None: ...
    async def update_authorization(self, authorization: Authorization) -> None: ...
    async def set_hold(self, authorization_id: str, hold_transfer_id: str) -> None:
        """The authorization's live ledger hold is now ``hold_transfer_id``."""
        ...
    async def due_authorizations(self, now: datetime, limit: int) -> list[str]:
        """Ids of pending authorizations whose hold expired by ``now``."""
        ...
    async def authorizations(self, card_id: str, after: str | None, limit: int) -> list[Authorization]: ...

    async def add_transaction(self, transaction: CardTransaction) -> None: ...
    async def transactions(self, card_id: str, after: str | None, limit: int) -> list[CardTransaction]: ...

    async def recall_message(self, message_id: str) -> tuple[str, dict[str, Any]] | None:
        """``(request hash, response)`` of a network message already answered."""
        ...
    async def remember_message(self, message_id: str, kind: str, request_hash: str, request: dict[str, Any],
                               response: dict[str, Any], at: datetime) -> None: ...

    # -- many at once, for the batched authorization path ---------------------------------

    async def cards_by_tokens(self, tokens: list[str]) -> dict[str, Card]:
        """``card_by_token`` of each token (one read), by token; unknown tokens are left out."""
        ...
    async def queue_recall_messages(self, message_ids: list[str]
                                    ) -> Callable[[], Awaitable[dict[str, tuple[str, dict[str, Any]]]]]:
        """``recall_message`` of each message id, by id (those answered before only), queued in the
        caller's ``uow.reads()`` block."""
        ...
    async def queue_lock_for_authorizations(
            self, cardholder_ids: list[str], card_ids: list[str], now: datetime, *, card_since: datetime | None = None,
            holder_since: datetime | None = None, with_card_usage: bool = True,
    ) -> Callable[[], Awaitable[tuple[dict[str, Cardholder], dict[str, Card], dict[str, Usage], dict[str, Usage]]]]:
        """Lock the cardholders, then the cards, each in ascending id order, and read the usage of
        every card and every cardholder (from ``card_since`` / ``holder_since``, as ``usage``),
        queued in the caller's ``uow.reads()`` block: ``(holders, cards, card usage, holder usage)``
        by id. Without ``with_card_usage`` (no card has a limit over a window: ``counts_usage``)
        the cards' usage is not read, and is zero."""
        ...
    async def add_authorizations(self, authorizations: list[Authorization]) -> None: ...
    async def remember_messages(self, messages: list[tuple[str, str, str, dict[str, Any], dict[str, Any], datetime]]
                                ) -> None:
        """``remember_message`` for many: ``(message_id, kind, request_hash, request, response, at)`` each."""
        ...


class DecisionAnswer(msgspec.Struct, frozen=True, kw_only=True):
    approved: bool | None
    """The endpoint's decision; None when no usable answer came in time."""
    reason: str | None = None
    """The endpoint's reason, or why its answer was unusable (never a secret)."""
    elapsed_ms: int = 0


class DecisionWebhookClient(Protocol):
    async def ask(self, webhook: DecisionWebhook, request_id: str, body: dict[str, Any]) -> DecisionAnswer:
        """POST the signed request and wait at most ``webhook.timeout_ms``. Never raises: a timeout,
        an error status or an unreadable body is an answer with ``approved=None``."""
        ...
