"""Authorizations decided in batches: group commit for the card network's messages.

Why: one authorization decided alone costs about 27 database round trips in five transactions,
and on the project's machines throughput is bound by the CPU those round trips cost, not by
locks. Concurrent authorizations are therefore gathered, as ``CoalescingPostTransfers`` gathers
ledger transfers, and decided together with a fixed number of set-based statements per batch:

1. gather: whatever was queued while the previous batch ran, in arrival order, up to
   ``max_batch`` messages. Batches are pipelined, ``LANES`` (two) in flight at most: one takes its
   locks and decides while the one before it writes and commits. The next batch starts once the
   one deciding has decided, if a quarter of ``max_batch`` is waiting (else once it has
   committed: under light load a second, smaller batch would only add its fixed cost). Each batch
   in flight credits its holds to its own lane of the program's settlement shards
   (``Program.settlement_for``; every other shard), so two batches never wait for each other's
   settlement account, and the second leaves out the cardholders the first holds (as far as this
   process knows them: ``Authorize.known_cardholder``), whose messages keep their place for the
   batch after. A cardholder it did not know yet is locked in the same order by both, and the
   second waits for the first's commit;
2. one transaction. The cards by token come from a per-process cache of what never changes about
   a card (id, cardholder, program, account, currency: ``Authorize.cards_by_token``; one read for
   tokens not seen yet), programs likewise; then, on another connection and while step 3 takes
   the locks, what the one-by-one path also reads outside its locks: FX prices (cached rates) and
   the cardholders' sanctions statuses (one read);
3. in the same transaction, one round trip (``uow.reads()``): all cardholders, then all cards
   locked in ascending id order (``FOR UPDATE``, the same order as the one-by-one path, so the two
   never deadlock), the usage of every card and every cardholder (``GROUP BY``), the ledger
   ``lock_snapshot`` for all the holds, the cardholders' recent activity for the real-time
   monitoring rules (a row of tallies per cardholder: ``ActivityLog.queue_recent``), read under
   the cardholders' locks so that it holds every approval committed
   before, in any process, and the messages answered before (``= ANY``), which are left out. The
   card's state and controls are those read under its lock. Then each message is decided **in
   memory, in arrival order**: the ``decline`` monitoring rules and the pure ``decide()``; an
   approval lowers the available balance and raises the usage and the recent activity that later
   messages of the same card or cardholder see. The approved holds go through one
   ``execute_batch`` (each an independent item: a hold the ledger refuses becomes a decline of
   that message only, ``ledger_<code>``) and one ``save``; the authorization
   records, the outbox events, the network messages and the approved activity for monitoring
   are written in one pipelined block with the commit. The holds, their records and the
   activity therefore commit together: a crash loses none of them.
4. after the commit every caller gets its answer; monitoring then evaluates the alert rules of
   the appended activity in a transaction of its own (``Authorize.evaluate_alerts_soon``: one
   evaluation at a time, which takes all that awaits; a sweeper catches what a crash left).

Guarantees kept from the one-by-one path (``Authorize.single``):

- idempotency by ``message_id``: a message answered before gets the stored answer, or
  ``idempotency_conflict`` when its fields differ, raised to that caller only; a message with the same id committed meanwhile by someone else makes the insert fail
  with a unique violation, and the unit of work runs the batch again, which then recalls it. A
  second message with the same id *in the same batch* waits for the batch and then goes through
  the one-by-one path, which recalls the first one's answer;
- the decisions are those of deciding the messages one after the other in arrival order under
  the locks: N racing authorizations covered k times approve exactly k; limits hold;
- programs with a decision webhook take the one-by-one path (the webhook is asked outside any
  transaction, and must not hold up the batch);
- a batch that fails (after the unit of work's own retries of deadlocks and unique violations,
  e.g. a concurrent duplicate) is undone as a whole and each of its messages is decided alone by
  the one-by-one path, so no caller sees an error that is not its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import msgspec

from application.cards.common import activity_event, hold_for, refused_by_ledger, request_hash, same_request
from application.ports.unit_of_work import UnitOfWork
from domain.cards.authorization import AuthorizationRequest, Context, Decision, decide, decline
from domain.cards.controls import WINDOWS, Usage, counts_usage, earliest, usage_since
from domain.cards.model import Card, Program, tier_usage_since
from domain.cards.records import Authorization
from domain.compliance.monitoring import ActivityEvent, validate_event
from domain.events import AUTHORIZATION_APPROVED, AUTHORIZATION_DECLINED, Event
from domain.fx.conversion import Conversion
from domain.ledger import CreateTransfer, execute_batch

if TYPE_CHECKING:
    from application.cards.authorize import Authorize

log = logging.getLogger("bursar.cards.authorize")

MAX_BATCH = 64

LANES = 2
"""Batches in flight at once: one deciding while the one before it writes and commits."""


class _Message:
    """One queued authorization and, once read, what its decision needs from outside the locks."""

    __slots__ = ("request", "raw", "digest", "future", "card", "program", "conversion", "fx_error", "event",
                 "sanctions")

    def __init__(self, request: AuthorizationRequest, future: asyncio.Future[dict[str, Any]]) -> None:
        self.request = request
        self.raw = msgspec.to_builtins(request)
        self.digest = request_hash(self.raw)
        self.future = future
        self.card: Card | None = None
        self.program: Program | None = None
        self.conversion: Conversion | None = None
        self.fx_error: str | None = None
        self.event: ActivityEvent | None = None
        self.sanctions = "review"

    @property
    def card_amount(self) -> int:
        return self.conversion.total.amount if self.conversion else self.request.amount

    def answer(self, response: dict[str, Any]) -> None:
        if not self.future.done():
            self.future.set_result(response)

    def fail(self, exc: BaseException) -> None:
        if not self.future.done():
            self.future.set_exception(exc)

    def answer_stored(self, stored: tuple[str, dict[str, Any]]) -> None:
        """The stored answer of an earlier message with this id, or its conflict."""
        try:
            same_request(stored[0], self.raw, f"message_id {self.request.message_id}")
        except Exception as exc:
            self.fail(exc)
        else:
            self.answer(stored[1])


class _Decided(msgspec.Struct, frozen=True):
    """What the batch's transaction returns."""

    stored: dict[str, tuple[str, dict[str, Any]]]
    """Messages answered before: their stored ``(request hash, response)``."""
    answers: dict[str, dict[str, Any]]
    """Messages decided now (unknown cards included)."""
    approved: bool
    """Activity was appended for monitoring: its alert rules are due."""
    alone: list[_Message]
    """Messages of programs with a decision webhook: for the one-by-one path."""


class AuthorizationBatcher:
    """Gathers messages into batches and pipelines them (see the module's docstring)."""

    def __init__(self, authorize: Authorize, *, max_batch: int = MAX_BATCH, max_in_flight: int = LANES) -> None:
        self._auth = authorize
        self._max_batch = max_batch
        self._max_in_flight = max_in_flight
        self._queue: list[_Message] = []
        self._in_flight = 0
        self._deciding = False  # a batch is taking its locks and deciding: the next one waits
        self._started = 0  # batches started: the next one's lane is this modulo max_in_flight
        self._pipeline_from = max(1, max_batch // 4)
        self._holding: dict[int, set[str]] = {}  # the cardholders of each lane's batch in flight
        self._tasks: set[asyncio.Task[None]] = set()

    async def __call__(self, request: AuthorizationRequest) -> dict[str, Any]:
        message = _Message(request, asyncio.get_running_loop().create_future())
        self._queue.append(message)
        if not self._in_flight:
            self._dispatch()
        return await message.future

    # -- gathering ----------------------------------------------------------------------------

    def _dispatch(self) -> None:
        """Start a batch when none is deciding: with none in flight, of the first messages queued;
        with one in flight (called when it has decided and writes), of the first messages whose
        cardholders it does not hold, so that the new batch's locks do not wait for its commit,
        and only when a quarter of ``max_batch`` is there to pay for a second batch's fixed cost
        (else the queue waits for the commit: under light load, one batch at a time). A message
        held back keeps its place, and so do the later ones of its cardholder."""
        if not self._queue or self._deciding or self._in_flight >= self._max_in_flight:
            return
        if not self._in_flight:
            group, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch:]
        else:
            busy = set().union(*self._holding.values())
            group, rest = [], []
            for m in self._queue:
                clear = len(group) < self._max_batch and self._auth.known_cardholder(m.request.card_token) not in busy
                (group if clear else rest).append(m)
            if len(group) < self._pipeline_from:
                return
            self._queue = rest
        self._in_flight += 1
        self._deciding = True
        lane, self._started = self._started % self._max_in_flight, self._started + 1
        self._holding[lane] = {h for m in group if (h := self._auth.known_cardholder(m.request.card_token))}
        self._spawn(self._run(group, lane))

    def _spawn(self, coro) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, group: list[_Message], lane: int) -> None:
        deciding = True
        flying = True

        def decided() -> None:
            """The batch has decided and is writing: the next one may take its locks."""
            nonlocal deciding
            if deciding:
                deciding = False
                self._deciding = False
                self._dispatch()

        def landed() -> None:
            """The batch has committed (or is over): its lane is free."""
            nonlocal flying
            decided()
            if flying:
                flying = False
                self._in_flight -= 1
                self._holding.pop(lane, None)
                self._dispatch()

        try:
            await self._batch(group, lane, decided, landed)
        except Exception as exc:
            landed()
            left = [m for m in group if not m.future.done()]
            log.warning("authorization batch of %d failed (%s); deciding %d one by one", len(group),
                        exc.__class__.__name__, len(left), exc_info=True)
            for message in left:
                await self._single(message)
        finally:
            landed()

    async def _single(self, message: _Message) -> None:
        try:
            message.answer(await self._auth.single(message.request))
        except Exception as exc:
            message.fail(exc)

    # -- one batch ----------------------------------------------------------------------------

    async def _batch(self, group: list[_Message], lane: int, decided: Callable[[], None],
                     landed: Callable[[], None]) -> None:
        now = self._auth._clock.now()
        firsts: dict[str, _Message] = {}
        repeats: list[_Message] = []  # same message id as an earlier one in this batch
        for message in group:
            if firsts.setdefault(message.request.message_id, message) is not message:
                repeats.append(message)
        outcome = await self._auth._transactions.run(
            lambda uow: self._decide(uow, list(firsts.values()), now, lane, decided))
        landed()
        for message in outcome.alone:  # decision webhooks: asked outside any transaction, one by one
            self._spawn(self._single(message))
        if outcome.approved:  # committed with the holds; their alert rules are evaluated off the answers' path
            self._auth.evaluate_alerts_soon()
        for message in firsts.values():
            if message.request.message_id in outcome.stored:
                message.answer_stored(outcome.stored[message.request.message_id])
            elif message.request.message_id in outcome.answers:
                message.answer(outcome.answers[message.request.message_id])
        for message in repeats:  # the first answer is stored now: the one-by-one path recalls it
            await self._single(message)

    async def drain(self) -> None:
        """Wait for the batches under way (at shutdown)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _decide(self, uow: UnitOfWork, messages: list[_Message], now: datetime, lane: int,
                      decided: Callable[[], None]) -> _Decided:
        """The batch's transaction, its holds in ``lane``; ``decided()`` is called once it has
        decided, before its writes. It may run again on a transient conflict (a deadlock, or a
        concurrent message with the same id): everything it decides is local to the run."""
        from application.cards.authorize import _record, available_in, response_of

        auth = self._auth
        cards_by_token = await auth.cards_by_token(uow, [m.request.card_token for m in messages])
        for program_id in {c.program_id for c in cards_by_token.values()} - set(auth._programs):
            auth._programs[program_id] = await uow.cards.get_program(program_id)  # programs never change
        live: list[_Message] = []
        alone: list[_Message] = []
        unknown: list[_Message] = []
        for m in messages:
            card = cards_by_token.get(m.request.card_token)
            if card is None:
                unknown.append(m)
                continue
            m.card, m.program = card, auth._programs[card.program_id]
            (alone if m.program.decision_webhook is not None else live).append(m)

        records: list[Authorization] = []
        approved_events: list[ActivityEvent] = []
        answers: dict[str, dict[str, Any]] = {}
        messages_rows: list[tuple[str, str, str, dict[str, Any], dict[str, Any], datetime]] = []
        outcome = None  # the ledger's holds, written with the records
        if not live:  # unknown cards and decision webhooks only: which were answered before
            async with uow.reads():
                recalled = await uow.cards.queue_recall_messages([m.request.message_id for m in messages])
            stored = await recalled()
        else:
            # FX, sanctions and monitoring (other connections) while this one takes the locks:
            # the locks do not depend on them, so their round trips overlap.
            outside = asyncio.ensure_future(self._outside(live, now))
            try:
                # Usage is summed only as far back as the limits look (the cards' as read before the
                # lock; the tiers' are fixed); checked again against the locked cards below.
                controls = [m.card.controls.merged_over(m.program.controls) for m in live]
                card_since, with_card_usage = usage_since(controls, now), any(map(counts_usage, controls))
                holds: dict[str, CreateTransfer] = {}
                for m in live:  # amounts are set once decided (below): the locks need the accounts only
                    holds[m.request.message_id] = hold_for(f"auth_{auth._ids.new_id()}", m.card, m.program, 1,
                                                           lane, self._max_in_flight)
                # One round trip: cardholders, cards (their usage) and ledger accounts locked in that
                # order, and the cardholders' recent activity read under their locks, so the
                # real-time check counts every approval committed before, in any process.
                rules = (await auth._monitor.rules_in_force()).rules
                async with uow.reads():  # the messages answered before, read under the locks too
                    locked = await uow.cards.queue_lock_for_authorizations(
                        [m.card.cardholder_id for m in live], [m.card.id for m in live], now,
                        card_since=card_since, holder_since=tier_usage_since(now), with_card_usage=with_card_usage)
                    ledger = await uow.ledger.queue_lock_snapshot(list(holds.values()), now)
                    recent = (await uow.activity.queue_recent([m.card.cardholder_id for m in live], now,
                                                              rules.recent_query())
                              if rules.active("decline") else None)
                    recalled = await uow.cards.queue_recall_messages([m.request.message_id for m in messages])
                holders, cards, card_usage, holder_usage = await locked()
                snapshot = await ledger()
                activity = await recent() if recent is not None else {}
                stored = await recalled()
                live = [m for m in live if m.request.message_id not in stored]
                for m in live:  # a card whose limits widened meanwhile: its usage summed further back
                    locked_controls = cards[m.card.id].controls.merged_over(m.program.controls)
                    needed = usage_since([locked_controls], now)
                    if (earliest(needed, card_since) != card_since
                            or not with_card_usage and counts_usage(locked_controls)):
                        card_usage[m.card.id] = await uow.cards.usage(card_id=m.card.id, now=now, since=needed)
            except BaseException:
                outside.cancel()
                raise
            await outside
            available = {a: available_in(snapshot, a, now) for a in {m.card.account_id for m in live}}

            decisions: dict[str, tuple[Card, Decision]] = {}
            timed: dict[str, ActivityEvent] = {}  # each message's activity, stamped after all it follows
            for m in live:  # in arrival order, each seeing the approvals before it
                card = cards[m.card.id]
                subject = activity.get(card.cardholder_id)
                event = timed[m.request.message_id] = subject.stamp(m.event) if subject else m.event
                hits = subject.hits(rules, event) if subject else ()
                ctx = Context(card=card, program=m.program, cardholder=holders[card.cardholder_id],
                              sanctions_status=m.sanctions, card_usage=card_usage[card.id],
                              holder_usage=holder_usage[card.cardholder_id], available=available[card.account_id],
                              conversion=m.conversion, fx_error=m.fx_error,
                              monitoring_hits=tuple(hit.rule_id for hit in hits))
                decision = decide(m.request, ctx, now)
                if decision.approved:
                    if subject:
                        subject.add(event)
                    available[card.account_id] -= decision.card_amount
                    card_usage[card.id] = _plus(card_usage[card.id], decision.card_amount)
                    holder_usage[card.cardholder_id] = _plus(holder_usage[card.cardholder_id], decision.card_amount)
                decisions[m.request.message_id] = card, decision

            approved = {i: msgspec.structs.replace(holds[i], amount=d.card_amount)
                        for i, (_, d) in decisions.items() if d.approved}
            if approved:
                outcome = execute_batch(list(approved.values()), snapshot, now)
                for message_id, result in zip(approved, outcome.results, strict=True):
                    if result.status != "created":
                        decisions[message_id] = decisions[message_id][0], refused_by_ledger(result)

            for m in live:
                card, decision = decisions[m.request.message_id]
                hold = holds[m.request.message_id]
                record = _record(hold.metadata["authorization_id"], m.request, card, decision, hold.id, m.program,
                                 now, None)
                records.append(record)
                answers[m.request.message_id] = response_of(record, decision, card)
                messages_rows.append((m.request.message_id, "authorization", m.digest, m.raw,
                                      answers[m.request.message_id], now))
                if record.approved:
                    approved_events.append(timed[m.request.message_id])
        for m in unknown:
            if m.request.message_id not in stored:
                answers[m.request.message_id] = response_of(None, decline("14", "invalid_card"), None)
                messages_rows.append((m.request.message_id, "authorization", m.digest, m.raw,
                                      answers[m.request.message_id], now))
        alone = [m for m in alone if m.request.message_id not in stored]
        decided()
        if messages_rows:
            events = [Event.of(id=auth._ids.new_id(), at=now, resource=r,
                               type=AUTHORIZATION_APPROVED if r.approved else AUTHORIZATION_DECLINED)
                      for r in records]
            async with uow.writes(last=True):  # holds, records, events, messages and COMMIT: one round trip
                if outcome is not None:
                    await uow.ledger.save(outcome)
                await uow.cards.add_authorizations(records)
                await uow.outbox.add(events)
                await uow.cards.remember_messages(messages_rows)
                await uow.activity.append(approved_events, now)
        return _Decided(stored, answers, bool(approved_events), alone)

    async def _outside(self, live: list[_Message], now: datetime) -> None:
        """FX (cached rates) and sanctions (one read), as the one-by-one path reads them before its
        transaction; and each message's activity for monitoring."""
        auth = self._auth
        for m in live:
            m.conversion, m.fx_error = await auth._price(m.request, m.card, m.program, now)
            m.event = activity_event(m.request, m.card, m.card_amount, now)
            validate_event(m.event)
        statuses = await auth._statuses.subject_statuses(sorted({m.card.cardholder_id for m in live}))
        for m in live:
            m.sanctions = statuses[m.card.cardholder_id]


def _plus(usage: Usage, amount: int) -> Usage:
    """``usage`` with one more approved authorization of ``amount`` (counted in every window)."""
    counted = 1 if amount > 0 else 0
    return Usage(amounts={w: usage.amounts.get(w, 0) + amount for w in WINDOWS},
                 counts={w: usage.counts.get(w, 0) + counted for w in WINDOWS})
