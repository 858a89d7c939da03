"""The authorization decision, check by check, each at its boundary; and the card state machine."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.cards.authorization import (
    AuthorizationRequest,
    Context,
    Decision,
    Merchant,
    check_standing,
    decide,
    decline,
    webhook_verdict,
    with_webhook,
)
from domain.cards.controls import Controls, CountLimit, SpendingLimit, Usage, window_start
from domain.cards.model import TRANSITIONS, Card, Cardholder, DecisionWebhook, Program, ProgramAccounts
from domain.fx import Rate, convert_with_markup
from domain.shared.errors import Conflict, InvalidInput
from domain.shared.money import Money, Rounding

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
ACCOUNTS = ProgramAccounts(funding="f", settlement="s", fx_fees="x")


def card(**changes) -> Card:
    base = dict(id="card_1", cardholder_id="ch_1", program_id="prog_1", token="tok_" + "a" * 26, bin="456789",
                last4="1234", exp_month=12, exp_year=2028, currency="EUR", state="active", account_id="acct",
                created_at=NOW, updated_at=NOW)
    return Card(**{**base, **changes})


def ctx(**changes) -> Context:
    base = dict(card=card(), program=Program(id="prog_1", name="p", bin="456789", currency="EUR", expiry_months=36,
                                             accounts=ACCOUNTS, created_at=NOW),
                cardholder=Cardholder(id="ch_1", name="J", country="DE", kyc_status="verified", kyc_tier="basic",
                                      birth_date=date(1990, 1, 1), created_at=NOW),
                sanctions_status="clear", card_usage=Usage(), holder_usage=Usage(), available=10_000,
                conversion=None)
    return Context(**{**base, **changes})


def request(amount: int = 1_000, mcc: str = "5411", country: str = "DE", partial: bool = False):
    return AuthorizationRequest(message_id="m", card_token="tok_" + "a" * 26, amount=amount, currency="EUR",
                                merchant=Merchant(name="Shop", mcc=mcc, country=country), partial_allowed=partial)


@pytest.mark.parametrize("changes, code, reason", [
    ({"card": card(state="closed")}, "62", "card_closed"),
    ({"card": card(state="paused")}, "05", "card_paused"),
    ({"card": card(state="inactive")}, "05", "card_inactive"),
    ({"card": card(exp_month=10, exp_year=2026)}, "54", "card_expired"),
    ({"sanctions_status": "blocked"}, "59", "sanctions_blocked"),
    ({"fx_error": "fx_stale_rate"}, "05", "fx_stale_rate"),
    ({"monitoring_hits": ("velocity",)}, "59", "monitoring:velocity"),
])
def test_each_decline_has_its_code(changes, code, reason):
    decision = decide(request(), ctx(**changes), NOW)
    assert (decision.approved, decision.response_code, decision.decline_reason) == (False, code, reason)


@pytest.mark.parametrize("changes, code, reason", [
    ({"card": card(state="closed")}, "62", "card_closed"),
    ({"card": card(state="paused")}, "05", "card_paused"),
    ({"card": card(state="inactive")}, "05", "card_inactive"),
    ({"card": card(exp_month=10, exp_year=2026)}, "54", "card_expired"),
    ({"cardholder": Cardholder(id="ch_1", name="J", country="DE", kyc_status="pending", created_at=NOW)}, "62",
     "kyc_pending"),
    ({"cardholder": Cardholder(id="ch_1", name="J", country="DE", kyc_status="rejected", created_at=NOW)}, "62",
     "kyc_rejected"),
    ({"sanctions_status": "blocked"}, "59", "sanctions_blocked"),
    ({"card": card(state="paused", exp_month=10, exp_year=2026), "sanctions_status": "blocked"}, "05",
     "card_paused"),  # the first that fails
])
def test_the_standing_checks_decline_as_a_decision_does(changes, code, reason):
    """What an increment re-checks (``check_standing``) answers exactly as the decision's first checks."""
    c = ctx(**changes)
    standing = check_standing(c.card, c.cardholder, c.sanctions_status, NOW)
    assert standing == decide(request(), c, NOW) == decline(code, reason)


def test_the_standing_checks_pass_a_card_and_holder_in_good_standing():
    c = ctx(sanctions_status="review")  # only blocked declines
    assert check_standing(c.card, c.cardholder, c.sanctions_status, NOW) is None
    assert check_standing(c.card, c.cardholder, "clear", datetime(2028, 12, 31, 23, 59, tzinfo=UTC)) is None


def test_a_card_is_good_through_the_last_instant_of_its_expiry_month():
    assert decide(request(), ctx(card=card(exp_month=11, exp_year=2026)), datetime(2026, 11, 30, 23, 59, 59,
                                                                                     tzinfo=UTC)).approved
    late = decide(request(), ctx(card=card(exp_month=11, exp_year=2026)), datetime(2026, 12, 1, tzinfo=UTC))
    assert late.response_code == "54"


def test_kyc_pending_or_rejected_is_restricted():
    for status in ("pending", "rejected"):
        holder = Cardholder(id="ch_1", name="J", country="DE", kyc_status=status, created_at=NOW)
        assert decide(request(), ctx(cardholder=holder), NOW).response_code == "62"


def test_merchant_lists_decline_with_57():
    assert decide(request(mcc="7995"), ctx(card=card(controls=Controls(blocked_mccs=("7995",)))), NOW
                  ).decline_reason == "mcc_blocked"
    assert decide(request(mcc="5411"), ctx(card=card(controls=Controls(allowed_mccs=("5812",)))), NOW
                  ).decline_reason == "mcc_not_allowed"
    assert decide(request(country="KP"), ctx(card=card(controls=Controls(blocked_countries=("KP",)))), NOW
                  ).response_code == "57"
    assert decide(request(country="FR"), ctx(card=card(controls=Controls(allowed_countries=("DE",)))), NOW
                  ).response_code == "57"


@pytest.mark.parametrize("interval", ["daily", "weekly", "monthly", "yearly", "all_time"])
def test_spending_limits_at_their_boundary(interval):
    controls = Controls(spending_limits=(SpendingLimit(amount=5_000, interval=interval),))
    used = Usage(amounts={interval: 4_000})
    at_limit = decide(request(amount=1_000), ctx(card=card(controls=controls), card_usage=used), NOW)
    over = decide(request(amount=1_001), ctx(card=card(controls=controls), card_usage=used), NOW)
    assert at_limit.approved and (over.response_code, over.decline_reason) == ("61", "spending_limit_exceeded")


def test_per_authorization_limit_and_tier_limit_of_the_cardholder():
    controls = Controls(spending_limits=(SpendingLimit(amount=1_000, interval="per_authorization"),))
    assert decide(request(amount=1_000), ctx(card=card(controls=controls)), NOW).approved
    assert decide(request(amount=1_001), ctx(card=card(controls=controls)), NOW).response_code == "61"
    # basic tier: 1,000.00 EUR a day over all the holder's cards
    spent = Usage(amounts={"daily": 100_000 - 1_000})
    assert decide(request(amount=1_000), ctx(holder_usage=spent, available=10**9), NOW).approved
    assert decide(request(amount=1_001), ctx(holder_usage=spent, available=10**9), NOW).response_code == "61"


def test_count_limit_declines_with_65():
    controls = Controls(max_authorizations=CountLimit(count=3, interval="daily"))
    assert decide(request(), ctx(card=card(controls=controls), card_usage=Usage(counts={"daily": 2})), NOW).approved
    refused = decide(request(), ctx(card=card(controls=controls), card_usage=Usage(counts={"daily": 3})), NOW)
    assert refused.response_code == "65"


def test_balance_exact_insufficient_and_partial():
    assert decide(request(amount=10_000), ctx(), NOW).response_code == "00"
    assert decide(request(amount=10_001), ctx(), NOW).response_code == "51"
    partial = decide(request(amount=10_001, partial=True), ctx(), NOW)
    assert (partial.response_code, partial.approved_amount, partial.card_amount) == ("10", 10_000, 10_000)
    assert decide(request(amount=1, partial=True), ctx(available=0), NOW).response_code == "51"


# A USD card buys in JPY (1 JPY = 0.0078125 USD) and KWD (1 KWD = 4 USD) with a 2 % markup, the
# conversion rounded half-up and the fee up (the configured modes), with USD 9.82 / 9.71 available.
# JPY 1,231: 9.6171875 -> 9.62, fee 0.1924 -> 0.20: 9.82. JPY 1,232 = 9.625 -> 9.63 (half-up; half-even
# gives 9.62), fee 0.20: 9.83. Rounded half-even throughout, JPY 1,233 would fit (9.63 + 0.19 = 9.82)
# but costs 9.83 as configured.
# KWD 2.378: 9.512 -> 9.51, fee 0.1902 -> 0.20: 9.71. KWD 2.379 costs 9.52 + 0.20 = 9.72. Half-even
# throughout, KWD 2.381 would fit (9.52 + 0.19 = 9.71) but costs 9.72 as configured.
@pytest.mark.parametrize("merchant_currency, value, available, approved, converted, fee", [
    ("JPY", "0.0078125", 982, 1_231, 962, 20),
    ("KWD", "4", 971, 2_378, 951, 20),
])
def test_a_partial_foreign_approval_rounds_as_the_conversion_was_rounded(merchant_currency, value, available,
                                                                         approved, converted, fee):
    rate = Rate(base=merchant_currency, quote="USD", value=Decimal(value), source="test", as_of=NOW, fetched_at=NOW)
    asked = Money(amount=100_000, currency=merchant_currency)
    conversion = convert_with_markup(asked, rate, 200, rounding=Rounding.HALF_UP, fee_rounding=Rounding.UP)
    foreign = AuthorizationRequest(message_id="m", card_token="tok_" + "a" * 26, amount=asked.amount,
                                   currency=merchant_currency, merchant=Merchant(name="Shop", mcc="5411", country="DE"),
                                   partial_allowed=True)
    partial = decide(foreign, ctx(card=card(currency="USD"), available=available, conversion=conversion), NOW)
    assert (partial.response_code, partial.approved_amount, partial.card_amount, partial.fee) == (
        "10", approved, available, fee)
    full = convert_with_markup(Money(amount=approved, currency=merchant_currency), rate, 200,
                               rounding=Rounding.HALF_UP, fee_rounding=Rounding.UP)
    assert (full.converted.amount, full.fee.amount, full.total.amount) == (converted, fee, partial.card_amount)


def test_windows_are_utc_calendar_windows():
    wednesday = datetime(2026, 11, 18, 15, 30, tzinfo=UTC)
    assert window_start("daily", wednesday) == datetime(2026, 11, 18, tzinfo=UTC)
    assert window_start("weekly", wednesday) == datetime(2026, 11, 16, tzinfo=UTC)
    assert window_start("monthly", wednesday) == datetime(2026, 11, 1, tzinfo=UTC)
    assert window_start("yearly", wednesday) == datetime(2026, 1, 1, tzinfo=UTC)
    assert window_start("all_time", wednesday) is None


STATES = list(TRANSITIONS)


@given(st.lists(st.sampled_from(STATES), max_size=12))
def test_card_state_machine_allows_only_its_transitions(path):
    current = card(state="inactive")
    for target in path:
        try:
            moved = current.moved_to(target, NOW)
        except Conflict as refused:
            assert refused.code == "invalid_card_transition"
            assert target != current.state and target not in TRANSITIONS[current.state]
            continue
        assert target == current.state or target in TRANSITIONS[current.state]
        assert current.state != "closed" or moved.state == "closed"
        current = moved


APPROVAL = Decision(approved=True, response_code="00", approved_amount=100, card_amount=100)


@pytest.mark.parametrize("approved, fallback, outcome, code, reason", [
    (True, "decline", "approved", "00", None),
    (False, "approve", "declined", "05", "decision_webhook_declined"),
    (None, "approve", "fallback_approved", "00", None),
    (None, "decline", "fallback_declined", "05", "decision_webhook_unavailable"),
])
def test_a_webhook_verdict_only_turns_an_approval_into_a_decline(approved, fallback, outcome, code, reason):
    verdict = webhook_verdict(approved, "why", 12, fallback)
    assert verdict.outcome == outcome
    decided = with_webhook(APPROVAL, verdict)
    assert (decided.response_code, decided.decline_reason) == (code, reason)
    assert with_webhook(decline("51", "insufficient_funds"), verdict).response_code == "51"


def test_an_approval_without_a_verdict_is_declined():
    assert with_webhook(APPROVAL, None).decline_reason == "decision_webhook_not_asked"


@pytest.mark.parametrize("url, timeout_ms", [("ftp://x", 1_000), ("https://x", 10), ("https://x", 5_000)])
def test_a_decision_webhook_needs_an_http_url_and_a_sane_budget(url, timeout_ms):
    with pytest.raises(InvalidInput):
        DecisionWebhook(url=url, secret="whsec_x", timeout_ms=timeout_ms)


def test_a_decision_webhook_never_shows_its_secret_in_a_repr():
    assert "whsec" not in repr(DecisionWebhook(url="https://x", secret="whsec_abc"))


def test_a_card_always_settles_on_the_same_shard_within_range():
    program = Program(id="p", name="p", bin="456789", currency="USD", expiry_months=12, settlement_shards=8,
                      accounts=ProgramAccounts(funding="f", settlement="s", fx_fees="x"),
                      created_at=datetime(2026, 1, 1, tzinfo=UTC))
    shards = {program.settlement_for(f"card_{n}") for n in range(200)}
    assert shards == set(program.shard_accounts("s")) and len(shards) == 8
    assert program.settlement_for("card_7") == program.settlement_for("card_7")
    assert program.fx_fees_for("card_7").removeprefix("x:") == program.settlement_for("card_7").removeprefix("s:")
    unsharded = msgspec.structs.replace(program, settlement_shards=1)
    assert unsharded.settlement_for("card_7") == "s" and unsharded.shard_accounts("s") == ["s"]
    with pytest.raises(InvalidInput):
        msgspec.structs.replace(program, settlement_shards=65)


def test_batches_in_flight_settle_on_disjoint_lanes_of_the_shards():
    program = Program(id="p", name="p", bin="456789", currency="USD", expiry_months=12, settlement_shards=8,
                      accounts=ProgramAccounts(funding="f", settlement="s", fx_fees="x"),
                      created_at=datetime(2026, 1, 1, tzinfo=UTC))
    lanes = [{program.settlement_for(f"card_{n}", lane, 2) for n in range(200)} for lane in (0, 1)]
    assert lanes == [{f"s:{k:02d}" for k in (0, 2, 4, 6)}, {f"s:{k:02d}" for k in (1, 3, 5, 7)}]
    assert program.settlement_for("card_7", 1, 2) == program.settlement_for("card_7", 1, 2)
    uneven = msgspec.structs.replace(program, settlement_shards=3)  # no lanes: any shard, as without
    assert all(uneven.settlement_for(f"card_{n}", 1, 2) == uneven.settlement_for(f"card_{n}") for n in range(50))
