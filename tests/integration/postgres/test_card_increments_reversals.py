"""Increments and reversals on real PostgreSQL, through the use cases.

Issue 7: an increment extends the hold (void + a larger hold in one linked chain) and is declined
when the balance or a limit cannot cover it, leaving the original hold; a reversal releases all
(status ``reversed``) or part (a smaller hold replaces the old one). After each step the card's
balance, the holds in the ledger and the program's settlement account are checked.

An increment re-checks what an authorization checks first: the card's state and expiry and the
cardholder's KYC and sanctions status as they are now, declining with the same codes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.cards.controls import Controls, SpendingLimit

START = datetime(2033, 8, 9, 14, 0, tzinfo=UTC)


def _hold(w, auth_id: str):
    return w.run(w.c.ledger_read().transfer(w.authorization(auth_id).hold_transfer_id))


def test_an_increment_extends_the_hold_until_the_same_expiry(card_world):
    w = card_world(START)
    program = w.program("USD")
    card = w.card(program, funded=10_000)
    auth = w.authorize(card, 4_000)
    auth_id = auth["authorization_id"]
    first_hold = w.authorization(auth_id).hold_transfer_id

    w.clock.advance(hours=5)
    answer = w.increment(auth_id, 1_500)
    assert (answer["approved"], answer["response_code"], answer["card_amount"], answer["approved_amount"]) == (
        True, "00", 5_500, 5_500)
    assert w.books(card) == (10_000, 5_500, 4_500)
    assert w.held_in(program.accounts.settlement) == (0, 5_500)

    record = w.authorization(auth_id)
    assert (record.held, record.counted, record.card_amount, record.status) == (5_500, 5_500, 5_500, "pending")
    assert record.hold_transfer_id != first_hold
    old = w.run(w.c.ledger_read().transfer(first_hold))[1]
    assert old.state == "voided"
    transfer, hold = _hold(w, auth_id)
    assert (transfer.amount, hold.state, hold.expires_at) == (5_500, "pending", record.expires_at)

    w.increment(auth_id, 500)
    assert w.books(card) == (10_000, 6_000, 4_000)
    tx = w.clear(card, 6_000, auth_id=auth_id)
    assert tx["shortfall"] == 0 and w.books(card) == (4_000, 0, 4_000)
    assert w.net(program.accounts.settlement) == 6_000 and w.held_in(program.accounts.settlement) == (0, 0)
    w.assert_closed_system(program, [card])


def test_an_increment_the_balance_cannot_cover_is_declined_and_the_hold_stays(card_world):
    w = card_world(START)
    program = w.program("USD")
    card = w.card(program, funded=5_000)
    auth_id = w.authorize(card, 4_000)["authorization_id"]
    hold_before = w.authorization(auth_id).hold_transfer_id

    declined = w.increment(auth_id, 1_001)
    assert (declined["approved"], declined["response_code"], declined["decline_reason"]) == (
        False, "51", "insufficient_funds")
    assert declined["card_amount"] == 4_000
    record = w.authorization(auth_id)
    assert (record.held, record.counted, record.hold_transfer_id, record.status) == (4_000, 4_000, hold_before,
                                                                                      "pending")
    assert _hold(w, auth_id)[1].state == "pending"
    assert w.books(card) == (5_000, 4_000, 1_000)

    assert w.increment(auth_id, 1_000)["approved"]  # exactly what is left
    assert w.books(card) == (5_000, 5_000, 0)
    assert w.held_in(program.accounts.settlement) == (0, 5_000)
    w.assert_closed_system(program, [card])


def test_an_increment_beyond_a_window_limit_is_declined(card_world):
    w = card_world(START)
    program = w.program("USD")
    card = w.card(program, funded=50_000, controls=Controls(spending_limits=(
        SpendingLimit(amount=5_000, interval="daily"),)))
    auth_id = w.authorize(card, 4_000)["authorization_id"]

    declined = w.increment(auth_id, 1_500)
    assert (declined["approved"], declined["response_code"], declined["decline_reason"]) == (
        False, "61", "spending_limit_exceeded")
    assert w.books(card) == (50_000, 4_000, 46_000)
    assert w.increment(auth_id, 1_000)["approved"]
    assert w.books(card) == (50_000, 5_000, 45_000)
    assert w.authorize(card, 1)["response_code"] == "61"
    assert w.held_in(program.accounts.settlement) == (0, 5_000)
    w.assert_closed_system(program, [card])


def test_an_increment_cannot_take_one_authorization_past_its_per_authorization_cap(card_world):
    w = card_world(START)
    program = w.program("USD")
    card = w.card(program, funded=50_000, controls=Controls(spending_limits=(
        SpendingLimit(amount=5_000, interval="per_authorization"),)))
    assert w.authorize(card, 5_001)["response_code"] == "61"
    auth_id = w.authorize(card, 4_000)["authorization_id"]

    declined = w.increment(auth_id, 1_500)  # 5,500 on one authorization
    assert (declined["approved"], declined["response_code"]) == (False, "61")
    assert w.books(card) == (50_000, 4_000, 46_000)
    assert w.increment(auth_id, 1_000)["approved"]  # 5,000: the cap itself
    assert w.books(card) == (50_000, 5_000, 45_000)
    assert w.authorization(auth_id).held == 5_000
    assert w.held_in(program.accounts.settlement) == (0, 5_000)
    w.assert_closed_system(program, [card])


def test_an_increment_counts_against_the_cardholders_tier_over_all_cards(card_world):
    """basic tier: 1,000 a day over all of the holder's cards, whatever each card allows."""
    w = card_world(START)
    program = w.program("USD")
    card = w.card(program, funded=200_000, tier="basic")
    other = w.card(program, funded=10_000, holder_id=card.cardholder_id)
    auth_id = w.authorize(card, 90_000)["authorization_id"]
    assert w.authorize(other, 5_000)["approved"]  # 950.00 of 1,000.00 used today

    declined = w.increment(auth_id, 5_001)
    assert (declined["approved"], declined["response_code"]) == (False, "61")
    assert w.books(card) == (200_000, 90_000, 110_000)
    assert w.increment(auth_id, 5_000)["approved"]
    assert w.books(card) == (200_000, 95_000, 105_000)
    assert w.authorize(other, 1)["response_code"] == "61"
    w.assert_closed_system(program, [card, other])


def test_a_partial_reversal_replaces_the_hold_and_a_full_one_releases_it(card_world):
    w = card_world(START)
    program = w.program("USD", controls=Controls(spending_limits=(SpendingLimit(amount=6_000, interval="daily"),)))
    card = w.card(program, funded=10_000)
    auth_id = w.authorize(card, 6_000)["authorization_id"]
    first_hold = w.authorization(auth_id).hold_transfer_id
    assert w.authorize(card, 1)["response_code"] == "61"

    w.clock.advance(minutes=30)
    partial = w.reverse(auth_id, 2_000)
    assert (partial["approved"], partial["response_code"], partial["status"]) == (True, "00", "pending")
    assert (partial["approved_amount"], partial["card_amount"]) == (4_000, 4_000)
    assert w.books(card) == (10_000, 4_000, 6_000)
    assert w.held_in(program.accounts.settlement) == (0, 4_000)
    record = w.authorization(auth_id)
    assert (record.held, record.counted) == (4_000, 4_000)
    assert w.run(w.c.ledger_read().transfer(first_hold))[1].state == "voided"
    transfer, hold = _hold(w, auth_id)
    assert (transfer.amount, hold.state, hold.expires_at) == (4_000, "pending", record.expires_at)

    freed = w.authorize(card, 2_000)  # the reversal gave the amount back to the daily limit
    assert freed["approved"] and w.books(card) == (10_000, 6_000, 4_000)
    w.reverse(freed["authorization_id"])

    w.clock.advance(minutes=30)
    full = w.reverse(auth_id)
    assert (full["approved"], full["status"], full["card_amount"], full["approved_amount"]) == (True, "reversed", 0,
                                                                                              0)
    assert w.books(card) == (10_000, 0, 10_000)
    assert w.held_in(program.accounts.settlement) == (0, 0) and w.net(program.accounts.settlement) == 0
    record = w.authorization(auth_id)
    assert (record.status, record.held, record.counted) == ("reversed", 0, 0)
    assert _hold(w, auth_id)[1].state == "voided"

    again = w.reverse(auth_id)  # nothing is left to reverse or to increment
    assert (again["approved"], again["response_code"], again["decline_reason"]) == (False, "12",
                                                                                    "authorization_reversed")
    assert w.increment(auth_id, 100)["decline_reason"] == "authorization_reversed"
    assert w.books(card) == (10_000, 0, 10_000)
    w.assert_closed_system(program, [card])


def test_a_reversal_of_at_least_the_approved_amount_releases_everything(card_world):
    w = card_world(START)
    program = w.program("USD")
    card = w.card(program, funded=10_000)
    auth_id = w.authorize(card, 3_000)["authorization_id"]
    assert w.reverse(auth_id, 9_999)["status"] == "reversed"
    assert w.books(card) == (10_000, 0, 10_000)
    assert w.held_in(program.accounts.settlement) == (0, 0) and w.net(program.accounts.settlement) == 0
    w.assert_closed_system(program, [card])


def test_partial_reversal_then_clearing_of_the_rest(card_world):
    w = card_world(START)
    program = w.program("USD")
    card = w.card(program, funded=10_000)
    auth_id = w.authorize(card, 5_000)["authorization_id"]
    w.reverse(auth_id, 1_500)
    w.increment(auth_id, 500)
    assert w.books(card) == (10_000, 4_000, 6_000)

    tx = w.clear(card, 4_000, auth_id=auth_id)
    assert (tx["kind"], tx["shortfall"]) == ("clearing", 0)
    assert w.books(card) == (6_000, 0, 6_000)
    assert w.net(program.accounts.settlement) == 4_000 and w.held_in(program.accounts.settlement) == (0, 0)
    w.assert_closed_system(program, [card])


def test_a_replaced_hold_lives_as_long_as_its_authorization(card_world):
    """A hold placed by an increment or partial reversal a fraction of a second into the
    authorization's life must not expire before the authorization does: until then, the
    authorization is live and a clearing posts from its hold."""
    w = card_world(START)
    program = w.program("USD", hold_seconds=3_600)
    card = w.card(program, funded=10_000)
    auth_id = w.authorize(card, 4_000)["authorization_id"]
    expires_at = w.authorization(auth_id).expires_at

    w.clock.advance(seconds=1.5)
    assert w.increment(auth_id, 1_000)["approved"]
    w.clock.advance(seconds=0.75)
    assert w.reverse(auth_id, 500)["approved"]
    hold = _hold(w, auth_id)[1]
    assert hold.expires_at >= expires_at

    w.clock.set(expires_at - timedelta(milliseconds=250))  # still live
    w.expire()
    assert w.authorization(auth_id).status == "pending" and _hold(w, auth_id)[1].state == "pending"
    assert w.books(card) == (10_000, 4_500, 5_500)
    tx = w.clear(card, 4_500, auth_id=auth_id)
    assert (tx["kind"], tx["shortfall"]) == ("clearing", 0)
    assert w.books(card) == (5_500, 0, 5_500)
    assert w.authorization(auth_id).status == "closed"
    w.assert_closed_system(program, [card])


@pytest.mark.parametrize(("change", "code", "reason"), [
    pytest.param(lambda w, card: w.set_state(card, "paused"), "05", "card_paused", id="paused"),
    pytest.param(lambda w, card: w.set_state(card, "closed"), "62", "card_closed", id="closed"),
    pytest.param(lambda w, card: w.decide_kyc(card.cardholder_id, "rejected"), "62", "kyc_rejected",
                 id="kyc-rejected"),
    pytest.param(lambda w, card: w.set_sanctions_status(card.cardholder_id, "blocked"), "59", "sanctions_blocked",
                 id="sanctions-blocked"),
])
def test_an_increment_is_declined_when_the_card_or_its_holder_is_no_longer_in_good_standing(card_world, change,
                                                                                            code, reason):
    w = card_world(START)
    program = w.program("USD", controls=Controls(spending_limits=(SpendingLimit(amount=4_500, interval="daily"),)))
    card = w.card(program, funded=10_000)
    auth_id = w.authorize(card, 4_000)["authorization_id"]
    before = w.authorization(auth_id)

    change(w, card)
    w.clock.advance(minutes=5)
    message_id = w.mid("inc-standing")
    declined = w.increment(auth_id, 1_000, message_id=message_id)  # beyond the limit too: standing comes first
    assert (declined["approved"], declined["response_code"], declined["decline_reason"]) == (False, code, reason)
    assert (declined["card_amount"], declined["approved_amount"], declined["status"]) == (4_000, 4_000, "pending")
    assert w.authorization(auth_id) == before  # the hold, the amounts, the limits' count: all as they were
    assert _hold(w, auth_id)[1].state == "pending"
    assert w.books(card) == (10_000, 4_000, 6_000)
    assert w.held_in(program.accounts.settlement) == (0, 4_000)

    assert w.increment(auth_id, 1_000, message_id=message_id) == declined  # idempotent: the first answer
    assert w.refused(w.increment, auth_id, 999, message_id=message_id) == "idempotency_conflict"
    fresh = w.authorize(card, 100)  # a new authorization is declined for the same reason, with the same code
    assert (fresh["response_code"], fresh["decline_reason"]) == (code, reason)
    w.assert_closed_system(program, [card])


def test_an_increment_follows_the_card_state_as_it_is_now(card_world):
    w = card_world(START)
    program = w.program("USD")
    card = w.card(program, funded=10_000)
    auth_id = w.authorize(card, 4_000)["authorization_id"]

    w.set_state(card, "paused")
    paused = w.increment(auth_id, 100_000, message_id=w.mid("inc-paused"))  # beyond the balance: 05, not 51
    assert (paused["response_code"], paused["decline_reason"]) == ("05", "card_paused")
    w.set_state(card, "active")
    assert w.increment(auth_id, 100_000, message_id=w.mid("inc-paused")) == paused  # a retry gets the first answer
    resumed = w.increment(auth_id, 1_000)
    assert (resumed["approved"], resumed["response_code"], resumed["card_amount"]) == (True, "00", 5_000)
    assert w.books(card) == (10_000, 5_000, 5_000)

    w.decide_kyc(card.cardholder_id, "rejected")
    assert w.increment(auth_id, 1_000)["decline_reason"] == "kyc_rejected"
    w.decide_kyc(card.cardholder_id, "verified", "premium")
    w.set_sanctions_status(card.cardholder_id, "review")  # a possible match alone declines neither
    assert w.increment(auth_id, 1_000)["card_amount"] == 6_000
    assert w.books(card) == (10_000, 6_000, 4_000)
    assert w.held_in(program.accounts.settlement) == (0, 6_000)
    w.assert_closed_system(program, [card])


def test_an_increment_after_the_card_expired_is_declined_with_54(card_world):
    """A card is good through the last instant of its expiry month (UTC), an authorization's hold may
    outlive it: the increment is declined, the hold stays until its own expiry or clearing."""
    w = card_world(datetime(2033, 9, 27, 12, 0, tzinfo=UTC))
    program = w.program("USD", expiry_months=1)
    card = w.card(program, funded=10_000)
    assert (card.exp_month, card.exp_year) == (10, 2033)
    w.clock.set(datetime(2033, 10, 30, 12, 0, tzinfo=UTC))
    auth_id = w.authorize(card, 4_000)["authorization_id"]

    w.clock.set(datetime(2033, 10, 31, 23, 59, 59, tzinfo=UTC))
    assert w.increment(auth_id, 500)["approved"]
    w.clock.set(datetime(2033, 11, 1, 0, 0, tzinfo=UTC))
    expired = w.increment(auth_id, 500)
    assert (expired["approved"], expired["response_code"], expired["decline_reason"]) == (False, "54",
                                                                                          "card_expired")
    assert w.authorization(auth_id).held == 4_500 and _hold(w, auth_id)[1].state == "pending"
    assert w.books(card) == (10_000, 4_500, 5_500)

    tx = w.clear(card, 4_500, auth_id=auth_id)  # what was authorized before the expiry still clears
    assert (tx["kind"], tx["shortfall"]) == ("clearing", 0)
    assert w.books(card) == (5_500, 0, 5_500)
    w.assert_closed_system(program, [card])


def test_an_increment_of_an_unknown_authorization_is_refused(card_world):
    w = card_world(START)
    message_id = w.mid("inc-unknown")
    assert w.refused(w.increment, f"auth_{w.tag}", 100, message_id=message_id) == "authorization_not_found"
    assert w.refused(w.increment, f"auth_{w.tag}", 100, message_id=message_id) == "authorization_not_found"
