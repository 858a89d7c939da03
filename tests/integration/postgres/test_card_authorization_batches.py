"""Authorizations decided in batches (application/cards/authorize_batch.py) on real PostgreSQL.

``asyncio.gather`` of N calls queues them in order: the first call starts a batch of its own, the
N-1 others queue while it runs and are decided together in the next one, in arrival order.
"""

from __future__ import annotations

import asyncio
import uuid

import msgspec
import pytest

from application.cards import authorize_batch
from application.cards.authorize_batch import AuthorizationBatcher
from application.cards.cardholders import NewCardholder
from application.cards.cards import Funding, NewCard
from application.cards.programs import NewProgram
from domain.shared.errors import Conflict
from tests.integration.postgres.test_card_authorization_concurrency import _auth, _card, _run


@pytest.fixture
def batch_sizes(monkeypatch) -> list[int]:
    sizes: list[int] = []
    original = AuthorizationBatcher._batch

    async def spy(self, group, *rest):
        sizes.append(len(group))
        return await original(self, group, *rest)

    monkeypatch.setattr(AuthorizationBatcher, "_batch", spy)
    return sizes


async def _holder_with_cards(c, tier: str, balances: list[int]) -> list[tuple[str, str]]:
    tag = uuid.uuid4().hex[:8]
    program, _ = await c.cards_create_program()(NewProgram(id=f"prog_{tag}", name="p", bin="456789", currency="EUR"))
    holder = await c.cards_create_cardholder()(NewCardholder(name="Batch Tester", country="DE", id=f"ch_{tag}"),
                                               actor="test")
    await c.cards_decide_kyc()(holder.cardholder.id, "verified", tier)
    cards = []
    for i, balance in enumerate(balances):
        card, _ = await c.cards_issue()(NewCard(cardholder_id=holder.cardholder.id, program_id=program.id),
                                        f"card_{tag}_{i}")
        await c.cards_fund()(card.id, Funding(id=f"fund-{tag}-{i}", amount=balance, currency="EUR"))
        cards.append((card.id, card.token))
    return cards


def test_mixed_cards_and_cardholders_in_one_batch_decide_in_arrival_order(vault_bootstrapped, batch_sizes):
    async def scenario(c):
        # Holder A (basic tier: 100,000 a day over all its cards) has two cards of 80,000 each;
        # holder B's card covers 5,000.
        (a1, a1_token), (a2, a2_token) = await _holder_with_cards(c, "basic", [80_000, 80_000])
        b, b_token = await _card(c, balance=5_000)
        authorize = c.cards_authorize()
        batch_sizes.clear()
        requests = [_auth(b_token, 1_000)]  # alone in the first batch
        for i in range(8):
            requests += [_auth(a1_token if i % 2 == 0 else a2_token, 20_000), _auth(b_token, 1_000)]
        requests.append(_auth("tok_unknown", 1_000))
        answers = await asyncio.gather(*(authorize(r) for r in requests))
        balances = {card: await c.cards_read().balance(card) for card in (a1, a2, b)}
        return answers, balances

    answers, balances = _run(vault_bootstrapped, scenario)
    assert batch_sizes == [1, 17]
    a_codes = [a["response_code"] for a in answers[1:-1:2]]
    b_codes = [answers[0]["response_code"]] + [a["response_code"] for a in answers[2:-1:2]]
    assert a_codes == ["00"] * 5 + ["61"] * 3  # the holder's daily limit, over both cards, in arrival order
    # B's balance covers five; the sixth on is also its sixth within a minute, and the real-time
    # monitoring check (the shipped burst rule, which counts the approvals before it in the
    # batch) comes before the balance.
    assert b_codes == ["00"] * 5 + ["59"] * 4
    assert (answers[-1]["response_code"], answers[-1]["decline_reason"]) == ("14", "invalid_card")
    a1, a2, b = balances.values()
    assert (a1.pending, a2.pending, b.pending) == (60_000, 40_000, 5_000)
    assert all(x.available == x.posted - x.pending for x in (a1, a2, b))


def test_repeated_message_ids_in_a_batch_get_the_first_answer_or_a_conflict(vault_bootstrapped, batch_sizes):
    async def scenario(c):
        card_id, token = await _card(c, balance=10_000)
        authorize = c.cards_authorize()
        batch_sizes.clear()
        first = _auth(token, 1_000, "m-dup")
        requests = [_auth(token, 500), first, _auth(token, 2_000), first, _auth(token, 1_500, "m-dup"), first]
        answers = await asyncio.gather(*(authorize(r) for r in requests), return_exceptions=True)
        replay = await authorize(first)
        return answers, replay, await c.cards_read().balance(card_id)

    answers, replay, balance = _run(vault_bootstrapped, scenario)
    assert batch_sizes[:2] == [1, 5]
    assert answers[1]["response_code"] == "00" and answers[1]["approved_amount"] == 1_000
    assert answers[3] == answers[1] == answers[5] == replay
    assert isinstance(answers[4], Conflict) and answers[4].code == "idempotency_conflict"
    assert answers[0]["response_code"] == answers[2]["response_code"] == "00"
    assert balance.pending == 500 + 1_000 + 2_000  # one hold for the repeated id


def test_a_hold_the_ledger_refuses_declines_that_message_only(vault_bootstrapped, batch_sizes, monkeypatch):
    original = authorize_batch.execute_batch

    def refuse_1234(items, snapshot, now):  # a hold to an account that does not exist: the ledger refuses it
        items = [msgspec.structs.replace(i, credit_account_id="no-such-account") if i.amount == 1_234 else i
                 for i in items]
        return original(items, snapshot, now)

    monkeypatch.setattr(authorize_batch, "execute_batch", refuse_1234)

    async def scenario(c):
        card_id, token = await _card(c, balance=10_000)
        authorize = c.cards_authorize()
        answers = await asyncio.gather(*(authorize(_auth(token, amount)) for amount in (100, 1_000, 1_234, 2_000)))
        return answers, await c.cards_read().balance(card_id)

    answers, balance = _run(vault_bootstrapped, scenario)
    assert batch_sizes == [1, 3]
    assert [a["response_code"] for a in answers] == ["00", "00", "51", "00"]
    assert answers[2]["decline_reason"] == "ledger_credit_account_not_found"
    assert answers[2]["authorization_id"] is not None and not answers[2]["approved"]
    assert balance.pending == 100 + 1_000 + 2_000


def test_a_failing_batch_is_decided_one_by_one(vault_bootstrapped, batch_sizes, monkeypatch):
    singles: list[str] = []
    failures = []
    original = AuthorizationBatcher._decide

    async def fail_once(self, uow, messages, *rest):
        if len(messages) > 1 and not failures:
            failures.append(len(messages))
            raise RuntimeError("the batch's transaction failed")
        return await original(self, uow, messages, *rest)

    monkeypatch.setattr(AuthorizationBatcher, "_decide", fail_once)

    async def scenario(c):
        card_id, token = await _card(c, balance=3_000)
        authorize = c.cards_authorize()
        single = authorize.single

        async def counted(request):
            singles.append(request.message_id)
            return await single(request)

        authorize.single = counted
        requests = [_auth(token, 1_000) for _ in range(7)]
        answers = await asyncio.gather(*(authorize(r) for r in requests))
        again = await asyncio.gather(*(authorize(r) for r in requests))
        return requests, answers, again, await c.cards_read().balance(card_id)

    requests, answers, again, balance = _run(vault_bootstrapped, scenario)
    assert failures == [6]
    assert singles == [r.message_id for r in requests[1:]]  # the failed batch's six, one by one, in order
    assert [a["response_code"] for a in answers] == ["00"] * 3 + ["51"] * 4
    assert again == answers  # replays, batched again, recall the same answers
    assert (balance.pending, balance.available) == (3_000, 0)


def test_a_message_racing_itself_through_the_batch_and_alone_is_decided_once(vault_bootstrapped):
    async def scenario(c):
        card_id, token = await _card(c, balance=100_000)
        authorize = c.cards_authorize()
        requests = [_auth(token, 1_000 + i) for i in range(12)]
        calls = [authorize(r) for r in requests] + [authorize.single(r) for r in requests]
        answers = await asyncio.gather(*calls)
        return requests, answers, await c.cards_read().balance(card_id)

    requests, answers, balance = _run(vault_bootstrapped, scenario)
    n = len(requests)
    for i in range(n):
        assert answers[i] == answers[n + i]  # each message decided once, whichever path got it first
    codes = sorted(a["response_code"] for a in answers[:n])
    # the shipped burst rule (more than 5 within a minute) holds across both paths: each checks it
    # under the cardholder's lock, against every approval committed before
    assert codes == ["00"] * 5 + ["59"] * (n - 5)
    assert balance.pending == sum(a["card_amount"] for a in answers[:n] if a["approved"])


def test_an_authorization_made_after_an_approval_was_heard_is_checked_against_it(vault_bootstrapped):
    """Approved activity commits with its hold, so the next batch's real-time check counts it. The
    shipped burst rule (more than 5 authorizations of a cardholder within a minute) declines the
    sixth, one at a time."""

    async def scenario(c):
        _, token = await _card(c, balance=100_000)
        authorize = c.cards_authorize()
        answers = [await authorize(_auth(token, 100)) for _ in range(6)]
        await authorize.drain()
        return answers

    answers = _run(vault_bootstrapped, scenario)
    assert [a["response_code"] for a in answers] == ["00"] * 5 + ["59"]


async def _activity(c, event_ids: list[str]) -> tuple[int, int, list[tuple[str, str]]]:
    """(stored, awaiting their alert rules, alerts raised as (event, rule)) for these activity ids."""
    async with c.database().pool.connection() as conn:
        stored = await (await conn.execute("SELECT count(*) FROM core.compliance_activity WHERE id = ANY(%s)",
                                           (event_ids,))).fetchone()
        awaiting = await (await conn.execute(
            "SELECT count(*) FROM core.compliance_activity_awaiting_alerts WHERE activity_id = ANY(%s)",
            (event_ids,))).fetchone()
        alerts = await (await conn.execute(
            "SELECT event_id, rule_id FROM core.compliance_alerts WHERE event_id = ANY(%s) ORDER BY event_id, rule_id",
            (event_ids,))).fetchall()
    return stored[0], awaiting[0], [tuple(a) for a in alerts]


def test_activity_commits_with_the_hold_and_its_alerts_are_evaluated_after_the_answer(vault_bootstrapped):
    async def scenario(c):
        _, token = await _card(c, balance=5_000_000)
        authorize = c.cards_authorize()
        # EUR 12,000: the shipped "large-eur" alert rule; one through a batch, one alone.
        requests = [_auth(token, 1_200_000), _auth(token, 1_200_000)]
        answers = await asyncio.gather(authorize(requests[0]), authorize.single(requests[1]))
        await authorize.drain()  # the alert evaluation asked for after the commits
        return answers, await _activity(c, [f"auth:{r.message_id}" for r in requests]), requests

    answers, (stored, awaiting, alerts), requests = _run(vault_bootstrapped, scenario)
    assert [a["response_code"] for a in answers] == ["00", "00"]
    assert (stored, awaiting) == (2, 0)
    assert alerts == sorted((f"auth:{r.message_id}", "large-eur") for r in requests)


def test_activity_whose_evaluation_failed_awaits_the_sweeper(vault_bootstrapped, monkeypatch):
    """What a crash between the commit and the alert evaluation leaves: the activity is stored and
    awaits its alert rules; the sweeper's round (``evaluate_awaiting``) raises them later."""

    async def scenario(c):
        _, token = await _card(c, balance=5_000_000)
        monitor, authorize = c.compliance_monitor(), c.cards_authorize()

        async def unreachable(limit: int = 0) -> int:
            raise ConnectionError("monitoring went away")

        monkeypatch.setattr(monitor, "evaluate_awaiting", unreachable)
        request = _auth(token, 1_200_000)
        answer = await authorize(request)
        await authorize.drain()
        before = await _activity(c, [f"auth:{request.message_id}"])
        monkeypatch.undo()
        while await monitor.evaluate_awaiting():  # the sweeper (other tests' leftovers included)
            pass
        return answer, before, await _activity(c, [f"auth:{request.message_id}"]), request

    answer, before, after, request = _run(vault_bootstrapped, scenario)
    assert answer["response_code"] == "00"
    assert before == (1, 1, [])
    assert after == (1, 0, [(f"auth:{request.message_id}", "large-eur")])



def test_shutdown_evaluates_one_round_of_alerts_and_leaves_a_backlog_to_the_sweeper(vault_bootstrapped, monkeypatch):
    """A process stopping after an alert storm must not wait for every activity still awaiting
    its alert rules: the evaluation under way finishes its round, the sweeper does the rest."""

    async def scenario(c):
        monitor, authorize = c.compliance_monitor(), c.cards_authorize()
        rounds: list[int] = []

        async def endless(limit: int = 0) -> int:  # a full round every time: a backlog without end
            rounds.append(limit)
            await asyncio.sleep(0.01)
            return limit

        monkeypatch.setattr(monitor, "evaluate_awaiting", endless)
        authorize.evaluate_alerts_soon()
        await asyncio.sleep(0.3)  # rounds under way
        await asyncio.wait_for(authorize.drain(), 5)
        stopped = len(rounds)
        authorize.evaluate_alerts_soon()  # asked again after the drain: one round, then it stops
        await asyncio.wait_for(authorize.drain(), 5)
        return stopped, len(rounds)

    stopped, after = _run(vault_bootstrapped, scenario)
    assert stopped >= 2 and after == stopped + 1


@pytest.fixture
def flights(monkeypatch) -> list[tuple[int, int, list[str]]]:
    """(lane, batches in flight once it started, its messages' card tokens) of every batch."""
    started: list[tuple[int, int, list[str]]] = []
    original = AuthorizationBatcher._batch

    async def spy(self, group, lane, *rest):
        started.append((lane, self._in_flight, [m.request.card_token for m in group]))
        return await original(self, group, lane, *rest)

    monkeypatch.setattr(AuthorizationBatcher, "_batch", spy)
    return started


async def _lane_world(c, holders: int, cards_each: int, tier: str = "premium"):
    """A program with two settlement shards; ``holders`` cardholders with ``cards_each`` cards,
    each funded with 80,000; an authorizer whose batches hold 4 (a second batch from 1 waiting)."""
    tag = uuid.uuid4().hex[:8]
    program, _ = await c.cards_create_program()(NewProgram(id=f"prog_{tag}", name="p", bin="456789",
                                                           currency="EUR", settlement_shards=2))
    cards = []
    for h in range(holders):
        holder = await c.cards_create_cardholder()(
            NewCardholder(name="Lane Tester", country="DE", id=f"ch_{tag}_{h}"), actor="test")
        await c.cards_decide_kyc()(holder.cardholder.id, "verified", tier)
        for i in range(cards_each):
            card, _ = await c.cards_issue()(NewCard(cardholder_id=holder.cardholder.id, program_id=program.id),
                                            f"card_{tag}_{h}_{i}")
            await c.cards_fund()(card.id, Funding(id=f"fund-{tag}-{h}-{i}", amount=80_000, currency="EUR"))
            cards.append(card)
    authorize = c.cards_authorize()
    authorize._batcher = AuthorizationBatcher(authorize, max_batch=4)
    return program, cards, authorize


async def _settled_on(c, answers) -> set[str]:
    return {(await c.ledger_read().transfer(f"hold:{a['authorization_id']}"))[0].credit_account_id
            for a in answers if a["approved"]}


def test_pipelined_batches_keep_a_cardholders_limit_exact(vault_bootstrapped, flights):
    """Cards this process has not read yet: their cardholder is not known before the batch, so
    the second batch starts while the first writes, each crediting its own lane of the settlement
    shards. One cardholder's cards in both still share the tier's daily limit exactly: the second
    batch's lock on the cardholder waits for the first to commit."""

    async def scenario(c):
        program, cards, authorize = await _lane_world(c, holders=1, cards_each=8, tier="basic")  # EUR 1,000 a day
        answers = await asyncio.gather(*(authorize(_auth(cards[i % 8].token, 25_000)) for i in range(12)))
        return answers, await _settled_on(c, answers), program.shard_accounts(program.accounts.settlement)

    answers, shards, settlement = _run(vault_bootstrapped, scenario)
    assert sorted(a["response_code"] for a in answers) == ["00"] * 4 + ["61"] * 8
    assert max(in_flight for _, in_flight, _ in flights) == 2  # a batch started while another was in flight
    assert {lane for lane, _, _ in flights} == {0, 1}
    assert shards == set(settlement)  # the first batch's approval in one lane, the second's in the other


def test_a_batch_does_not_start_beside_one_holding_its_cardholders(vault_bootstrapped, flights):
    """Known cards: a cardholder the batch in flight holds keeps its messages queued (in order)
    until that batch commits; other cardholders' messages go ahead in a batch beside it."""

    async def scenario(c):
        _, cards, authorize = await _lane_world(c, holders=3, cards_each=1)
        await asyncio.gather(*(authorize(_auth(card.token, 90_000)) for card in cards))  # read: now known
        flights.clear()
        first, second, third = cards
        tokens = [first.token] + [first.token] * 3 + [second.token, third.token] * 2
        answers = await asyncio.gather(*(authorize(_auth(token, 10_000)) for token in tokens))
        return answers, first.token, second.token, third.token

    answers, first, second, third = _run(vault_bootstrapped, scenario)
    assert all(a["response_code"] == "00" for a in answers)
    # The first batch holds the first cardholder alone; beside it, a batch of the two others'
    # four messages; the first cardholder's three wait for the first batch to commit (then go
    # beside the second, or alone if it has committed too).
    assert flights[:2] == [(0, 1, [first]), (1, 2, [second, third] * 2)]
    assert [(lane, tokens) for lane, _, tokens in flights[2:]] == [(0, [first] * 3)]
