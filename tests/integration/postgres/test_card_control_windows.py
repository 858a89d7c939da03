"""Control intervals at their window edges, with an injected clock, on real PostgreSQL (issue 7).

Windows are UTC calendar windows (docs/cards.md): ``daily`` from 00:00, ``weekly`` from Monday
00:00, ``monthly`` from the 1st, ``yearly`` from 1 January. For each, and for both an amount
limit and a count limit: spending at the last instant before a window does not count in it;
spending at its first instant does, up to its last instant; the next window starts afresh at
its first instant. The spending is cleared (a clearing counts what was cleared), so the
earlier windows' holds expiring does not change what counts.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.cards.controls import Controls, CountLimit, SpendingLimit

TICK = timedelta(microseconds=1)
LIMIT = 5_000  # USD 50.00

# (interval, first instant of a window, first instant of the next one)
WINDOWS = [
    pytest.param("daily", datetime(2033, 6, 14, tzinfo=UTC), datetime(2033, 6, 15, tzinfo=UTC), id="daily"),
    pytest.param("weekly", datetime(2033, 6, 6, tzinfo=UTC), datetime(2033, 6, 13, tzinfo=UTC), id="weekly"),  # Mondays
    pytest.param("monthly", datetime(2033, 2, 1, tzinfo=UTC), datetime(2033, 3, 1, tzinfo=UTC), id="monthly"),
    pytest.param("yearly", datetime(2033, 1, 1, tzinfo=UTC), datetime(2034, 1, 1, tzinfo=UTC), id="yearly"),
]


def _spend(w, card, amount: int) -> dict:
    auth = w.authorize(card, amount)
    if auth["approved"]:
        w.clear(card, amount, auth_id=auth["authorization_id"])
    return auth


@pytest.mark.parametrize(("interval", "start", "next_start"), WINDOWS)
def test_an_amount_limit_counts_within_its_utc_window_only(card_world, interval, start, next_start):
    w = card_world(start - timedelta(hours=1))
    program = w.program("USD")
    card = w.card(program, funded=100_000, controls=Controls(spending_limits=(
        SpendingLimit(amount=LIMIT, interval=interval),)))

    w.clock.set(start - TICK)  # the window before
    assert _spend(w, card, LIMIT)["approved"]
    w.clock.set(start)  # the window's first instant: the spending before does not count
    assert _spend(w, card, LIMIT - 1)["approved"]
    assert _spend(w, card, 1)["approved"]
    w.clock.set(next_start - TICK)  # its last instant: full
    full = w.authorize(card, 1)
    assert (full["approved"], full["response_code"], full["decline_reason"]) == (False, "61",
                                                                                 "spending_limit_exceeded")
    w.clock.set(next_start)  # the next window's first instant: afresh
    assert w.authorize(card, LIMIT + 1)["response_code"] == "61"
    held = w.authorize(card, LIMIT)
    assert held["approved"]
    assert w.authorize(card, 1)["response_code"] == "61"

    spent = 2 * LIMIT
    assert w.books(card) == (100_000 - spent, LIMIT, 100_000 - spent - LIMIT)
    assert w.net(program.accounts.settlement) == spent
    assert w.held_in(program.accounts.settlement) == (0, LIMIT)
    w.assert_closed_system(program, [card])


@pytest.mark.parametrize(("interval", "start", "next_start"), WINDOWS)
def test_a_count_limit_counts_within_its_utc_window_only(card_world, interval, start, next_start):
    w = card_world(start - timedelta(hours=1))
    program = w.program("USD")
    card = w.card(program, funded=100_000, controls=Controls(max_authorizations=CountLimit(count=2,
                                                                                           interval=interval)))

    w.clock.set(start - TICK)
    assert _spend(w, card, 100)["approved"]
    assert _spend(w, card, 100)["approved"]
    w.clock.set(start)
    assert _spend(w, card, 100)["approved"]
    assert _spend(w, card, 100)["approved"]
    w.clock.set(next_start - TICK)
    over = w.authorize(card, 100)
    assert (over["approved"], over["response_code"], over["decline_reason"]) == (False, "65",
                                                                                 "authorization_count_exceeded")
    w.clock.set(next_start)
    assert w.authorize(card, 100)["approved"]
    assert w.authorize(card, 100)["approved"]
    assert w.authorize(card, 100)["response_code"] == "65"

    assert w.books(card) == (100_000 - 400, 200, 100_000 - 600)
    assert w.net(program.accounts.settlement) == 400
    w.assert_closed_system(program, [card])


def test_reversals_give_the_limit_back_and_clearings_count_what_was_cleared(card_world):
    day = datetime(2033, 9, 20, tzinfo=UTC)
    w = card_world(day + timedelta(hours=8))
    program = w.program("USD")
    card = w.card(program, funded=100_000, controls=Controls(spending_limits=(
        SpendingLimit(amount=LIMIT, interval="daily"),)))

    reversed_ = w.authorize(card, 3_000)["authorization_id"]
    cleared = w.authorize(card, 2_000)["authorization_id"]
    assert w.authorize(card, 1)["response_code"] == "61"
    w.reverse(reversed_, 1_000)  # 2,000 + 2,000 counted
    assert w.authorize(card, 1_001)["response_code"] == "61"
    w.clear(card, 1_500, auth_id=cleared)  # 2,000 + 1,500 counted
    assert w.authorize(card, 1_501)["response_code"] == "61"
    assert w.authorize(card, 1_500)["approved"]
    assert w.authorize(card, 1)["response_code"] == "61"

    assert w.books(card) == (100_000 - 1_500, 3_500, 100_000 - 5_000)
    assert w.net(program.accounts.settlement) == 1_500 and w.held_in(program.accounts.settlement) == (0, 3_500)
    w.assert_closed_system(program, [card])


def test_usage_is_summed_as_far_back_as_the_limits_look_even_when_they_change_before_the_lock(
        card_world, monkeypatch):
    """A batch sums a card's usage only from the earliest window its limits use (read before the
    card is locked) and sums again, further back, when the locked card's limits look further."""
    from application.cards.cards import CardChange
    from adapters.postgres.cards import PostgresCards

    w = card_world(datetime(2033, 6, 2, 12, tzinfo=UTC))
    program = w.program("USD")
    card = w.card(program, funded=100_000)  # no limits yet
    assert _spend(w, card, 4_000)["approved"]  # early in June

    w.clock.set(datetime(2033, 6, 20, 12, tzinfo=UTC))
    w.run(w.c.cards_update()(card.id, CardChange(controls=Controls(spending_limits=(
        SpendingLimit(amount=LIMIT, interval="monthly"),)))))
    stale = card  # the card as issued: no limits, so no window to sum

    # The process keeps cards by token as first read (the first authorization read it before its
    # limits changed); should it read them again, it reads them as issued too.
    original = PostgresCards.cards_by_tokens

    async def read_stale(self, tokens):
        cards = await original(self, tokens)
        return {token: stale if token == card.token else found for token, found in cards.items()}

    monkeypatch.setattr(PostgresCards, "cards_by_tokens", read_stale)
    over = w.authorize(card, 2_000)  # 4,000 earlier this month + 2,000 > 5,000
    assert (over["response_code"], over["decline_reason"]) == ("61", "spending_limit_exceeded")
    assert w.authorize(card, 1_000)["approved"]  # exactly 5,000
