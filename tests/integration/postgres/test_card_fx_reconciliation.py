"""Cross-currency authorizations and clearings reconcile exactly in the ledger (issue 7).

A USD card with a 2 % program markup pays for EUR, JPY (no minor unit) and KWD (three) amounts.
The card amount is the converted amount plus the fee; the hold is that amount; a clearing is
priced at the authorization's rate (whatever the rate is by then) and its ledger legs add up to
exactly what the card account lost, of which settlement gets the converted amount and the FX fee
account the fee. Over the program's accounts nothing is created or destroyed: per currency, the
debits equal the credits. Refunds come back at the current rate, without markup.

The rates (card_world.RATES, EUR pivot) make every cross rate exact: 1 EUR = 1.25 USD,
1 JPY = 0.0078125 USD, 1 KWD = 4 USD. Expected amounts are worked out by hand below.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from application.fx.set_manual_rate import SetRate

START = datetime(2033, 11, 22, 16, 45, tzinfo=UTC)
FUNDED = 100_000  # USD 1,000.00
MARKUP_BPS = 200

# (merchant currency, merchant amount, rate to USD, converted, fee, total) in minor units
CASES = [
    # EUR 100.00 * 1.25 = USD 125.00; fee 2 % = 2.50; total 127.50
    pytest.param("EUR", 10_000, "1.25", 12_500, 250, 12_750, id="EUR"),
    # JPY 1,999 * 0.0078125 = USD 15.6171875 -> 15.62 (half-even); fee 0.3124 -> 0.31; total 15.93
    pytest.param("JPY", 1_999, "0.0078125", 1_562, 31, 1_593, id="JPY"),
    # KWD 12.345 * 4 = USD 49.38; fee 0.9876 -> 0.99; total 50.37
    pytest.param("KWD", 12_345, "4", 4_938, 99, 5_037, id="KWD"),
]

# Rates after the authorization, to show a clearing keeps the authorization's rate and a refund uses these:
# 1 EUR = 1.30 USD (1 JPY = 0.008125 USD, 1 KWD = 4.16 USD).
MOVED = {"USD": Decimal("1.30"), "JPY": Decimal("160"), "KWD": Decimal("0.3125")}


def _move_rates(w) -> None:
    for quote, value in MOVED.items():
        w.run(w.c.fx_set_manual_rate()(SetRate(base="EUR", quote=quote, value=value,
                                               as_of=w.clock.now() - timedelta(seconds=1))))


def _legs(w, tx) -> dict[str, tuple[str, str, int]]:
    return {t.rsplit(":", 1)[1]: (w.transfer(t).debit_account_id, w.transfer(t).credit_account_id,
                                  w.transfer(t).amount) for t in tx["transfer_ids"]}


@pytest.mark.parametrize(("currency", "amount", "rate", "converted", "fee", "total"), CASES)
def test_a_foreign_purchase_holds_and_clears_converted_plus_fee_to_the_minor_unit(card_world, currency, amount,
                                                                                  rate, converted, fee, total):
    w = card_world(START)
    w.set_rates()
    program = w.program("USD", markup_bps=MARKUP_BPS)
    card = w.card(program, funded=FUNDED)

    auth = w.authorize(card, amount, currency)
    assert (auth["approved"], auth["response_code"], auth["approved_amount"], auth["card_amount"],
            auth["card_currency"]) == (True, "00", amount, total, "USD")
    record = w.authorization(auth["authorization_id"])
    assert (record.amount, record.currency, record.fee, Decimal(record.rate)) == (amount, currency, fee,
                                                                                   Decimal(rate))
    assert (record.held, record.card_amount) == (total, total)
    assert w.books(card) == (FUNDED, total, FUNDED - total)
    assert w.held_in(program.accounts.settlement) == (0, total)

    w.clock.advance(days=1)
    _move_rates(w)  # the clearing is still priced at the authorization's rate
    tx = w.clear(card, amount, currency, auth_id=auth["authorization_id"])
    assert (tx["amount"], tx["currency"], tx["card_amount"], tx["card_currency"], tx["fee"], tx["shortfall"]) == (
        amount, currency, total, "USD", fee, 0)
    assert _legs(w, tx) == {
        "post": (card.account_id, program.accounts.settlement, total),
        "fx_fee": (program.accounts.settlement, program.accounts.fx_fees, fee),
    }
    lost = FUNDED - w.balance(card).posted
    assert lost == total == converted + fee
    assert w.books(card) == (FUNDED - total, 0, FUNDED - total)
    assert w.net(program.accounts.settlement) == converted
    assert w.net(program.accounts.fx_fees) == fee
    assert w.net(program.accounts.funding) == -FUNDED
    assert w.held_in(program.accounts.settlement) == (0, 0)
    w.assert_closed_system(program, [card])


@pytest.mark.parametrize(("currency", "refunded", "credited"), [
    pytest.param("EUR", 2_000, 2_600, id="EUR"),  # EUR 20.00 * 1.30 = USD 26.00
    pytest.param("JPY", 500, 406, id="JPY"),  # JPY 500 * 0.008125 = USD 4.0625 -> 4.06
    pytest.param("KWD", 1_000, 416, id="KWD"),  # KWD 1.000 * 4.16 = USD 4.16
])
def test_a_foreign_refund_credits_the_card_at_the_current_rate_without_markup(card_world, currency, refunded,
                                                                              credited):
    w = card_world(START)
    w.set_rates()
    program = w.program("USD", markup_bps=MARKUP_BPS)
    card = w.card(program, funded=FUNDED)
    w.clock.advance(hours=1)
    _move_rates(w)

    refund = w.refund(card, refunded, currency)
    assert (refund["card_amount"], refund["fee"], refund["currency"]) == (credited, 0, currency)
    assert _legs(w, refund) == {"refund": (program.accounts.settlement, card.account_id, credited)}
    assert w.books(card) == (FUNDED + credited, 0, FUNDED + credited)
    assert w.net(program.accounts.settlement) == -credited and w.net(program.accounts.fx_fees) == 0
    w.assert_closed_system(program, [card])


def test_more_or_less_than_authorized_in_a_foreign_currency_is_priced_at_the_authorization_rate(card_world):
    w = card_world(START)
    w.set_rates()
    program = w.program("USD", markup_bps=MARKUP_BPS)
    card = w.card(program, funded=FUNDED)
    tip = w.authorize(card, 10_000, "EUR")  # USD 127.50 held
    short = w.authorize(card, 10_000, "EUR")
    assert w.books(card) == (FUNDED, 25_500, FUNDED - 25_500)
    w.clock.advance(hours=6)
    _move_rates(w)

    # EUR 104.00 * 1.25 = 130.00, fee 2.60: 132.60, 5.10 beyond the hold
    more = w.clear(card, 10_400, "EUR", auth_id=tip["authorization_id"])
    assert (more["card_amount"], more["fee"], more["shortfall"]) == (13_260, 260, 0)
    assert _legs(w, more) == {
        "post": (card.account_id, program.accounts.settlement, 12_750),
        "extra": (card.account_id, program.accounts.settlement, 510),
        "fx_fee": (program.accounts.settlement, program.accounts.fx_fees, 260),
    }
    # EUR 90.00 * 1.25 = 112.50, fee 2.25: 114.75, and the other 12.75 released
    less = w.clear(card, 9_000, "EUR", auth_id=short["authorization_id"])
    assert (less["card_amount"], less["fee"], less["shortfall"]) == (11_475, 225, 0)
    assert _legs(w, less) == {
        "post": (card.account_id, program.accounts.settlement, 11_475),
        "fx_fee": (program.accounts.settlement, program.accounts.fx_fees, 225),
    }

    spent = 13_260 + 11_475
    assert w.books(card) == (FUNDED - spent, 0, FUNDED - spent)
    assert w.net(program.accounts.settlement) == 13_000 + 11_250
    assert w.net(program.accounts.fx_fees) == 260 + 225
    assert w.held_in(program.accounts.settlement) == (0, 0)
    w.assert_closed_system(program, [card])


def test_foreign_increments_reversals_and_a_late_clearing_keep_the_authorization_rate(card_world):
    w = card_world(START)
    w.set_rates()
    program = w.program("USD", markup_bps=MARKUP_BPS, hold_seconds=24 * 3600)
    card = w.card(program, funded=FUNDED)
    grown = w.authorize(card, 10_000, "EUR")["authorization_id"]  # 127.50
    shrunk = w.authorize(card, 10_000, "EUR")["authorization_id"]  # 127.50
    lapsed = w.authorize(card, 1_999, "JPY")["authorization_id"]  # 15.93
    w.clock.advance(hours=1)
    _move_rates(w)

    # + EUR 10.00 at 1.25 = 12.50 + 0.25 fee
    assert w.increment(grown, 1_000)["card_amount"] == 12_750 + 1_275
    # - EUR 30.00 at 1.25 = 37.50 + 0.75 fee
    assert w.reverse(shrunk, 3_000)["card_amount"] == 12_750 - 3_825
    held = 14_025 + 8_925 + 1_593
    assert w.books(card) == (FUNDED, held, FUNDED - held)
    assert w.held_in(program.accounts.settlement) == (0, held)

    first = w.clear(card, 11_000, "EUR", auth_id=grown)  # 137.50 + 2.75 = 140.25: all of the hold
    second = w.clear(card, 7_000, "EUR", auth_id=shrunk)  # 87.50 + 1.75 = 89.25: all of the hold
    assert [(t["card_amount"], t["fee"]) for t in (first, second)] == [(14_025, 275), (8_925, 175)]
    assert w.books(card) == (FUNDED - 14_025 - 8_925, 1_593, FUNDED - 14_025 - 8_925 - 1_593)

    w.clock.set(START + timedelta(days=1))
    w.expire()
    assert w.authorization(lapsed).status == "expired"
    assert w.books(card) == (FUNDED - 14_025 - 8_925, 0, FUNDED - 14_025 - 8_925)
    late = w.clear(card, 1_999, "JPY", auth_id=lapsed)  # a force post, at the (expired) authorization's rate
    assert (late["kind"], late["card_amount"], late["fee"], late["shortfall"]) == ("force_post", 1_593, 31, 0)
    assert _legs(w, late) == {
        "post": (card.account_id, program.accounts.settlement, 1_593),
        "fx_fee": (program.accounts.settlement, program.accounts.fx_fees, 31),
    }
    forced = w.clear(card, 1_999, "JPY")  # no authorization: today's rate, 1999 * 0.008125 = 16.24, fee 0.32
    assert (forced["kind"], forced["card_amount"], forced["fee"]) == ("force_post", 1_656, 32)

    spent = 14_025 + 8_925 + 1_593 + 1_656
    fees = 275 + 175 + 31 + 32
    assert w.books(card) == (FUNDED - spent, 0, FUNDED - spent)
    assert w.net(program.accounts.fx_fees) == fees
    assert w.net(program.accounts.settlement) == spent - fees
    w.assert_closed_system(program, [card])


@pytest.mark.parametrize(("currency", "asked", "approved"), [
    # JPY 1,255 * 0.0078125 = 9.8046875 -> 9.80, fee 0.196 -> 0.20: 10.00 (JPY 1,256 would cost 10.01)
    pytest.param("JPY", 1_999, 1_255, id="JPY"),
    # KWD 2.451 * 4 = 9.804 -> 9.80, fee 0.20: 10.00 (KWD 2.452 would cost 10.01)
    pytest.param("KWD", 12_345, 2_451, id="KWD"),
])
def test_a_partial_foreign_approval_holds_exactly_the_available_balance(card_world, currency, asked, approved):
    w = card_world(START)
    w.set_rates()
    program = w.program("USD", markup_bps=MARKUP_BPS)
    card = w.card(program, funded=1_000)

    assert w.authorize(card, asked, currency)["response_code"] == "51"
    auth = w.authorize(card, asked, currency, partial_allowed=True)
    assert (auth["approved"], auth["response_code"], auth["approved_amount"], auth["card_amount"]) == (
        True, "10", approved, 1_000)
    assert w.authorization(auth["authorization_id"]).fee == 20
    assert w.books(card) == (1_000, 1_000, 0)
    assert w.held_in(program.accounts.settlement) == (0, 1_000)

    tx = w.clear(card, approved, currency, auth_id=auth["authorization_id"])
    assert (tx["card_amount"], tx["fee"], tx["shortfall"]) == (1_000, 20, 0)
    assert w.books(card) == (0, 0, 0)
    assert w.net(program.accounts.settlement) == 980 and w.net(program.accounts.fx_fees) == 20
    w.assert_closed_system(program, [card])


# BURSAR_FX_ROUNDING=half_up, BURSAR_FX_FEE_ROUNDING=up: a partial approval is the largest merchant
# amount whose total, rounded as configured, fits in what is available, and costs exactly what a
# full approval of that amount costs. Rounded half-even instead, the approved amounts would be JPY
# 1,233 and KWD 2.381 (9.63 + 0.19 = 9.82 and 9.52 + 0.19 = 9.71), which cost 9.83 and 9.72 as
# configured: a cent more than held.
CONFIGURED_ROUNDING = {"BURSAR_FX_ROUNDING": "half_up", "BURSAR_FX_FEE_ROUNDING": "up"}


@pytest.mark.parametrize(("currency", "funded", "approved", "converted", "fee"), [
    # JPY 1,231 * 0.0078125 = 9.6171875 -> 9.62, fee 0.1924 -> 0.20 (up): 9.82. JPY 1,232 = 9.625 -> 9.63
    # (half-up; half-even gives 9.62), fee 0.20: 9.83 does not fit.
    pytest.param("JPY", 982, 1_231, 962, 20, id="JPY"),
    # KWD 2.378 * 4 = 9.512 -> 9.51, fee 0.1902 -> 0.20 (up): 9.71. KWD 2.379 costs 9.52 + 0.20 = 9.72.
    pytest.param("KWD", 971, 2_378, 951, 20, id="KWD"),
])
def test_a_partial_foreign_approval_rounds_as_configured_and_reconciles_as_a_full_one(card_world, currency, funded,
                                                                                      approved, converted, fee):
    w = card_world(START, env=CONFIGURED_ROUNDING)
    w.set_rates()
    program = w.program("USD", markup_bps=MARKUP_BPS)
    card = w.card(program, funded=funded)
    other = w.card(program, funded=FUNDED, holder_id=card.cardholder_id)

    partial = w.authorize(card, 12_345, currency, partial_allowed=True)
    assert (partial["approved"], partial["response_code"], partial["approved_amount"], partial["card_amount"]) == (
        True, "10", approved, converted + fee)
    full = w.authorize(other, approved, currency)  # the same merchant amount, approved in full
    assert (full["response_code"], full["approved_amount"], full["card_amount"]) == ("00", approved, converted + fee)
    records = [w.authorization(a["authorization_id"]) for a in (partial, full)]
    assert [(r.approved_amount, r.card_amount, r.fee, r.held, r.rate) for r in records] == [
        (approved, converted + fee, fee, converted + fee, records[1].rate)] * 2
    assert w.books(card) == (funded, funded, 0)
    assert w.held_in(program.accounts.settlement) == (0, 2 * (converted + fee))

    w.clock.advance(hours=2)
    _move_rates(w)  # the clearings are priced at the authorizations' rate
    for paying, auth in ((card, partial), (other, full)):
        tx = w.clear(paying, approved, currency, auth_id=auth["authorization_id"])
        assert (tx["card_amount"], tx["fee"], tx["shortfall"]) == (converted + fee, fee, 0)
        assert _legs(w, tx) == {
            "post": (paying.account_id, program.accounts.settlement, converted + fee),
            "fx_fee": (program.accounts.settlement, program.accounts.fx_fees, fee),
        }
    assert w.books(card) == (0, 0, 0)
    assert w.books(other) == (FUNDED - converted - fee, 0, FUNDED - converted - fee)
    assert w.net(program.accounts.settlement) == 2 * converted and w.net(program.accounts.fx_fees) == 2 * fee
    assert w.held_in(program.accounts.settlement) == (0, 0)
    w.assert_closed_system(program, [card, other])


def test_a_foreign_increment_adds_its_fee_to_the_authorization(card_world):
    w = card_world(START)
    w.set_rates()
    program = w.program("USD", markup_bps=MARKUP_BPS)
    card = w.card(program, funded=FUNDED)
    auth = w.authorize(card, 10_000, "EUR")  # EUR 100.00 * 1.25 = USD 125.00, fee 2.50
    grown = w.increment(auth["authorization_id"], 2_000)  # EUR 20.00 = USD 25.00, fee 0.50
    assert grown["approved"]
    record = w.authorization(auth["authorization_id"])
    assert (record.approved_amount, record.card_amount, record.fee, record.held) == (12_000, 15_300, 300, 15_300)
