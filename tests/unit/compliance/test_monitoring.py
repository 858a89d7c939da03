"""Monitoring rules, each at its boundaries: just under, at and over; inside and at the edge of its window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.compliance_data import DEFAULT_RULES, load_default_rules
from domain.compliance.monitoring import (
    MAX_WINDOW_SECONDS,
    ActivityEvent,
    AmountThreshold,
    FundingThenSpending,
    HighRisk,
    RuleSet,
    Structuring,
    RecentActivity,
    RecentQuery,
    Tally,
    Velocity,
    encode_rule_set,
    parse_rule_set,
    validate_event,
)
from domain.shared.errors import InvalidInput

T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
_seq = iter(range(10**6))


def event(amount: int = 1_000, *, kind="authorization", seconds: float = 0, currency="USD", mcc="5411",
          country="US", subject="s1") -> ActivityEvent:
    return ActivityEvent(id=f"e{next(_seq)}", subject_id=subject, card_id="c1", kind=kind, amount=amount,
                         currency=currency, mcc=mcc, country=country, at=T0 + timedelta(seconds=seconds))


def fires(rule, current: ActivityEvent, history=()) -> bool:
    hits = RuleSet(rules=(rule,)).evaluate(current, history, rule.action)
    assert all(h.rule_id == rule.id and h.action == rule.action and h.reason for h in hits)
    return bool(hits)


# --- amount_threshold --------------------------------------------------------------------

THRESHOLD = AmountThreshold(id="big", action="decline", currency="USD", threshold=10_000)


@pytest.mark.parametrize(("amount", "expected"), [(9_999, False), (10_000, True), (10_001, True)])
def test_amount_threshold_fires_at_or_above(amount: int, expected: bool) -> None:
    assert fires(THRESHOLD, event(amount)) is expected


def test_amount_threshold_looks_at_its_currency_and_kinds_only() -> None:
    assert not fires(THRESHOLD, event(50_000, currency="EUR"))
    assert not fires(THRESHOLD, event(50_000, kind="funding"))
    both = AmountThreshold(id="big", action="alert", currency="USD", threshold=10_000, kinds=("funding", "authorization"))
    assert fires(both, event(50_000, kind="funding"))


def test_a_hit_explains_itself() -> None:
    [hit] = RuleSet(rules=(THRESHOLD,)).evaluate(event(12_345), [], "decline")
    assert (hit.rule_id, hit.type, hit.action) == ("big", "amount_threshold", "decline")
    assert hit.reason == "authorization of 12,345 USD minor units is at or above 10,000 USD minor units"


# --- velocity ----------------------------------------------------------------------------

COUNT = Velocity(id="burst", action="decline", window_seconds=60, max_count=3)
SUM = Velocity(id="daily", action="alert", window_seconds=86_400, max_amount=10_000, currency="USD")


@pytest.mark.parametrize(("earlier", "expected"), [(1, False), (2, False), (3, True)])
def test_velocity_count_fires_over_the_maximum(earlier: int, expected: bool) -> None:
    history = [event(seconds=-i) for i in range(1, earlier + 1)]
    assert fires(COUNT, event(), history) is expected  # earlier + this one, against at most 3


def test_velocity_window_edges() -> None:
    inside = [event(seconds=-59), event(seconds=-30), event(seconds=-1)]
    assert fires(COUNT, event(), inside)
    edge = [event(seconds=-60), event(seconds=-30), event(seconds=-1)]  # exactly a window ago: outside
    assert not fires(COUNT, event(), edge)
    later = [event(seconds=1), event(seconds=2), event(seconds=3)]  # after the activity: not history
    assert not fires(COUNT, event(), later)


@pytest.mark.parametrize(("amount", "expected"), [(3_999, False), (4_000, False), (4_001, True)])
def test_velocity_sum_fires_over_the_maximum(amount: int, expected: bool) -> None:
    history = [event(3_000, seconds=-3_600), event(3_000, seconds=-60)]
    assert fires(SUM, event(amount), history) is expected  # 6,000 + amount against at most 10,000


def test_velocity_sum_counts_its_currency_and_kinds_only() -> None:
    history = [event(9_000, currency="EUR", seconds=-60), event(9_000, kind="funding", seconds=-60)]
    assert not fires(SUM, event(2_000), history)
    assert fires(SUM, event(2_000), [event(9_000, seconds=-86_399)])
    assert not fires(SUM, event(2_000), [event(9_000, seconds=-86_400)])


def test_velocity_needs_a_limit_and_a_currency_for_amounts() -> None:
    with pytest.raises(InvalidInput, match="give max_count, max_amount or both"):
        parse_rule_set(b'{"rules":[{"type":"velocity","id":"v","action":"alert","window_seconds":60}]}')
    with pytest.raises(InvalidInput, match="max_amount needs a currency"):
        parse_rule_set(b'{"rules":[{"type":"velocity","id":"v","action":"alert","window_seconds":60,"max_amount":5}]}')


# --- structuring -------------------------------------------------------------------------

STRUCTURING = Structuring(id="smurf", action="alert", currency="USD", threshold=10_000, margin=1_000, min_count=3,
                          window_seconds=3_600)


@pytest.mark.parametrize(("amount", "expected"), [(8_999, False), (9_000, True), (9_999, True), (10_000, False)])
def test_structuring_counts_amounts_just_under_the_threshold(amount: int, expected: bool) -> None:
    history = [event(9_500, seconds=-600), event(9_900, seconds=-300)]
    assert fires(STRUCTURING, event(amount), history) is expected


def test_structuring_needs_min_count_within_the_window() -> None:
    assert not fires(STRUCTURING, event(9_500), [event(9_500, seconds=-600)])  # two of three
    assert not fires(STRUCTURING, event(9_500), [event(9_500, seconds=-600), event(8_000, seconds=-300)])
    assert fires(STRUCTURING, event(9_500), [event(9_500, seconds=-3_599), event(9_500, seconds=-300)])
    assert not fires(STRUCTURING, event(9_500), [event(9_500, seconds=-3_600), event(9_500, seconds=-300)])


def test_structuring_margin_cannot_exceed_the_threshold() -> None:
    with pytest.raises(InvalidInput, match="margin cannot exceed the threshold"):
        parse_rule_set(b'{"rules":[{"type":"structuring","id":"s","action":"alert","currency":"USD",'
                       b'"threshold":100,"margin":101,"min_count":2,"window_seconds":60}]}')


# --- high_risk ---------------------------------------------------------------------------

HIGH_RISK = HighRisk(id="risky", action="decline", mccs=("7995",), countries=("KP",))


@pytest.mark.parametrize(("mcc", "country", "expected"), [
    ("7995", "US", True), ("7994", "US", False), ("5411", "KP", True), ("5411", "KR", False), (None, None, False),
])
def test_high_risk_merchant_category_or_country(mcc, country, expected: bool) -> None:
    assert fires(HIGH_RISK, event(mcc=mcc, country=country)) is expected


def test_high_risk_reason_names_both() -> None:
    [hit] = RuleSet(rules=(HIGH_RISK,)).evaluate(event(mcc="7995", country="KP"), [], "decline")
    assert hit.reason == "merchant category 7995 is high-risk; merchant country KP is high-risk"


# --- funding_then_spending ---------------------------------------------------------------

PASS_THROUGH = FundingThenSpending(id="pass", action="alert", currency="USD", window_seconds=3_600, min_funding=10_000,
                                   min_spent_bps=8_000)


@pytest.mark.parametrize(("amount", "expected"), [(2_999, False), (3_000, True), (3_001, True)])
def test_funding_then_spending_at_the_share_of_the_funded_amount(amount: int, expected: bool) -> None:
    history = [event(10_000, kind="funding", seconds=-1_800), event(5_000, seconds=-600)]
    assert fires(PASS_THROUGH, event(amount), history) is expected  # 5,000 + amount against 80% of 10,000


@pytest.mark.parametrize(("funded", "expected"), [(9_999, False), (10_000, True)])
def test_funding_then_spending_needs_the_minimum_funding(funded: int, expected: bool) -> None:
    assert fires(PASS_THROUGH, event(funded), [event(funded, kind="funding", seconds=-60)]) is expected


def test_funding_then_spending_window_and_order() -> None:
    funding = [event(10_000, kind="funding", seconds=-3_599)]
    assert fires(PASS_THROUGH, event(8_000), funding)
    assert not fires(PASS_THROUGH, event(8_000), [event(10_000, kind="funding", seconds=-3_600)])
    # spending before the funding does not count
    assert not fires(PASS_THROUGH, event(4_000), [event(4_000, seconds=-120), event(10_000, kind="funding", seconds=-60)])
    assert not fires(PASS_THROUGH, event(10_000, kind="funding"), [event(10_000, kind="funding", seconds=-60)])


# --- rule sets ---------------------------------------------------------------------------


def test_only_enabled_rules_of_the_action_asked_for_are_evaluated() -> None:
    rules = RuleSet(rules=(
        THRESHOLD,
        AmountThreshold(id="alerting", action="alert", currency="USD", threshold=1),
        AmountThreshold(id="off", action="decline", currency="USD", threshold=1, enabled=False),
    ))
    assert [h.rule_id for h in rules.evaluate(event(20_000), [], "decline")] == ["big"]
    assert [h.rule_id for h in rules.evaluate(event(20_000), [], "alert")] == ["alerting"]


def test_history_of_other_subjects_and_the_event_itself_is_ignored() -> None:
    current = event()
    others = [event(subject="s2", seconds=-1) for _ in range(5)]
    assert not fires(COUNT, current, [*others, current])


def test_lookback_is_the_longest_window_of_the_action() -> None:
    rules = RuleSet(rules=(COUNT, SUM, STRUCTURING, THRESHOLD))
    assert rules.lookback("decline") == timedelta(seconds=60)
    assert rules.lookback("alert") == timedelta(days=1)
    assert RuleSet(rules=(THRESHOLD,)).lookback("decline") == timedelta(0)


def test_a_rule_set_round_trips_through_its_json_document() -> None:
    rules = RuleSet(rules=(THRESHOLD, COUNT, SUM, STRUCTURING, HIGH_RISK, PASS_THROUGH))
    assert parse_rule_set(encode_rule_set(rules)) == rules
    assert b'"type":"funding_then_spending"' in encode_rule_set(rules)


@pytest.mark.parametrize(("document", "message"), [
    (b'{"rules":[{"type":"teleport","id":"x","action":"alert"}]}', "Invalid value 'teleport'"),
    (b'{"rules":[{"type":"high_risk","id":"x","action":"alert"}]}', "give mccs, countries or both"),
    (b'{"rules":[{"type":"high_risk","id":"x","action":"block","mccs":["7995"]}]}', "action"),
    (b'{"rules":[{"type":"high_risk","id":"x","action":"alert","mccs":["7995"],"colour":"red"}]}', "colour"),
    (b'{"rules":[{"type":"high_risk","id":"x","action":"alert","mccs":["799"]}]}', "mccs"),
    (b'{"rules":[{"type":"velocity","id":"x","action":"alert","window_seconds":2678401,"max_count":1}]}',
     "window_seconds"),
    (b'{"rules":[{"type":"high_risk","id":"x","action":"alert","mccs":["7995"]},'
     b'{"type":"high_risk","id":"x","action":"alert","countries":["KP"]}]}', "two rules have the id 'x'"),
    (b'{"rules": [', "truncated"),
])
def test_invalid_rule_sets_are_refused_with_the_reason(document: bytes, message: str) -> None:
    with pytest.raises(InvalidInput) as error:
        parse_rule_set(document)
    assert error.value.code == "invalid_rules"
    assert message.lower() in error.value.message.lower()


def test_the_shipped_defaults_parse_and_use_every_rule_type() -> None:
    rules = load_default_rules()
    assert {r.type_name() for r in rules.rules} == {
        "amount_threshold", "velocity", "structuring", "high_risk", "funding_then_spending"}
    assert {r.action for r in rules.rules} == {"decline", "alert"}
    assert rules.lookback("alert") <= timedelta(seconds=MAX_WINDOW_SECONDS)
    assert DEFAULT_RULES.name == "monitoring_rules.json"


@pytest.mark.parametrize(("changes", "problem"), [
    ({"amount": -1}, "amount"), ({"currency": "usd"}, "currency"), ({"mcc": "59"}, "mcc"),
    ({"country": "USA"}, "country"), ({"at": datetime(2026, 5, 1, 9, 0)}, "timezone"), ({"subject_id": ""}, "subject_id"),
])
def test_an_ill_formed_activity_is_refused(changes: dict, problem: str) -> None:
    fields = {"id": "e", "subject_id": "s", "kind": "authorization", "amount": 1, "currency": "USD", "mcc": "5411",
              "country": "US", "at": T0} | changes
    with pytest.raises(InvalidInput) as error:
        validate_event(ActivityEvent(**fields))
    assert error.value.code == "invalid_activity" and problem in error.value.message


# --- real-time checks under the subject's lock ----------------------------------------------


def recent(rules: RuleSet, history, now=T0) -> RecentActivity:
    return RecentActivity.from_rows(rules.recent_query(), now, history)


def test_an_event_decided_after_later_stamped_activity_is_stamped_after_it() -> None:
    """Another process (or a message that took its time first but its lock last) may have stamped
    activity later than this event; decided under the lock, the event comes after all of it, and
    the burst rule counts it."""
    burst = RuleSet(rules=(Velocity(id="burst", action="decline", window_seconds=60, max_count=2),))
    mine = event(seconds=0)
    history = [event(seconds=0.2), event(seconds=0.5)]
    assert not burst.evaluate(mine, history, "decline")  # stamped before them, it would not count them
    activity = recent(burst, history)
    timed = activity.stamp(mine)
    assert (timed.id, timed.at) == (mine.id, history[-1].at)
    assert [h.rule_id for h in activity.hits(burst, timed)] == ["burst"]


def test_an_event_stamped_after_its_history_keeps_its_time() -> None:
    burst = RuleSet(rules=(Velocity(id="burst", action="decline", window_seconds=60, max_count=2),))
    mine = event(seconds=0)
    assert recent(burst, [event(seconds=-1)]).stamp(mine) is mine
    assert recent(burst, []).stamp(mine) is mine


def test_an_unstamped_event_is_refused() -> None:
    burst = RuleSet(rules=(Velocity(id="burst", action="decline", window_seconds=60, max_count=2),))
    activity = recent(burst, [event(seconds=3)])
    with pytest.raises(ValueError, match="stamp"):
        activity.hits(burst, event(seconds=0))


def test_windowed_rules_read_tallies_and_funding_then_spending_reads_rows() -> None:
    velocity = Velocity(id="v", action="decline", window_seconds=60, max_count=2, currency="USD")
    structuring = Structuring(id="s", action="decline", currency="USD", threshold=10_000, margin=1_000,
                              min_count=2, window_seconds=3600)
    plain = (THRESHOLD, HighRisk(id="h", action="decline", countries=("KP",)))
    tallied = RuleSet(rules=(velocity, structuring, velocity.__class__(**{**_fields(velocity), "id": "v2"}), *plain))
    assert tallied.recent_query() == RecentQuery(tallies=(
        Tally(window_seconds=60, kinds=("authorization",), currency="USD"),
        Tally(window_seconds=3600, kinds=("authorization",), currency="USD", min_amount=9_000, below=10_000)))
    assert RuleSet(rules=plain).recent_query() == RecentQuery()
    spending = FundingThenSpending(id="f", action="decline", currency="USD", window_seconds=7200,
                                   min_funding=1_000, min_spent_bps=9_000)
    assert RuleSet(rules=(velocity, spending)).recent_query() == RecentQuery(rows_seconds=7200)
    alerting = msgspec.structs.replace(velocity, action="alert")
    assert RuleSet(rules=(alerting,)).recent_query() == RecentQuery()


def _fields(struct) -> dict:
    return {f: getattr(struct, f) for f in struct.__struct_fields__}


# Activity around the rules' edges: amounts at and near the structuring band and thresholds,
# times at and near the windows' edges, some stamped later than the judge's clock.
_AMOUNTS = st.sampled_from([1, 500, 8_999, 9_000, 9_500, 9_999, 10_000, 20_000])
_SECONDS = st.sampled_from([-3601, -3600, -3599, -1800, -61, -60, -59, -30, -1, 0, 1, 2])
_history_event = st.builds(
    lambda amount, seconds, kind, currency: event(amount, seconds=seconds, kind=kind, currency=currency),
    _AMOUNTS, _SECONDS, st.sampled_from(["authorization", "funding"]), st.sampled_from(["USD", "EUR"]))
_new_event = st.builds(lambda amount, currency: event(amount, currency=currency), _AMOUNTS,
                       st.sampled_from(["USD", "EUR"]))
_RULES = [
    Velocity(id="burst", action="decline", window_seconds=60, max_count=2),
    Velocity(id="usd-minute", action="decline", window_seconds=60, max_amount=25_000, currency="USD"),
    Velocity(id="hourly", action="decline", window_seconds=3600, max_count=4, kinds=("funding", "authorization")),
    Structuring(id="structuring", action="decline", currency="USD", threshold=10_000, margin=1_000, min_count=3,
                window_seconds=3600, kinds=("funding", "authorization")),
    AmountThreshold(id="large", action="decline", currency="USD", threshold=10_000),
    FundingThenSpending(id="pass-through", action="decline", currency="USD", window_seconds=3600,
                        min_funding=9_000, min_spent_bps=5_000),
]


@settings(max_examples=300, deadline=None)
@given(history=st.lists(_history_event, max_size=12), batch=st.lists(_new_event, min_size=1, max_size=6),
       chosen=st.sets(st.sampled_from(range(len(_RULES))), min_size=1))
def test_tallies_decide_as_the_rows_do(history, batch, chosen) -> None:
    """A batch judged on tallies (and on rows, when a rule needs them) decides each message as the
    rules judging the whole history, the batch's approvals before it included, would."""
    rules = RuleSet(rules=tuple(_RULES[i] for i in sorted(chosen)))
    activity = recent(rules, history)
    rows = list(history)
    for message in batch:
        latest = max((e.at for e in rows), default=message.at)
        reference = msgspec.structs.replace(message, at=max(message.at, latest))
        expected = rules.evaluate(reference, rows, "decline")
        stamped = activity.stamp(message)
        assert stamped == reference
        assert activity.hits(rules, stamped) == expected
        if not expected:  # approved: counted for the messages after it
            activity.add(stamped)
            rows.append(reference)
