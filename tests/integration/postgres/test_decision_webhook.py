"""A program's real-time decision webhook, against a real HTTP receiver and real PostgreSQL: it is
asked (signed) only when Bursar's own checks approve, can turn an approval into a decline, and on
a timeout, an error status or an unreadable answer the program's fallback applies, recorded."""

from __future__ import annotations

import asyncio
import json
import uuid

from dependency_injector import providers

from adapters.memory.vault import InMemoryVault
from application.cards.cardholders import NewCardholder
from application.cards.cards import Funding, NewCard
from application.cards.programs import NewDecisionWebhook, NewProgram
from domain.cards.authorization import AuthorizationRequest, Merchant
from entrypoints.containers import CoreContainer
from entrypoints.settings import Settings
from tests.webhook_support import Receiver

MERCHANT = Merchant(name="Shop", mcc="5411", country="DE")


def _run(env, scenario):
    container = CoreContainer()
    container.settings.override(providers.Object(Settings.from_env(env)))
    container.vault_client.override(providers.Object(InMemoryVault()))

    async def main():
        await container.database().open()
        try:
            return await scenario(container)
        finally:
            await container.decision_webhooks().close()
            await container.database().close()

    return asyncio.run(main())


async def _card(c, url: str, *, balance: int = 10_000, timeout_ms: int = 1_000, fallback: str = "decline"):
    tag = uuid.uuid4().hex[:8]
    program, _ = await c.cards_create_program()(NewProgram(
        id=f"prog_{tag}", name="p", bin="456789", currency="EUR",
        decision_webhook=NewDecisionWebhook(url=url, timeout_ms=timeout_ms, fallback=fallback)))
    holder = await c.cards_create_cardholder()(NewCardholder(name="Hook Tester", country="DE", id=f"ch_{tag}"),
                                               actor="test")
    await c.cards_decide_kyc()(holder.cardholder.id, "verified", "premium")
    card, _ = await c.cards_issue()(NewCard(cardholder_id=holder.cardholder.id, program_id=program.id),
                                    f"card_{tag}")
    await c.cards_fund()(card.id, Funding(id=f"fund-{tag}", amount=balance, currency="EUR"))
    return program, card


def _auth(token: str, amount: int, message_id: str | None = None) -> AuthorizationRequest:
    return AuthorizationRequest(message_id=message_id or f"m-{uuid.uuid4()}", card_token=token, amount=amount,
                                currency="EUR", merchant=MERCHANT)


async def _recorded(c, card_id: str):
    return (await c.cards_read().authorizations(card_id, None, 10))[-1]


def test_an_approving_webhook_is_asked_signed_and_the_approval_stands(vault_bootstrapped):
    with Receiver() as receiver:
        receiver.reply = lambda path, n: json.dumps({"approved": True}).encode()

        async def scenario(c):
            program, card = await _card(c, receiver.url + "/decide")
            receiver.secrets["/decide"] = program.decision_webhook.secret
            answer = await c.cards_authorize()(_auth(card.token, 2_500, "hook-ok"))
            return card, answer, await _recorded(c, card.id), await c.cards_read().balance(card.id)

        card, answer, recorded, balance = _run(vault_bootstrapped, scenario)
    assert (answer["approved"], answer["response_code"]) == (True, "00")
    assert recorded.decision_webhook.outcome == "approved"
    assert balance.pending == 2_500
    [asked] = receiver.requests
    assert asked.verified, "a receiver verifies the Standard Webhooks signature with the program's secret"
    body = json.loads(asked.body)
    assert body["type"] == "authorization.request"
    assert body["data"]["card_id"] == card.id
    assert (body["data"]["amount"], body["data"]["card_amount"], body["data"]["message_id"]) == (2_500, 2_500,
                                                                                              "hook-ok")
    assert "card_token" not in body["data"], "the webhook gets the card id, never the vault token"


def test_a_declining_webhook_declines_with_05_and_holds_nothing(vault_bootstrapped):
    with Receiver() as receiver:
        receiver.reply = lambda path, n: json.dumps({"approved": False, "reason": "merchant not allowed"}).encode()

        async def scenario(c):
            _, card = await _card(c, receiver.url + "/decide")
            answer = await c.cards_authorize()(_auth(card.token, 2_500))
            return answer, await _recorded(c, card.id), await c.cards_read().balance(card.id)

        answer, recorded, balance = _run(vault_bootstrapped, scenario)
    assert (answer["approved"], answer["response_code"], answer["decline_reason"]) == (
        False, "05", "decision_webhook_declined")
    assert (recorded.decision_webhook.outcome, recorded.decision_webhook.reason) == ("declined",
                                                                                    "merchant not allowed")
    assert (balance.pending, balance.available) == (0, 10_000)


def test_no_answer_in_time_applies_the_fallback_and_records_why(vault_bootstrapped):
    with Receiver() as receiver:
        receiver.hold.clear()  # the endpoint never answers within the budget
        receiver.hold_timeout = 2.0

        async def scenario(c):
            _, approving = await _card(c, receiver.url + "/slow", timeout_ms=100, fallback="approve")
            _, declining = await _card(c, receiver.url + "/slow", timeout_ms=100, fallback="decline")
            first = await c.cards_authorize()(_auth(approving.token, 1_000))
            second = await c.cards_authorize()(_auth(declining.token, 1_000))
            return first, second, await _recorded(c, approving.id), await _recorded(c, declining.id)

        first, second, approved, declined = _run(vault_bootstrapped, scenario)
    assert (first["approved"], first["response_code"]) == (True, "00")
    assert approved.decision_webhook.outcome == "fallback_approved"
    assert approved.decision_webhook.reason == "no answer within 100 ms"
    assert (second["approved"], second["response_code"], second["decline_reason"]) == (
        False, "05", "decision_webhook_unavailable")
    assert declined.decision_webhook.outcome == "fallback_declined"


def test_an_error_status_or_an_unreadable_answer_is_no_answer(vault_bootstrapped):
    with Receiver() as receiver:
        receiver.respond = lambda path, n: 500 if path == "/error" else 200
        receiver.reply = lambda path, n: b'{"approved": "yes"}' if path == "/garbage" else b"{}"

        async def scenario(c):
            outcomes = []
            for path in ("/error", "/garbage"):
                _, card = await _card(c, receiver.url + path, fallback="decline")
                answer = await c.cards_authorize()(_auth(card.token, 1_000))
                outcomes.append((answer["response_code"], (await _recorded(c, card.id)).decision_webhook))
            return outcomes

        (error_code, error), (garbage_code, garbage) = _run(vault_bootstrapped, scenario)
    assert (error_code, error.outcome, error.reason) == ("05", "fallback_declined", "status 500")
    assert (garbage_code, garbage.outcome) == ("05", "fallback_declined")
    assert "approved" in garbage.reason


def test_the_webhook_is_not_asked_when_bursar_declines_nor_again_on_a_retry(vault_bootstrapped):
    with Receiver() as receiver:
        receiver.reply = lambda path, n: b'{"approved": true}'

        async def scenario(c):
            _, card = await _card(c, receiver.url + "/decide", balance=1_000)
            too_much = await c.cards_authorize()(_auth(card.token, 5_000))
            first = await c.cards_authorize()(_auth(card.token, 500, "hook-retry"))
            retry = await c.cards_authorize()(_auth(card.token, 500, "hook-retry"))
            return too_much, first, retry, await _recorded(c, card.id)

        too_much, first, retry, recorded = _run(vault_bootstrapped, scenario)
    assert (too_much["response_code"], too_much["decline_reason"]) == ("51", "insufficient_funds")
    assert first == retry and first["approved"]
    assert len(receiver.requests) == 1, "asked once: not for Bursar's own decline, not for the retry"
    assert recorded.decision_webhook.outcome == "approved"
