"""Transaction monitoring: rules as data, evaluated against a subject's recent activity.

A **rule set** is a JSON document, ``{"rules": [...]}``; each rule names its ``type``, a unique
``id`` and an ``action``: ``decline`` rules are evaluated in real time on an activity that has not
happened yet (the authorization path asks before approving), ``alert`` rules after the fact on
recorded activity, raising alerts for a person to review. The rule types:

``amount_threshold``
    One activity of ``amount`` >= ``threshold`` (in ``currency``).
``velocity``
    Within ``window_seconds`` up to and including this activity, more than ``max_count``
    activities, or a total of more than ``max_amount`` (in ``currency``; ``max_count`` alone
    counts every currency unless ``currency`` is given). Reaching the maximum is allowed;
    exceeding it fires.
``structuring``
    This activity is *just under* ``threshold`` (``threshold - margin <= amount < threshold``),
    and with it at least ``min_count`` such activities fall within ``window_seconds``.
``high_risk``
    The merchant category code is one of ``mccs`` or the merchant country one of ``countries``.
``funding_then_spending``
    An authorization that, with the authorizations since the first funding within
    ``window_seconds``, spends at least ``min_spent_bps`` basis points of what those fundings
    brought in, when they brought in at least ``min_funding``.

The rules that look at one kind of activity take ``kinds`` (default: authorizations only); the
activity being evaluated must be of one of them, and so must the history they count.

**Rules read tallies, not rows.** Every windowed rule needs only counts and sums of the activity
that matches it (``Rule.tallies``); a store sums those where the activity is kept, so judging an
activity reads one row however busy its subject is: the real-time check sums each subject's
windows (``RecentActivity``), the alert evaluation each awaiting activity's (``take_awaiting_alerts``
in the ports). ``funding_then_spending`` counts the authorizations since the first funding in its
window: a tally *anchored* at another's first activity (``Tally.since_first_of``). Within a batch
of real-time checks, an anchored tally cannot follow the batch's own approvals from the sums alone,
so a real-time rule that has one is given the rows (``RecentQuery``). Rows and tallies share one
judgement per rule (``_judge``), fed by ``Tally.over`` on rows.

**Windows** end at the activity being evaluated and reach back ``window_seconds``: an earlier
activity is inside when it happened *less* than ``window_seconds`` before (``at - window < t <=
at``). Amounts are integer minor units; a rule with a ``currency`` ignores other currencies.

Error codes: ``invalid_rules`` (a document that is not a valid rule set), ``invalid_activity``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Annotated, Final, Literal, NamedTuple

import msgspec
from msgspec import Meta

from domain.shared.errors import InvalidInput

ActivityKind = Literal["funding", "authorization"]
RuleAction = Literal["decline", "alert"]

MAX_WINDOW_SECONDS: Final = 31 * 86400
"""The longest window a rule may look back over: it bounds the history read per evaluation."""
MAX_RULES: Final = 200

Currency = Annotated[str, Meta(pattern=r"^[A-Z]{3}$", description="ISO 4217 alphabetic code")]
RuleId = Annotated[str, Meta(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$", description="unique within the rule set")]
WindowSeconds = Annotated[int, Meta(ge=1, le=MAX_WINDOW_SECONDS)]
Amount = Annotated[int, Meta(ge=1, le=2**62, description="integer minor units of the rule's currency")]
Mcc = Annotated[str, Meta(pattern=r"^\d{4}$", description="ISO 18245 merchant category code")]
CountryCode = Annotated[str, Meta(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")]
Kinds = Annotated[tuple[ActivityKind, ...], Meta(min_length=1)]
Description = Annotated[str, Meta(max_length=500)]

_CURRENCY: Final = re.compile(r"^[A-Z]{3}$")
_MCC: Final = re.compile(r"^\d{4}$")
_COUNTRY: Final = re.compile(r"^[A-Z]{2}$")


class ActivityEvent(msgspec.Struct, frozen=True, kw_only=True):
    """Something a subject's card did, or money that reached it.

    ``id`` identifies the activity (an authorization or funding id): recording it twice has no
    second effect."""

    id: str
    subject_id: str
    """Whose activity it is: the cardholder (the subject screened and monitored)."""
    card_id: str | None = None
    kind: ActivityKind
    amount: int
    """Integer minor units of ``currency``."""
    currency: str
    mcc: str | None = None
    country: str | None = None
    """The merchant's country, ISO 3166-1 alpha-2."""
    at: datetime
    """When it happened (timezone-aware)."""


def by_subject(history: Iterable[ActivityEvent]) -> dict[str, list[ActivityEvent]]:
    """The events grouped by subject, each group in the order given."""
    grouped: dict[str, list[ActivityEvent]] = {}
    for event in history:
        grouped.setdefault(event.subject_id, []).append(event)
    return grouped


class Counted(NamedTuple):
    """How many activities a tally counted, and their amounts' sum (minor units)."""

    count: int
    amount: int


class Tally(msgspec.Struct, frozen=True, kw_only=True):
    """A count and sum a windowed rule needs of a subject's earlier activity: the activities of
    ``kinds`` (in ``currency`` when given, with ``min_amount <= amount < below`` when given) inside
    the window of ``window_seconds`` that ends at the activity judged; when ``since_first_of`` is
    given, only those at or after the first activity that tally counts (none: nothing counted)."""

    window_seconds: int
    kinds: tuple[ActivityKind, ...]
    currency: str | None = None
    min_amount: int | None = None
    below: int | None = None
    since_first_of: Tally | None = None

    def counts(self, event: ActivityEvent) -> bool:
        """Whether ``event`` is of the kind, currency and amount counted (its time aside)."""
        return (event.kind in self.kinds and (self.currency is None or event.currency == self.currency)
                and (self.min_amount is None or event.amount >= self.min_amount)
                and (self.below is None or event.amount < self.below))

    def over(self, history: Sequence[ActivityEvent], at: datetime, excluding: str | None = None) -> Counted:
        """The tally of ``history`` in the window ending at ``at`` (the activity ``excluding`` aside:
        the one judged)."""
        first = None
        if self.since_first_of is not None:
            anchor = self.since_first_of
            first = min((e.at for e in _within(history, at, excluding, anchor.window_seconds) if anchor.counts(e)),
                        default=None)
            if first is None:
                return Counted(0, 0)
        count = amount = 0
        for e in _within(history, at, excluding, self.window_seconds):
            if self.counts(e) and (first is None or e.at >= first):
                count += 1
                amount += e.amount
        return Counted(count, amount)

    @property
    def anchored(self) -> bool:
        """Whether the tally counts from another's first activity (``since_first_of``)."""
        return self.since_first_of is not None


def validate_event(event: ActivityEvent) -> None:
    """Raise ``InvalidInput`` (``invalid_activity``) unless the event is well formed."""
    problems = []
    if not event.id or len(event.id) > 128:
        problems.append("id must be 1 to 128 characters")
    if not event.subject_id or len(event.subject_id) > 128:
        problems.append("subject_id must be 1 to 128 characters")
    if event.kind not in ("funding", "authorization"):
        problems.append(f"kind must be funding or authorization, not {event.kind!r}")
    if not 0 <= event.amount <= 2**62:
        problems.append("amount must be a non-negative integer of minor units")
    if not _CURRENCY.match(event.currency):
        problems.append("currency must be an ISO 4217 code such as USD")
    if event.mcc is not None and not _MCC.match(event.mcc):
        problems.append("mcc must be four digits")
    if event.country is not None and not _COUNTRY.match(event.country):
        problems.append("country must be an ISO 3166-1 alpha-2 code such as FR")
    if event.at.tzinfo is None:
        problems.append("at must be timezone-aware")
    if problems:
        raise InvalidInput(f"activity {event.id!r}: " + "; ".join(problems), code="invalid_activity")


class RuleHit(msgspec.Struct, frozen=True, kw_only=True):
    """A rule that fired, and why."""

    rule_id: str
    type: str
    action: RuleAction
    reason: str


class Alert(msgspec.Struct, frozen=True, kw_only=True):
    """An alert rule fired on recorded activity; it belongs to the subject's monitoring case."""

    id: str
    subject_id: str
    case_id: str
    event_id: str
    card_id: str | None
    kind: ActivityKind
    amount: int
    currency: str
    rule_id: str
    rule_type: str
    rules_version: int
    reason: str
    raised_at: datetime


class _Rule(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag_field="type"):
    id: RuleId
    action: RuleAction
    description: Description = ""
    enabled: bool = True

    def hit(self, event: ActivityEvent, history: Sequence[ActivityEvent]) -> RuleHit | None:
        reason = self._reason(event, history)
        return None if reason is None else RuleHit(rule_id=self.id, type=self.type_name(), action=self.action,
                                                    reason=reason)

    def lookback(self) -> int:
        """How far back the rule looks, in seconds (0: only at the activity itself)."""
        return 0

    def tallies(self) -> tuple[Tally, ...]:
        """What the rule counts of earlier activity (none: it looks at the activity alone)."""
        return ()

    def hit_tallied(self, event: ActivityEvent, counted: Mapping[Tally, Counted]) -> RuleHit | None:
        """``hit`` from the tallies of earlier activity (``counted`` holds at least ``tallies()``)."""
        reason = self._judge(event, counted)
        return None if reason is None else RuleHit(rule_id=self.id, type=self.type_name(), action=self.action,
                                                    reason=reason)

    def type_name(self) -> str:
        """The rule's ``type`` in the document."""
        return str(self.__struct_config__.tag)

    def _reason(self, event: ActivityEvent, history: Sequence[ActivityEvent]) -> str | None:
        return self._judge(event, {t: t.over(history, event.at, event.id) for t in self.tallies()})

    def _judge(self, event: ActivityEvent, counted: Mapping[Tally, Counted]) -> str | None:
        raise NotImplementedError


class AmountThreshold(_Rule, frozen=True, kw_only=True, tag="amount_threshold"):
    """One activity of ``threshold`` or more."""

    currency: Currency
    threshold: Amount
    kinds: Kinds = ("authorization",)

    def _judge(self, event: ActivityEvent, counted: Mapping[Tally, Counted]) -> str | None:
        if event.kind in self.kinds and event.currency == self.currency and event.amount >= self.threshold:
            return f"{event.kind} of {_money(event.amount, event.currency)} is at or above {_money(self.threshold, self.currency)}"
        return None


class Velocity(_Rule, frozen=True, kw_only=True, tag="velocity"):
    """More than ``max_count`` activities, or more than ``max_amount`` in all, within the window."""

    window_seconds: WindowSeconds
    max_count: Annotated[int, Meta(ge=0)] | None = None
    max_amount: Annotated[int, Meta(ge=0, le=2**62)] | None = None
    currency: Currency | None = None
    kinds: Kinds = ("authorization",)

    def __post_init__(self) -> None:
        if self.max_count is None and self.max_amount is None:
            raise ValueError(f"velocity rule {self.id}: give max_count, max_amount or both")
        if self.max_amount is not None and self.currency is None:
            raise ValueError(f"velocity rule {self.id}: max_amount needs a currency")

    def lookback(self) -> int:
        return self.window_seconds

    def tallies(self) -> tuple[Tally, ...]:
        return (self._tally(),)

    def _tally(self) -> Tally:
        return Tally(window_seconds=self.window_seconds, kinds=self.kinds, currency=self.currency)

    def _judge(self, event: ActivityEvent, counted: Mapping[Tally, Counted]) -> str | None:
        tally = self._tally()
        if not tally.counts(event):
            return None
        before = counted[tally]
        count, total = before.count + 1, before.amount + event.amount
        window = _duration(self.window_seconds)
        if self.max_count is not None and count > self.max_count:
            return f"{count} {_plural(self.kinds)} within {window}, more than {self.max_count}"
        if self.max_amount is not None and total > self.max_amount:
            return (f"{_money(total, self.currency or event.currency)} of {_plural(self.kinds)} within {window}, "
                    f"more than {_money(self.max_amount, self.currency or event.currency)}")
        return None


class Structuring(_Rule, frozen=True, kw_only=True, tag="structuring"):
    """At least ``min_count`` amounts just under ``threshold`` within the window."""

    currency: Currency
    threshold: Amount
    margin: Amount
    """How far under the threshold an amount is still *just* under it."""
    min_count: Annotated[int, Meta(ge=2, le=1000)]
    window_seconds: WindowSeconds
    kinds: Kinds = ("authorization",)

    def __post_init__(self) -> None:
        if self.margin > self.threshold:
            raise ValueError(f"structuring rule {self.id}: margin cannot exceed the threshold")

    def lookback(self) -> int:
        return self.window_seconds

    def tallies(self) -> tuple[Tally, ...]:
        return (self._tally(),)

    def _tally(self) -> Tally:
        """The activities just under the threshold."""
        return Tally(window_seconds=self.window_seconds, kinds=self.kinds, currency=self.currency,
                     min_amount=self.threshold - self.margin, below=self.threshold)

    def _judge(self, event: ActivityEvent, counted: Mapping[Tally, Counted]) -> str | None:
        tally = self._tally()
        if not tally.counts(event):
            return None
        count = 1 + counted[tally].count
        if count < self.min_count:
            return None
        return (f"{count} {_plural(self.kinds)} between {_money(self.threshold - self.margin, self.currency)} "
                f"and just under {_money(self.threshold, self.currency)} within {_duration(self.window_seconds)}")


class HighRisk(_Rule, frozen=True, kw_only=True, tag="high_risk"):
    """A merchant category code or merchant country on the rule's lists."""

    mccs: tuple[Mcc, ...] = ()
    countries: tuple[CountryCode, ...] = ()
    kinds: Kinds = ("authorization",)

    def __post_init__(self) -> None:
        if not self.mccs and not self.countries:
            raise ValueError(f"high_risk rule {self.id}: give mccs, countries or both")

    def _judge(self, event: ActivityEvent, counted: Mapping[Tally, Counted]) -> str | None:
        if event.kind not in self.kinds:
            return None
        found = []
        if event.mcc is not None and event.mcc in self.mccs:
            found.append(f"merchant category {event.mcc} is high-risk")
        if event.country is not None and event.country in self.countries:
            found.append(f"merchant country {event.country} is high-risk")
        return "; ".join(found) or None


class FundingThenSpending(_Rule, frozen=True, kw_only=True, tag="funding_then_spending"):
    """Money spent soon after it arrived: authorizations since the first funding in the window
    (this one included) of at least ``min_spent_bps`` of fundings totalling ``min_funding`` or more."""

    currency: Currency
    window_seconds: WindowSeconds
    min_funding: Amount
    min_spent_bps: Annotated[int, Meta(ge=1, le=10_000)]
    """Basis points of the funded amount: 8,000 is 80%."""

    def lookback(self) -> int:
        return self.window_seconds

    def tallies(self) -> tuple[Tally, ...]:
        fundings = self._fundings()
        return (fundings, self._spent(fundings))

    def _fundings(self) -> Tally:
        return Tally(window_seconds=self.window_seconds, kinds=("funding",), currency=self.currency)

    def _spent(self, fundings: Tally) -> Tally:
        """The authorizations since the first of ``fundings``."""
        return Tally(window_seconds=self.window_seconds, kinds=("authorization",), currency=self.currency,
                     since_first_of=fundings)

    def _judge(self, event: ActivityEvent, counted: Mapping[Tally, Counted]) -> str | None:
        if event.kind != "authorization" or event.currency != self.currency:
            return None
        fundings = self._fundings()
        funded = counted[fundings]
        if not funded.count or funded.amount < self.min_funding:
            return None
        spent = event.amount + counted[self._spent(fundings)].amount
        if spent * 10_000 < funded.amount * self.min_spent_bps:
            return None
        return (f"{_money(spent, self.currency)} spent within {_duration(self.window_seconds)} of fundings of "
                f"{_money(funded.amount, self.currency)} ({spent * 100 // funded.amount}%, "
                f"at least {self.min_spent_bps / 100:g}%)")


Rule = AmountThreshold | Velocity | Structuring | HighRisk | FundingThenSpending


class RuleSet(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The monitoring rules in force, as ops write them."""

    rules: Annotated[tuple[Rule, ...], Meta(max_length=MAX_RULES)]

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.id in seen:
                raise ValueError(f"two rules have the id {rule.id!r}")
            seen.add(rule.id)

    def active(self, action: RuleAction) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.enabled and r.action == action)

    def lookback(self, action: RuleAction) -> timedelta:
        """How much history the enabled rules of ``action`` need."""
        return timedelta(seconds=max((r.lookback() for r in self.active(action)), default=0))

    def tallies(self, action: RuleAction) -> tuple[Tally, ...]:
        """What the enabled rules of ``action`` count of earlier activity, each tally once."""
        return tuple(dict.fromkeys(t for rule in self.active(action) for t in rule.tallies()))

    def recent_query(self) -> RecentQuery:
        """What the real-time (``decline``) rules need of a subject's recent activity: tallies, or
        rows when a tally is anchored (``RecentActivity.add`` could not keep it)."""
        tallies = self.tallies("decline")
        if any(t.anchored for t in tallies):
            return RecentQuery(rows_seconds=max(r.lookback() for r in self.active("decline")))
        return RecentQuery(tallies=tallies)

    def judge(self, event: ActivityEvent, counted: Mapping[Tally, Counted], action: RuleAction
              ) -> tuple[RuleHit, ...]:
        """``evaluate`` from the tallies of the subject's earlier activity (``counted`` holds at
        least ``tallies(action)``)."""
        return tuple(hit for rule in self.active(action) if (hit := rule.hit_tallied(event, counted)) is not None)

    def evaluate(self, event: ActivityEvent, history: Iterable[ActivityEvent], action: RuleAction) -> tuple[RuleHit, ...]:
        """The enabled rules of ``action`` that fire on ``event``, given the subject's earlier
        activity (``history``; the event itself and activity after it are ignored)."""
        past = [e for e in history if e.id != event.id and e.subject_id == event.subject_id and e.at <= event.at]
        return tuple(hit for rule in self.active(action) if (hit := rule.hit(event, past)) is not None)


class RecentQuery(msgspec.Struct, frozen=True, kw_only=True):
    """What a store reads of a subject's recent activity for the real-time rules: the ``tallies``
    (summed where the activity is kept), or, when a tally is anchored, the rows of the last
    ``rows_seconds`` (and the rules count from them)."""

    tallies: tuple[Tally, ...] = ()
    rows_seconds: int | None = None

    def rows_since(self, now: datetime) -> datetime:
        """How far back the rows a store reads reach, to build ``RecentActivity.from_rows``."""
        return now - timedelta(seconds=max([self.rows_seconds or 0, *(t.window_seconds for t in self.tallies)]))


class RecentActivity:
    """A subject's recent activity as the real-time rules see it when judging activity at ``now``,
    read under the subject's lock: every activity stored was decided before, however its time was
    stamped, so the activity judged is stamped no earlier than the latest stored (``at``), and
    the windows end there: an event stamped earlier would not count that activity (``RuleSet.evaluate``
    ignores activity after the event). Activity approved after the read (earlier in the
    same batch) is ``add``-ed, so later activity counts it.

    Built by a store from its tallies (``latest`` and ``counted``), or from rows (``from_rows``)."""

    def __init__(self, now: datetime, latest: datetime | None, counted: Mapping[Tally, Counted],
                 rows: list[ActivityEvent] | None = None) -> None:
        self.at = _windows_end(now, latest)
        self._counted = dict(counted)
        self._rows = rows

    @classmethod
    def from_rows(cls, query: RecentQuery, now: datetime, rows: Sequence[ActivityEvent]) -> RecentActivity:
        """From the subject's rows of the last ``max(rows_seconds, the tallies' windows)`` before
        ``now`` and everything stored after it."""
        latest = max((e.at for e in rows), default=None)
        return cls(now, latest, {t: t.over(rows, _windows_end(now, latest)) for t in query.tallies},
                   list(rows) if query.rows_seconds is not None else None)

    @property
    def counted(self) -> Mapping[Tally, Counted]:
        """The tallies so far (empty when the rules are given the rows)."""
        return dict(self._counted)

    def stamp(self, event: ActivityEvent) -> ActivityEvent:
        """``event`` (of ``now``) at the time the windows end."""
        return event if event.at == self.at else msgspec.structs.replace(event, at=self.at)

    def hits(self, rules: RuleSet, event: ActivityEvent) -> tuple[RuleHit, ...]:
        """The real-time rules ``event`` (stamped) breaks."""
        self._check_stamped(event)
        if self._rows is not None:
            return rules.evaluate(event, self._rows, "decline")
        return rules.judge(event, self._counted, "decline")

    def add(self, event: ActivityEvent) -> None:
        """Count ``event`` (stamped, approved) for the activity judged after it."""
        self._check_stamped(event)
        for tally, (count, amount) in self._counted.items():
            if tally.counts(event):
                self._counted[tally] = Counted(count + 1, amount + event.amount)
        if self._rows is not None:
            self._rows.append(event)

    def _check_stamped(self, event: ActivityEvent) -> None:
        if event.at != self.at:
            raise ValueError("stamp the event first: the windows end at its time")


class RuleSetVersion(msgspec.Struct, frozen=True, kw_only=True):
    """One stored version of the rule set; version 0 is the shipped default."""

    version: int
    rules: RuleSet
    created_at: datetime | None = None
    created_by: str | None = None
    reason: str = ""


_DECODER: Final = msgspec.json.Decoder(RuleSet)


def parse_rule_set(document: bytes | str) -> RuleSet:
    """A rule set from its JSON document; ``InvalidInput`` (``invalid_rules``) naming what is wrong."""
    try:
        return _DECODER.decode(document)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise InvalidInput(f"not a valid monitoring rule set: {exc}", code="invalid_rules") from None


def encode_rule_set(rules: RuleSet) -> bytes:
    return msgspec.json.encode(rules)


def _windows_end(now: datetime, latest: datetime | None) -> datetime:
    """``now``, or the latest activity stored if later (``RecentActivity``)."""
    return now if latest is None or latest <= now else latest


def _within(history: Iterable[ActivityEvent], at: datetime, excluding: str | None, seconds: int
            ) -> list[ActivityEvent]:
    start = at - timedelta(seconds=seconds)
    return [e for e in history if start < e.at <= at and e.id != excluding]


def _money(amount: int, currency: str) -> str:
    return f"{amount:,} {currency} minor units"


def _plural(kinds: tuple[ActivityKind, ...]) -> str:
    return " or ".join(f"{k}s" for k in kinds)


def _duration(seconds: int) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"
