"""The authorization decision, check by check, each at its boundary; and the card state machine."""

from __future__ import annotations

from datetime import UTC, date, datetime

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.cards.authorization import (
    AuthorizationRequest,
    Context,
    Decision,
    Merchant,
    decide,
    decline,
    webhook_verdict,
    with_webhook,
)
from domain.cards.controls import Controls, CountLimit, SpendingLimit, Usage, window_start
from domain.cards.model import TRANSITIONS, Card, Cardholder, DecisionWebhook, Program, ProgramAccounts
from domain.shared.errors import Conflict, InvalidInput

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
