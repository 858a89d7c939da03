"""Spending controls: amount limits per interval, count limits, MCC and country lists.

Intervals are UTC calendar windows, documented in docs/cards.md:
``daily`` from 00:00 UTC today, ``weekly`` from Monday 00:00 UTC, ``monthly`` from the 1st at
00:00 UTC, ``yearly`` from 1 January 00:00 UTC, ``all_time`` since the card (or cardholder)
began; ``per_authorization`` caps one authorization. Limits count approved, not reversed
amounts in the card currency, including the authorization being decided.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Literal

import msgspec

from domain.shared.errors import InvalidInput

Interval = Literal["per_authorization", "daily", "weekly", "monthly", "yearly", "all_time"]
WINDOWS: tuple[Interval, ...] = ("daily", "weekly", "monthly", "yearly", "all_time")


class SpendingLimit(msgspec.Struct, frozen=True, kw_only=True):
    amount: int
    interval: Interval


class CountLimit(msgspec.Struct, frozen=True, kw_only=True):
    count: int
    interval: Interval


class Controls(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    spending_limits: tuple[SpendingLimit, ...] = ()
    allowed_mccs: tuple[str, ...] | None = None
    blocked_mccs: tuple[str, ...] | None = None
    allowed_countries: tuple[str, ...] | None = None
    blocked_countries: tuple[str, ...] | None = None
    max_authorizations: CountLimit | None = None

    def __post_init__(self) -> None:
        for limit in self.spending_limits:
            if type(limit.amount) is not int or limit.amount < 0:
                raise InvalidInput("a spending limit is a non-negative integer amount", code="invalid_controls")
        if self.max_authorizations is not None:
            if self.max_authorizations.count < 0 or self.max_authorizations.interval == "per_authorization":
                raise InvalidInput("max_authorizations counts over a window, from 0", code="invalid_controls")

    def intervals(self) -> list[Interval]:
        """The intervals its amount and count limits count over."""
        found = [limit.interval for limit in self.spending_limits]
        if self.max_authorizations is not None:
            found.append(self.max_authorizations.interval)
        return found

    def merged_over(self, base: Controls) -> Controls:
        """These controls where set, else ``base``'s (a card's own over its program's defaults)."""
        fields = {}
        for name in self.__struct_fields__:
            mine = getattr(self, name)
            fields[name] = mine if mine not in (None, ()) else getattr(base, name)
        return Controls(**fields)


NO_CONTROLS = Controls()


class Usage(msgspec.Struct, frozen=True, kw_only=True):
    """Approved, not reversed amounts and counts so far, per window, in the card currency."""

    amounts: dict[str, int] = {}
    counts: dict[str, int] = {}


def window_start(interval: Interval, now: datetime) -> datetime | None:
    """Where ``interval``'s current UTC window begins (``None``: all time)."""
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if interval == "daily":
        return day
    if interval == "weekly":
        return day - timedelta(days=day.weekday())
    if interval == "monthly":
        return day.replace(day=1)
    if interval == "yearly":
        return day.replace(month=1, day=1)
    return None


def usage_since(controls: Iterable[Controls], now: datetime) -> datetime | None:
    """The earliest instant whose authorizations the window limits of ``controls`` count: usage
    need not be summed before it. ``None`` when one counts all time; ``now`` when none has a
    window (only per-authorization caps, or no limits)."""
    return windows_since((interval for c in controls for interval in c.intervals()), now)


def counts_usage(controls: Controls) -> bool:
    """Whether ``controls`` have a limit over a window: one that needs the usage so far."""
    return any(interval != "per_authorization" for interval in controls.intervals())


def windows_since(intervals: Iterable[Interval], now: datetime) -> datetime | None:
    """The earliest start of the current windows of ``intervals`` (see ``usage_since``)."""
    since = now
    for interval in intervals:
        if interval == "per_authorization":
            continue
        start = window_start(interval, now)
        if start is None:
            return None
        since = min(since, start)
    return since


def earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    """The earlier of two ``usage_since`` bounds (``None``, all time, is the earliest)."""
    return None if a is None or b is None else min(a, b)


class ControlDecline(msgspec.Struct, frozen=True, kw_only=True):
    response_code: str
    reason: str


def check_merchant(controls: Controls, mcc: str, country: str) -> ControlDecline | None:
    if controls.allowed_mccs is not None and mcc not in controls.allowed_mccs:
        return ControlDecline(response_code="57", reason="mcc_not_allowed")
    if controls.blocked_mccs is not None and mcc in controls.blocked_mccs:
        return ControlDecline(response_code="57", reason="mcc_blocked")
    if controls.allowed_countries is not None and country not in controls.allowed_countries:
        return ControlDecline(response_code="57", reason="country_not_allowed")
    if controls.blocked_countries is not None and country in controls.blocked_countries:
        return ControlDecline(response_code="57", reason="country_blocked")
    return None


def headroom(controls: Controls, usage: Usage, this_authorization: int = 0) -> int | None:
    """The most an authorization may add under the amount limits (``None``: no limit). Window
    limits count ``usage``; ``per_authorization`` counts ``this_authorization``, what the
    authorization already counts (0 for a new one; its amount so far for an increment)."""
    room = None
    for limit in controls.spending_limits:
        spent = this_authorization if limit.interval == "per_authorization" else usage.amounts.get(limit.interval, 0)
        left = max(0, limit.amount - spent)
        room = left if room is None else min(room, left)
    return room


def check_count(controls: Controls, usage: Usage) -> ControlDecline | None:
    limit = controls.max_authorizations
    if limit is not None and usage.counts.get(limit.interval, 0) + 1 > limit.count:
        return ControlDecline(response_code="65", reason="authorization_count_exceeded")
    return None
