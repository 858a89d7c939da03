"""Events: facts the core publishes about its resources, each with a snapshot of the resource.

A use case that changes a card or an authorization writes the matching event through the
``Outbox`` port inside the same unit of work, so the event exists if and only if the change
committed. The dispatcher later turns every event into signed webhooks (``webhooks.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final, Literal

import msgspec

from domain.shared.errors import InvalidInput

CARD_CREATED: Final = "card.created"
CARD_UPDATED: Final = "card.updated"
AUTHORIZATION_APPROVED: Final = "authorization.approved"
AUTHORIZATION_DECLINED: Final = "authorization.declined"
AUTHORIZATION_REVERSED: Final = "authorization.reversed"
AUTHORIZATION_EXPIRED: Final = "authorization.expired"
TRANSACTION_CLEARED: Final = "transaction.cleared"
TRANSACTION_REFUNDED: Final = "transaction.refunded"

EventType = Literal[
    "card.created",
    "card.updated",
    "authorization.approved",
    "authorization.declined",
    "authorization.reversed",
    "authorization.expired",
    "transaction.cleared",
    "transaction.refunded",
]

EVENT_TYPES: Final[tuple[str, ...]] = (
    CARD_CREATED,
    CARD_UPDATED,
    AUTHORIZATION_APPROVED,
    AUTHORIZATION_DECLINED,
    AUTHORIZATION_REVERSED,
    AUTHORIZATION_EXPIRED,
    TRANSACTION_CLEARED,
    TRANSACTION_REFUNDED,
)


class Event(msgspec.Struct, frozen=True, kw_only=True):
    """One published fact. ``id`` (UUIDv7 text) is also the ``webhook-id`` of every delivery of it,
    so receivers deduplicate on it; ``data`` is the resource as it was when the event happened."""

    id: str
    type: str
    created_at: datetime
    data: dict[str, Any]

    def __post_init__(self) -> None:
        if self.type not in EVENT_TYPES:
            raise InvalidInput(f"unknown event type {self.type!r}", code="unknown_event_type")
        if self.created_at.tzinfo is None:
            raise InvalidInput("an event's created_at must carry a time zone (UTC)")
        if not self.id:
            raise InvalidInput("an event needs an id")
        # JSON-ready builtins only (times as RFC 3339 text, decimals as strings...), so the event
        # reads back from any store exactly as it was written and is what receivers get.
        data = msgspec.to_builtins(self.data)
        if not isinstance(data, dict):
            raise InvalidInput("an event's data must be an object")
        msgspec.structs.force_setattr(self, "data", data)

    @classmethod
    def of(cls, *, id: str, type: str, at: datetime, resource: msgspec.Struct | Mapping[str, Any]) -> Event:
        """An event whose data is a snapshot of ``resource``: a struct's fields (or a mapping's
        items) as JSON-ready builtins."""
        data = msgspec.to_builtins(resource)
        if not isinstance(data, dict):
            raise InvalidInput("an event's resource must be an object")
        return cls(id=id, type=type, created_at=at, data=data)
