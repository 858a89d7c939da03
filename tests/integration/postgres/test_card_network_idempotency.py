"""Every network message is idempotent by ``message_id``, on real PostgreSQL (issue 7).

Authorization, increment, reversal, clearing and refund: a replay (same ``message_id``, same
fields) answers exactly the first answer and changes nothing (the card's balance, the program's
settlement account, the recorded authorizations and transactions stay as they were), even when
the world changed in between; the same id with different fields is ``idempotency_conflict`` and
changes nothing either.
"""

from __future__ import annotations

from datetime import UTC, datetime

from domain.cards.authorization import Merchant

START = datetime(2033, 10, 4, 8, 15, tzinfo=UTC)


def _state(w, card, program):
    return (w.books(card), w.held_in(program.accounts.settlement), w.net(program.accounts.settlement),
            [(a.id, a.status, a.held, a.counted) for a in w.authorizations(card)],
            [(t.id, t.card_amount) for t in w.transactions(card)])


def test_authorization_replays_answer_the_first_decision(card_world):
    w = card_world(START)
    program = w.program("USD")
    card = w.card(program, funded=5_000)

    approved = w.authorize(card, 4_000, message_id=w.mid("auth-approve"))
    declined = w.authorize(card, 4_000, message_id=w.mid("auth-decline"))
    assert approved["approved"] and declined["response_code"] == "51"
    before = _state(w, card, program)

    w.clock.advance(hours=3)
    w.fund(card, 10_000)  # the second would be approved now: a replay still answers the first decision
    funded = _state(w, card, program)
    assert w.authorize(card, 4_000, message_id=w.mid("auth-approve")) == approved
    assert w.authorize(card, 4_000, message_id=w.mid("auth-decline")) == declined
    assert _state(w, card, program) == funded
    assert funded[0] == (15_000, 4_000, 11_000) and funded[3] == before[3]

    assert w.refused(w.authorize, card, 4_001, message_id=w.mid("auth-approve")) == "idempotency_conflict"
    assert w.refused(w.authorize, card, 4_000, "EUR", message_id=w.mid("auth-decline")) == "idempotency_conflict"
    other_shop = Merchant(name="Other", mcc="5411", country="DE")
    assert w.refused(w.authorize, card, 4_000, message_id=w.mid("auth-approve"), merchant=other_shop) == (
        "idempotency_conflict")
    assert _state(w, card, program) == funded
    w.assert_closed_system(program, [card])


def test_increment_replays_extend_the_hold_once(card_world):
    w = card_world(START)
    program = w.program("USD")
    card = w.card(program, funded=10_000)
    auth_id = w.authorize(card, 4_000)["authorization_id"]

    first = w.increment(auth_id, 1_000, message_id=w.mid("inc-1"))
    after = _state(w, card, program)
    assert after[0] == (10_000, 5_000, 5_000)
    w.clock.advance(minutes=5)
    assert w.increment(auth_id, 1_000, message_id=w.mid("inc-1")) == first
    assert _state(w, card, program) == after

    declined = w.increment(auth_id, 9_000, message_id=w.mid("inc-2"))  # a declined increment is remembered too
    assert declined["response_code"] == "51"
    w.fund(card, 10_000)
    assert w.increment(auth_id, 9_000, message_id=w.mid("inc-2")) == declined
    assert w.books(card) == (20_000, 5_000, 15_000)

    assert w.refused(w.increment, auth_id, 1_001, message_id=w.mid("inc-1")) == "idempotency_conflict"
    other = w.authorize(card, 100)["authorization_id"]
    assert w.refused(w.increment, other, 1_000, message_id=w.mid("inc-1")) == "idempotency_conflict"
    assert w.authorization(auth_id).held == 5_000 and w.books(card) == (20_000, 5_100, 14_900)
    w.assert_closed_system(program, [card])


def test_reversal_replays_release_once(card_world):
    w = card_world(START)
    program = w.program("USD")
    card = w.card(program, funded=10_000)
    auth_id = w.authorize(card, 6_000)["authorization_id"]

    partial = w.reverse(auth_id, 2_000, message_id=w.mid("rev-1"))
    after = _state(w, card, program)
    assert after[0] == (10_000, 4_000, 6_000)
    assert w.reverse(auth_id, 2_000, message_id=w.mid("rev-1")) == partial
    assert _state(w, card, program) == after

    full = w.reverse(auth_id, message_id=w.mid("rev-2"))
    assert full["status"] == "reversed"
    after = _state(w, card, program)
    assert w.reverse(auth_id, message_id=w.mid("rev-2")) == full
    assert w.reverse(auth_id, 2_000, message_id=w.mid("rev-1")) == partial  # the first answer, whatever came since
    assert _state(w, card, program) == after == _state(w, card, program)
    assert after[0] == (10_000, 0, 10_000)

    assert w.refused(w.reverse, auth_id, 2_500, message_id=w.mid("rev-1")) == "idempotency_conflict"
    assert w.refused(w.reverse, auth_id, 2_000, message_id=w.mid("rev-2")) == "idempotency_conflict"
    assert _state(w, card, program) == after
    w.assert_closed_system(program, [card])


def test_clearing_replays_post_once(card_world):
    w = card_world(START)
    program = w.program("USD")
    card = w.card(program, funded=10_000)
    auth_id = w.authorize(card, 4_000)["authorization_id"]

    cleared = w.clear(card, 4_500, auth_id=auth_id, message_id=w.mid("clear-1"))
    forced = w.clear(card, 1_000, message_id=w.mid("force-1"))
    after = _state(w, card, program)
    assert after[0] == (4_500, 0, 4_500) and len(after[4]) == 2
    w.clock.advance(days=1)
    assert w.clear(card, 4_500, auth_id=auth_id, message_id=w.mid("clear-1")) == cleared
    assert w.clear(card, 1_000, message_id=w.mid("force-1")) == forced
    assert _state(w, card, program) == after

    assert w.refused(w.clear, card, 4_400, auth_id=auth_id, message_id=w.mid("clear-1")) == "idempotency_conflict"
    assert w.refused(w.clear, card, 4_500, message_id=w.mid("clear-1")) == "idempotency_conflict"  # without the auth
    assert w.refused(w.clear, card, 1_000, auth_id=auth_id, message_id=w.mid("force-1")) == "idempotency_conflict"
    assert _state(w, card, program) == after
    w.assert_closed_system(program, [card])


def test_refund_replays_credit_once(card_world):
    w = card_world(START)
    program = w.program("USD")
    card = w.card(program, funded=1_000)

    refund = w.refund(card, 700, message_id=w.mid("refund-1"))
    after = _state(w, card, program)
    assert after[0] == (1_700, 0, 1_700)
    assert w.refund(card, 700, message_id=w.mid("refund-1")) == refund
    assert _state(w, card, program) == after

    assert w.refused(w.refund, card, 701, message_id=w.mid("refund-1")) == "idempotency_conflict"
    assert w.refused(w.refund, card, 7, "JPY", message_id=w.mid("refund-1")) == "idempotency_conflict"
    assert _state(w, card, program) == after
    w.assert_closed_system(program, [card])


def test_a_message_id_names_one_message_whatever_its_kind(card_world):
    w = card_world(START)
    program = w.program("USD")
    card = w.card(program, funded=10_000)
    auth_id = w.authorize(card, 1_000, message_id=w.mid("shared-id"))["authorization_id"]
    before = _state(w, card, program)

    assert w.refused(w.increment, auth_id, 1_000, message_id=w.mid("shared-id")) == "idempotency_conflict"
    assert w.refused(w.reverse, auth_id, message_id=w.mid("shared-id")) == "idempotency_conflict"
    assert w.refused(w.clear, card, 1_000, auth_id=auth_id, message_id=w.mid("shared-id")) == "idempotency_conflict"
    assert w.refused(w.refund, card, 1_000, message_id=w.mid("shared-id")) == "idempotency_conflict"
    assert _state(w, card, program) == before
    w.assert_closed_system(program, [card])
