"""Exchange rates and the rate book that derives every cross rate through one pivot currency.

A ``Rate`` says: one unit of ``base`` is worth ``value`` units of ``quote`` (major units, the
way rates are published: EUR->USD 1.0812). Stored rates are always *pivot-based*: their base
is the pivot (EUR by default, as the ECB publishes EUR-based rates), so ops enters a manual
Kuwaiti dinar rate as EUR->KWD too.

Choosing a rate (``RateBook.pivot_rate``): among the rates of one currency that are in effect
(``as_of <= now``), the one with the newest ``as_of`` wins, whatever its source; on equal
``as_of`` a manual rate beats a feed, then the later ``fetched_at``, then the source name, so
the choice never depends on input order. A manual rate therefore overrides the ECB until the
ECB publishes a newer one, complements it for currencies the ECB does not publish (KWD, BHD,
JOD...), and a stale manual rate never hides a fresh feed rate.

Cross rates (``RateBook.rate``): ``rate(A, B) = p(B) / p(A)`` where ``p(X)`` is the chosen
pivot->X rate, divided in ``RATE_CONTEXT`` (``CROSS_RATE_DIGITS`` significant digits, half-even).
Rates to and from the pivot are ``p(B)`` as published and ``1 / p(A)``. What holds:

- one path: every pair has exactly one rate for a given book and ``now``; there is no
  A->C->B route that could disagree with A->B;
- deterministic: the same book, pair and ``now`` always give the same ``Decimal``, whatever
  Python's thread-local decimal context says;
- inverse: ``rate(A, B)`` and ``rate(B, A)`` are the quotients ``p(B)/p(A)`` and ``p(A)/p(B)``,
  exact reciprocals, each kept exact (a published rate) or rounded half-even to
  ``P = CROSS_RATE_DIGITS`` significant digits (relative error at most ``10**(1 - P) / 2``), so
  ``|rate(A, B) * rate(B, A) - 1| <= 10**(1 - P) + 10**(2 - 2P) / 4`` (``INVERSE_TOLERANCE``);
- conversions of amounts (``domain.fx.conversion``) multiply exactly and round once with a
  named mode, so a given rate and amount always give the same minor units.

Error codes: ``rate_unavailable``, ``stale_rate``, ``rate_not_pivot_based``, ``same_currency``,
``invalid_rate``, ``naive_datetime``, ``invalid_max_age`` (plus ``unknown_currency``).
"""

from __future__ import annotations

import decimal
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal

import msgspec

from domain.shared.errors import DomainError, InvalidInput
from domain.shared.money import currency

PIVOT = "EUR"
"""The default pivot: the ECB publishes every reference rate against the euro."""
MANUAL_SOURCE = "manual"
"""The source of rates set by operations; it wins ties on ``as_of`` against any feed."""
CROSS_RATE_DIGITS = 20
"""Significant digits of a derived (inverse or cross) rate."""
RATE_CONTEXT = decimal.Context(prec=CROSS_RATE_DIGITS, rounding=decimal.ROUND_HALF_EVEN)
"""The only context rates are divided in."""
INVERSE_TOLERANCE = decimal.Context(prec=2 * CROSS_RATE_DIGITS).add(
    Decimal(f"1E{1 - CROSS_RATE_DIGITS}"), Decimal(f"25E{-2 * CROSS_RATE_DIGITS}")
)
"""The bound on ``|rate(A, B) * rate(B, A) - 1|``."""


class Rate(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One unit of ``base`` is worth ``value`` units of ``quote``, per ``source`` at ``as_of``."""

    base: str
    quote: str
    value: Decimal
    """Positive and finite; used exactly as given (never rounded again)."""
    source: str
    """Who published it: ``"ECB"``, ``"manual"``; a derived rate joins its legs' sources with ``+``."""
    as_of: datetime
    """The moment the rate describes (the ECB's reference time, or when ops set it)."""
    fetched_at: datetime
    """When Bursar received it."""

    def __post_init__(self) -> None:
        currency(self.base)
        currency(self.quote)
        if self.base == self.quote:
            raise InvalidInput(f"a rate needs two different currencies, got {self.base} twice", code="same_currency")
        if not isinstance(self.value, Decimal) or not self.value.is_finite() or self.value <= 0:
            raise InvalidInput(f"a rate is a positive finite Decimal, got {self.value!r}", code="invalid_rate")
        require_aware(self.as_of, "as_of")
        require_aware(self.fetched_at, "fetched_at")


def require_aware(moment: datetime, name: str) -> None:
    """Refuse a naive datetime: every time in Bursar carries its UTC offset."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidInput(f"{name} must be timezone-aware (UTC)", code="naive_datetime")


def require_pivot_based(rate: Rate, pivot: str = PIVOT) -> None:
    """Refuse a rate whose base is not the pivot: the book could not use it."""
    if rate.base != pivot:
        raise InvalidInput(
            f"rates are stored against the pivot {pivot}: give {pivot}->{rate.quote}, not {rate.base}->{rate.quote}",
            code="rate_not_pivot_based",
        )


class RateBook:
    """Pivot-based rates from any number of sources, answering the rate of any pair at ``now``."""

    def __init__(self, rates: Iterable[Rate], *, max_age: timedelta, pivot: str = PIVOT) -> None:
        """``max_age``: a chosen rate whose ``as_of`` is further than this before ``now`` is stale."""
        currency(pivot)
        if max_age <= timedelta(0):
            raise InvalidInput("the maximum age of a rate must be positive", code="invalid_max_age")
        self.pivot = pivot
        self.max_age = max_age
        self._candidates: dict[str, list[Rate]] = {}
        for rate in rates:
            require_pivot_based(rate, pivot)
            self._candidates.setdefault(rate.quote, []).append(rate)

    def rate(self, base: str, quote: str, now: datetime) -> Rate:
        """The rate from ``base`` to ``quote`` at ``now``, through the pivot.

        Raises ``rate_unavailable`` or ``stale_rate`` for a leg, ``same_currency`` for A->A.
        """
        currency(base)
        currency(quote)
        if base == quote:
            raise InvalidInput(f"no exchange is needed from {base} to itself", code="same_currency")
        if base == self.pivot:
            return self.pivot_rate(quote, now)
        if quote == self.pivot:
            return _inverse(self.pivot_rate(base, now))
        return _cross(self.pivot_rate(base, now), self.pivot_rate(quote, now))

    def pivot_rate(self, currency_code: str, now: datetime) -> Rate:
        """The chosen pivot->``currency_code`` rate at ``now`` (see the module's precedence rule)."""
        require_aware(now, "now")
        in_effect = [r for r in self._candidates.get(currency_code, ()) if r.as_of <= now]
        if not in_effect:
            raise DomainError(f"no {self.pivot}->{currency_code} rate is available", code="rate_unavailable")
        chosen = max(in_effect, key=_precedence)
        if now - chosen.as_of > self.max_age:
            raise DomainError(
                f"the newest {self.pivot}->{currency_code} rate is from {chosen.as_of.isoformat()}, "
                f"older than the {self.max_age} allowed",
                code="stale_rate",
            )
        return chosen


def _precedence(rate: Rate) -> tuple[datetime, bool, datetime, str]:
    return (rate.as_of, rate.source == MANUAL_SOURCE, rate.fetched_at, rate.source)


def _inverse(rate: Rate) -> Rate:
    return Rate(
        base=rate.quote,
        quote=rate.base,
        value=RATE_CONTEXT.divide(Decimal(1), rate.value),
        source=rate.source,
        as_of=rate.as_of,
        fetched_at=rate.fetched_at,
    )


def _cross(base_leg: Rate, quote_leg: Rate) -> Rate:
    """From pivot->A and pivot->B, the rate A->B; as old as its older leg."""
    sources = dict.fromkeys((base_leg.source, quote_leg.source))
    return Rate(
        base=base_leg.quote,
        quote=quote_leg.quote,
        value=RATE_CONTEXT.divide(quote_leg.value, base_leg.value),
        source="+".join(sources),
        as_of=min(base_leg.as_of, quote_leg.as_of),
        fetched_at=min(base_leg.fetched_at, quote_leg.fetched_at),
    )
