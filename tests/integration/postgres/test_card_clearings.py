"""Clearings, force posts, expiry and refunds on real PostgreSQL, through the use cases.

Issue 7: clearing less than, equal to and more than held (more than held posts the extra when
the balance allows, else records a shortfall for ops and the balance never goes negative);
several clearings per authorization; the hold released at its expiry and a later clearing still
posted as a force post; force posts without an authorization; refunds credited back. After each
step the card's balance (the cards use case) and the program's ledger accounts are checked, and
the program's books stay closed (per currency, debits == credits).

Same-currency cards here (USD card, USD merchant); cross-currency pricing is in
test_card_fx_reconciliation.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

START = datetime(2033, 5, 17, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(("cleared", "transfers"), [
    pytest.param(2_500, ["post"], id="less-than-held"),
    pytest.param(4_000, ["post"], id="equal-to-held"),
    pytest.param(5_500, ["post", "extra"], id="more-than-held-balance-allows"),
])
def test_a_clearing_posts_the_hold_releases_the_rest_and_posts_an_extra_the_balance_covers(card_world, cleared,
                                                                                           transfers):
    w = card_world(START)
    program = w.program("USD")
    card = w.card(program, funded=10_000)
    auth = w.authorize(card, 4_000)
    assert auth["approved"] and auth["card_amount"] == 4_000
    assert w.books(card) == (10_000, 4_000, 6_000)
    assert w.held_in(program.accounts.settlement) == (0, 4_000)

    w.clock.advance(hours=20)
    tx = w.clear(card, cleared, auth_id=auth["authorization_id"])

    assert tx["kind"] == "clearing" and tx["authorization_id"] == auth["authorization_id"]
    assert (tx["card_amount"], tx["fee"], tx["shortfall"]) == (cleared, 0, 0)
    assert [t.rsplit(":", 1)[1] for t in tx["transfer_ids"]] == transfers
    assert sum(w.transfer(t).amount for t in tx["transfer_ids"]) == cleared
    assert w.books(card) == (10_000 - cleared, 0, 10_000 - cleared)
    assert w.net(program.accounts.settlement) == cleared and w.held_in(program.accounts.settlement) == (0, 0)
    assert w.net(program.accounts.funding) == -10_000 and w.net(program.accounts.fx_fees) == 0
    record = w.authorization(auth["authorization_id"])
    assert (record.status, record.held, record.cleared, record.counted) == ("closed", 0, cleared, cleared)
    w.assert_closed_system(program, [card])


@pytest.mark.parametrize(("funded", "cleared", "shortfall"), [
    pytest.param(5_000, 6_500, 2_500, id="extra-beyond-balance"),
    pytest.param(5_000, 5_000, 0, id="extra-exactly-the-balance"),
    pytest.param(4_000, 4_001, 1, id="one-cent-beyond"),
])
def test_an_extra_the_balance_cannot_cover_is_a_shortfall_and_the_balance_never_goes_negative(card_world, funded,
                                                                                             cleared, shortfall):
    w = card_world(START)
    program = w.program("USD")
    card = w.card(program, funded=funded)
    auth = w.authorize(card, 4_000)
    assert w.books(card) == (funded, 4_000, funded - 4_000)

    tx = w.clear(card, cleared, auth_id=auth["authorization_id"])

    assert tx["shortfall"] == shortfall and tx["card_amount"] == cleared
    posted = cleared - shortfall
    assert sum(w.transfer(t).amount for t in tx["transfer_ids"]) == posted
    assert w.books(card) == (funded - posted, 0, funded - posted)
    assert w.balance(card).posted >= 0
    assert w.net(program.accounts.settlement) == posted
    (listed,) = w.transactions(card)
    assert (listed.id, listed.shortfall, listed.kind) == (tx["id"], shortfall, "clearing")  # kept for ops
    w.assert_closed_system(program, [card])


def test_several_clearings_of_one_authorization(card_world):
    """The first clearing posts from the hold and releases the rest; later ones post directly."""
    w = card_world(START)
    program = w.program("USD")
    card = w.card(program, funded=10_000)
    auth = w.authorize(card, 6_000)
    auth_id = auth["authorization_id"]

    first = w.clear(card, 3_500, auth_id=auth_id)
    assert first["shortfall"] == 0 and w.books(card) == (6_500, 0, 6_500)
    w.clock.advance(days=1)
    second = w.clear(card, 2_500, auth_id=auth_id)
    assert (second["kind"], second["authorization_id"], second["shortfall"]) == ("clearing", auth_id, 0)
    assert w.books(card) == (4_000, 0, 4_000)
    w.clock.advance(days=1)
    third = w.clear(card, 500, auth_id=auth_id)  # a little more than authorized in all
    assert third["shortfall"] == 0 and w.books(card) == (3_500, 0, 3_500)

    beyond = w.clear(card, 3_600, auth_id=auth_id)  # more than the card has: nothing posts, all of it is owed
    assert (beyond["shortfall"], beyond["transfer_ids"]) == (3_600, [])
    assert w.books(card) == (3_500, 0, 3_500)

    record = w.authorization(auth_id)
    assert (record.status, record.held, record.cleared) == ("closed", 0, 3_500 + 2_500 + 500 + 3_600)
    assert [t.id for t in w.transactions(card)] == [first["id"], second["id"], third["id"], beyond["id"]]
    assert all(t.authorization_id == auth_id for t in w.transactions(card))
    assert w.net(program.accounts.settlement) == 6_500 and w.held_in(program.accounts.settlement) == (0, 0)
    w.assert_closed_system(program, [card])


def test_the_hold_is_released_at_its_expiry_and_a_late_clearing_is_a_force_post(card_world):
    w = card_world(START)
    program = w.program("USD", hold_seconds=3_600)
    card = w.card(program, funded=10_000)
    auth = w.authorize(card, 4_000)
    auth_id = auth["authorization_id"]
    expires_at = START + timedelta(seconds=3_600)
    assert w.authorization(auth_id).expires_at == expires_at

    w.clock.set(expires_at - timedelta(microseconds=1))  # the last instant of the hold
    w.expire()
    assert w.books(card) == (10_000, 4_000, 6_000) and w.authorization(auth_id).status == "pending"
    assert w.run(w.c.ledger_read().transfer(f"hold:{auth_id}"))[1].state == "pending"

    w.clock.set(expires_at)  # at its expiry: released
    w.expire()
    assert w.run(w.c.ledger_read().transfer(f"hold:{auth_id}"))[1].state == "expired"
    record = w.authorization(auth_id)
    assert (record.status, record.held, record.counted) == ("expired", 0, 0)
    assert w.books(card) == (10_000, 0, 10_000)
    assert w.held_in(program.accounts.settlement) == (0, 0) and w.net(program.accounts.settlement) == 0
    w.expire()  # once: nothing changes
    assert w.books(card) == (10_000, 0, 10_000) and w.authorization(auth_id) == record

    # An expired authorization takes no increment or reversal, and the ledger does not move.
    assert w.increment(auth_id, 100)["response_code"] == "12"
    assert w.reverse(auth_id)["decline_reason"] == "authorization_expired"
    assert w.books(card) == (10_000, 0, 10_000)

    w.clock.advance(days=3)  # the merchant settles late: a force post, priced and linked to the authorization
    tx = w.clear(card, 4_000, auth_id=auth_id)
    assert (tx["kind"], tx["authorization_id"], tx["shortfall"], tx["card_amount"]) == ("force_post", auth_id, 0,
                                                                                         4_000)
    assert [w.transfer(t).amount for t in tx["transfer_ids"]] == [4_000]
    assert w.books(card) == (6_000, 0, 6_000)
    assert w.net(program.accounts.settlement) == 4_000
    record = w.authorization(auth_id)
    assert (record.status, record.cleared, record.counted) == ("expired", 4_000, 4_000)
    assert w.events(auth_id) == ["authorization.approved", "authorization.expired", "transaction.cleared"]
    w.assert_closed_system(program, [card])


def test_an_expired_hold_frees_the_money_even_before_any_sweeper_runs(card_world):
    w = card_world(START)
    program = w.program("USD", hold_seconds=3_600)
    card = w.card(program, funded=10_000)
    first = w.authorize(card, 8_000)
    assert w.authorize(card, 8_000)["response_code"] == "51"

    w.clock.advance(seconds=3_600)  # no sweeper, no expiry task: the next message's batch releases the hold
    second = w.authorize(card, 8_000)
    assert second["approved"]
    assert w.books(card) == (10_000, 8_000, 2_000)
    assert w.held_in(program.accounts.settlement) == (0, 8_000)

    tx = w.clear(card, 8_000, auth_id=first["authorization_id"])  # the first one's late clearing
    assert (tx["kind"], tx["shortfall"]) == ("force_post", 8_000)  # the second's hold is respected
    assert w.books(card) == (10_000, 8_000, 2_000)
    record = w.authorization(first["authorization_id"])  # marked expired, as the expiry task would have
    assert (record.status, record.held, record.cleared, record.counted) == ("expired", 0, 8_000, 8_000)
    w.expire()
    assert w.authorization(first["authorization_id"]) == record
    assert w.authorization(second["authorization_id"]).status == "pending"
    assert w.events(first["authorization_id"]) == ["authorization.approved", "authorization.expired",
                                                   "transaction.cleared"]
    w.assert_closed_system(program, [card])


def test_a_force_post_without_authorization_posts_directly_within_the_balance(card_world):
    w = card_world(START)
    program = w.program("USD")
    card = w.card(program, funded=10_000)

    tx = w.clear(card, 3_000)
    assert (tx["kind"], tx["authorization_id"], tx["card_amount"], tx["shortfall"]) == ("force_post", None, 3_000, 0)
    (transfer_id,) = tx["transfer_ids"]
    transfer = w.transfer(transfer_id)
    assert (transfer.debit_account_id, transfer.credit_account_id, transfer.amount, transfer.kind) == (
        card.account_id, program.accounts.settlement, 3_000, "single")
    assert w.books(card) == (7_000, 0, 7_000)

    auth = w.authorize(card, 5_000)  # a live hold is respected by a force post
    assert w.books(card) == (7_000, 5_000, 2_000)
    refused = w.clear(card, 2_500)
    assert (refused["kind"], refused["shortfall"], refused["transfer_ids"]) == ("force_post", 2_500, [])
    assert w.books(card) == (7_000, 5_000, 2_000)
    fits = w.clear(card, 2_000)
    assert fits["shortfall"] == 0 and w.books(card) == (5_000, 5_000, 0)
    assert w.authorization(auth["authorization_id"]).status == "pending"

    assert w.net(program.accounts.settlement) == 5_000 and w.held_in(program.accounts.settlement) == (0, 5_000)
    assert [t.kind for t in w.transactions(card)] == ["force_post"] * 3
    w.assert_closed_system(program, [card])


def test_refunds_credit_the_card_back_from_settlement(card_world):
    w = card_world(START)
    program = w.program("USD")
    card = w.card(program, funded=10_000)
    auth = w.authorize(card, 3_000)
    w.clear(card, 3_000, auth_id=auth["authorization_id"])
    assert w.books(card) == (7_000, 0, 7_000)

    w.clock.advance(days=2)
    refund = w.refund(card, 1_200)
    assert (refund["kind"], refund["card_amount"], refund["fee"], refund["shortfall"]) == ("refund", 1_200, 0, 0)
    (transfer_id,) = refund["transfer_ids"]
    transfer = w.transfer(transfer_id)
    assert (transfer.debit_account_id, transfer.credit_account_id, transfer.amount) == (
        program.accounts.settlement, card.account_id, 1_200)
    assert w.books(card) == (8_200, 0, 8_200)
    assert w.net(program.accounts.settlement) == 3_000 - 1_200

    # A refund needs no earlier purchase on this card (the network decides); settlement may go below zero.
    w.refund(card, 5_000)
    assert w.books(card) == (13_200, 0, 13_200)
    assert w.net(program.accounts.settlement) == 3_000 - 1_200 - 5_000
    assert [t.kind for t in w.transactions(card)] == ["clearing", "refund", "refund"]
    w.assert_closed_system(program, [card])


def test_the_card_balance_never_shows_a_hold_past_its_expiry_even_before_any_sweep(card_world):
    w = card_world(START)
    program = w.program("USD", hold_seconds=3_600)
    card = w.card(program, funded=10_000)
    w.authorize(card, 4_000)
    assert w.books(card) == (10_000, 4_000, 6_000)
    w.clock.set(START + timedelta(seconds=3_600))  # expired; no sweeper or expiry task has run
    assert w.books(card) == (10_000, 0, 10_000)
