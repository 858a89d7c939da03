"""Concurrent authorizations on real PostgreSQL: a balance that covers k of N racing
authorizations approves exactly k; a daily limit is never exceeded; retries answer the same."""

from __future__ import annotations

import asyncio
import uuid

from dependency_injector import providers

from adapters.memory.vault import InMemoryVault
from application.cards.cardholders import NewCardholder
from application.cards.cards import Funding, NewCard
from application.cards.programs import NewProgram
from domain.cards.authorization import AuthorizationRequest, Merchant
from domain.cards.controls import Controls, SpendingLimit
from entrypoints.containers import CoreContainer
from entrypoints.settings import Settings

MERCHANT = Merchant(name="Shop", mcc="5411", country="DE")


def _run(env, scenario):
    container = CoreContainer()
    container.settings.override(providers.Object(Settings.from_env({**env, "BURSAR_DB_POOL_MAX": "16"})))
    container.vault_client.override(providers.Object(InMemoryVault()))

    async def main():
        await container.database().open()
        try:
            return await scenario(container)
        finally:
            await container.database().close()

    return asyncio.run(main())


async def _card(c, balance: int, controls: Controls = Controls()) -> tuple[str, str]:
    tag = uuid.uuid4().hex[:8]
    program, _ = await c.cards_create_program()(NewProgram(id=f"prog_{tag}", name="p", bin="456789",
                                                           currency="EUR"))
    holder = await c.cards_create_cardholder()(NewCardholder(name="Race Tester", country="DE", id=f"ch_{tag}"),
                                               actor="test")
    await c.cards_decide_kyc()(holder.cardholder.id, "verified", "premium")
    card, _ = await c.cards_issue()(NewCard(cardholder_id=holder.cardholder.id, program_id=program.id,
                                            controls=controls), f"card_{tag}")
    await c.cards_fund()(card.id, Funding(id=f"fund-{tag}", amount=balance, currency="EUR"))
    return card.id, card.token


def _auth(token: str, amount: int, message_id: str | None = None) -> AuthorizationRequest:
    return AuthorizationRequest(message_id=message_id or f"m-{uuid.uuid4()}", card_token=token, amount=amount,
                                currency="EUR", merchant=MERCHANT)


def test_n_racing_authorizations_covered_k_times_approve_exactly_k(vault_bootstrapped):
    # k = 4: the shipped burst rule declines a cardholder's sixth approval within a minute
    # (counting those before it, in the same batch too), which would hide the balance's answer.
    async def scenario(c):
        card_id, token = await _card(c, balance=4 * 1_000)
        answers = await asyncio.gather(*(c.cards_authorize()(_auth(token, 1_000)) for _ in range(20)))
        return answers, await c.cards_read().balance(card_id)

    answers, balance = _run(vault_bootstrapped, scenario)
    codes = sorted(a["response_code"] for a in answers)
    assert codes == ["00"] * 4 + ["51"] * 16
    assert (balance.posted, balance.pending, balance.available) == (4_000, 4_000, 0)


def test_a_daily_limit_holds_under_concurrency(vault_bootstrapped):
    controls = Controls(spending_limits=(SpendingLimit(amount=2_500, interval="daily"),))

    async def scenario(c):
        _, token = await _card(c, balance=100_000, controls=controls)
        return await asyncio.gather(*(c.cards_authorize()(_auth(token, 1_000)) for _ in range(10)))

    answers = _run(vault_bootstrapped, scenario)
    assert sorted(a["response_code"] for a in answers) == ["00", "00"] + ["61"] * 8


def test_the_burst_rule_holds_for_racing_one_by_one_authorizations(vault_bootstrapped):
    """The one-by-one path (decision webhooks, failed batches) checks the real-time monitoring rules
    under the cardholder's lock too: of ten racing messages, the shipped burst rule (more than 5
    within a minute) lets exactly five through."""

    async def scenario(c):
        card_id, token = await _card(c, balance=100_000)
        authorize = c.cards_authorize()
        answers = await asyncio.gather(*(authorize.single(_auth(token, 1_000)) for _ in range(10)))
        return answers, await c.cards_read().balance(card_id)

    answers, balance = _run(vault_bootstrapped, scenario)
    assert sorted(a["response_code"] for a in answers) == ["00"] * 5 + ["59"] * 5
    assert balance.pending == 5_000


def test_retried_messages_get_the_first_answer_and_conflicting_ones_are_refused(vault_bootstrapped):
    async def scenario(c):
        card_id, token = await _card(c, balance=1_500)
        msg = f"same-{uuid.uuid4()}"
        first = await c.cards_authorize()(_auth(token, 1_000, msg))
        retries = await asyncio.gather(*(c.cards_authorize()(_auth(token, 1_000, msg)) for _ in range(5)))
        try:
            await c.cards_authorize()(_auth(token, 999, msg))
            conflict = None
        except Exception as exc:  # noqa: BLE001
            conflict = getattr(exc, "code", None)
        return first, retries, conflict, await c.cards_read().balance(card_id)

    first, retries, conflict, balance = _run(vault_bootstrapped, scenario)
    assert all(r == first for r in retries) and first["approved"]
    assert conflict == "idempotency_conflict"
    assert balance.pending == 1_000
