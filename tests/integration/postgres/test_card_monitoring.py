"""The cards context reports its activity to transaction monitoring: a funding is stored with its
transfer, in one transaction, and its alert rules are evaluated soon after the commit, off the
answer's path (or by the sweeper). The shipped rules then see money in as well as money out."""

from __future__ import annotations

import uuid

from application.cards.cardholders import NewCardholder
from application.cards.cards import Funding, NewCard
from application.cards.programs import NewProgram
from domain.cards.authorization import AuthorizationRequest
from tests.integration.postgres.test_card_authorization_batches import _activity
from tests.integration.postgres.test_card_authorization_concurrency import MERCHANT, _run


async def _usd_card(c) -> tuple[str, str]:
    tag = uuid.uuid4().hex[:8]
    program, _ = await c.cards_create_program()(NewProgram(id=f"prog_{tag}", name="p", bin="456789", currency="USD"))
    holder = await c.cards_create_cardholder()(NewCardholder(name="Monitored Holder", country="US", id=f"ch_{tag}"),
                                               actor="test")
    await c.cards_decide_kyc()(holder.cardholder.id, "verified", "premium")
    card, _ = await c.cards_issue()(NewCard(cardholder_id=holder.cardholder.id, program_id=program.id), f"card_{tag}")
    return card.id, card.token


def test_a_funding_is_monitored_once_and_raises_its_alerts(vault_bootstrapped):
    async def scenario(c):
        card_id, _ = await _usd_card(c)
        fund = c.cards_fund()
        large = Funding(id=f"large-{uuid.uuid4().hex[:8]}", amount=1_200_000, currency="USD")  # USD 12,000
        first = await fund(card_id, large)
        answered = await _activity(c, [f"funding:{large.id}"])
        replayed = await fund(card_id, large)
        await c.compliance_alerts_soon().drain()  # the evaluation asked for after the commit
        return first, replayed, answered, await _activity(c, [f"funding:{large.id}"]), large

    first, replayed, answered, (stored, awaiting, alerts), large = _run(vault_bootstrapped, scenario)
    assert (first[0].status, replayed[0].status) == ("created", "exists")
    assert answered[0] == 1  # committed with the transfer
    assert (stored, awaiting) == (1, 0)  # once
    assert alerts == [(f"funding:{large.id}", "large-usd")]


def test_spending_soon_after_a_funding_raises_the_pass_through_alert(vault_bootstrapped):
    """The shipped "pass-through-usd" rule: 90% or more of USD 2,000+ funded within an hour spent
    within that hour. It counts the authorizations since the first funding, so it needs both."""

    async def scenario(c):
        card_id, token = await _usd_card(c)
        await c.cards_fund()(card_id, Funding(id=f"in-{uuid.uuid4().hex[:8]}", amount=200_000, currency="USD"))
        authorize = c.cards_authorize()
        requests = [AuthorizationRequest(message_id=f"m-{uuid.uuid4()}", card_token=token, amount=amount,
                                         currency="USD", merchant=MERCHANT) for amount in (100_000, 80_000)]
        answers = [await authorize(r) for r in requests]
        await authorize.drain()
        return answers, await _activity(c, [f"auth:{r.message_id}" for r in requests]), requests

    answers, (stored, awaiting, alerts), requests = _run(vault_bootstrapped, scenario)
    assert [a["response_code"] for a in answers] == ["00", "00"]
    assert (stored, awaiting) == (2, 0)
    # USD 1,000 is half of the funding; with USD 800 more, 90% of it is spent.
    assert alerts == [(f"auth:{requests[1].message_id}", "pass-through-usd")]
