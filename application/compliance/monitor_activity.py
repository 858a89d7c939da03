"""Transaction monitoring for the cards context: the alert rules, after the fact.

The real-time (``decline``) rules are applied by the authorization path itself, under the
cardholder's lock, on the tallies its own transaction reads (``ActivityLog.queue_recent``); this
use case gives it the rules in force (``rules_in_force``).

* ``record(event)``: stores one activity (idempotent on its id: a repeated id changes nothing and
  answers the alerts raised the first time), evaluates the ``alert`` rules, and files the alerts
  in the subject's active monitoring case, opening one if needed.
* ``evaluate_awaiting()``: the same evaluation for activity another context appended in its own
  transaction (the cards context writes its approvals with their holds and its fundings with
  their transfers, through the core unit of work's ``activity``, so a crash cannot lose them): it
  asks right after its commits, and a sweeper every few seconds picks up what a crash or another
  process left.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from application.compliance.monitoring_rules import MonitoringRules
from application.ports.clock import Clock, IdGenerator
from application.ports.compliance import ComplianceTransactions, ComplianceUnitOfWork, Recorded
from domain.compliance.cases import CaseEvent, add_alerts, open_case
from domain.compliance.monitoring import ActivityEvent, Alert, RuleHit, RuleSetVersion, validate_event


class MonitorActivity:
    """Implements the ``ActivityMonitor`` port."""

    def __init__(self, transactions: ComplianceTransactions, rules: MonitoringRules, clock: Clock,
                 ids: IdGenerator) -> None:
        self._transactions = transactions
        self._rules = rules
        self._clock = clock
        self._ids = ids

    async def rules_in_force(self) -> RuleSetVersion:
        return await self._rules.current()

    async def record(self, event: ActivityEvent) -> Recorded:
        validate_event(event)
        current = await self._rules.current()

        async def work(uow: ComplianceUnitOfWork) -> Recorded:
            now = self._clock.now()
            if not await uow.activity.add(event, now):
                return await _earlier(uow, event)
            return await self._evaluate(uow, event, current, now)

        return await self._transactions.run(work)

    async def evaluate_awaiting(self, limit: int = 1_000) -> int:
        """The alert rules of activity appended in other transactions (an authorization's, through
        the core unit of work's ``activity``), oldest first, up to ``limit`` events: each is judged
        on the tallies of the activity stored before it, as ``record`` would have judged it on the
        rows. Several evaluators (server processes, the sweeper) share the work: each takes rows no
        other one holds."""
        current = await self._rules.current()
        rules = current.rules

        async def work(uow: ComplianceUnitOfWork) -> int:
            taken = await uow.activity.take_awaiting_alerts(limit, rules.tallies("alert"))
            judged = [(event, rules.judge(event, counted, "alert")) for event, counted in taken]
            await self._file(uow, judged, current.version, self._clock.now())
            return len(taken)

        return await self._transactions.run(work)

    async def _evaluate(self, uow: ComplianceUnitOfWork, event: ActivityEvent, current: RuleSetVersion,
                        now: datetime) -> Recorded:
        """Raise the alerts of ``event`` (stored already), judged with the activity stored before it."""
        rules = current.rules
        lookback = rules.lookback("alert")
        history = await uow.activity.history(event.subject_id, event.at - lookback, event.at) if lookback else []
        hits = rules.evaluate(event, history, "alert")
        return (await self._file(uow, [(event, hits)], current.version, now))[event.id]

    async def _file(self, uow: ComplianceUnitOfWork, judged: Sequence[tuple[ActivityEvent, tuple[RuleHit, ...]]],
                    version: int, now: datetime) -> dict[str, Recorded]:
        """File the alerts each event's ``hits`` call for in its subject's active monitoring case
        (opened if needed), one trail entry per event, in their order. The subjects' cases are read
        and locked in one statement, in subject id order (concurrent evaluators never deadlock),
        and everything is written in a few statements however many alerts there are."""
        recorded = {event.id: Recorded(event_id=event.id, created=True) for event, _ in judged}
        firing = [(event, hits) for event, hits in judged if hits]
        if not firing:
            return recorded
        cases = await uow.cases.active_of([event.subject_id for event, _ in firing], "monitoring")
        opened: set[str] = set()
        trail: list[CaseEvent] = []
        alerts: list[Alert] = []
        for event, hits in firing:
            case = cases.get(event.subject_id)
            case_id = case.id if case else self._ids.new_id()
            raised = tuple(
                Alert(id=self._ids.new_id(), subject_id=event.subject_id, case_id=case_id, event_id=event.id,
                      card_id=event.card_id, kind=event.kind, amount=event.amount, currency=event.currency,
                      rule_id=hit.rule_id, rule_type=hit.type, rules_version=version, reason=hit.reason, raised_at=now)
                for hit in hits)
            ids = tuple(a.id for a in raised)
            reason = f"{event.kind} {event.id}: " + "; ".join(f"{h.rule_id}: {h.reason}" for h in hits)
            if case is None:
                case, entry = open_case(case_id=case_id, event_id=self._ids.new_id(), subject_id=event.subject_id,
                                        kind="monitoring", now=now, reason=reason, alert_ids=ids)
                opened.add(case.id)
            else:
                case, entry = add_alerts(case, ids, now=now, event_id=self._ids.new_id(), reason=reason)
            cases[event.subject_id] = case
            trail.append(entry)
            alerts.extend(raised)
            recorded[event.id] = Recorded(event_id=event.id, created=True, alerts=raised, case_id=case_id)
        touched = {entry.case_id for entry in trail}
        by_subject = sorted(cases.values(), key=lambda c: c.subject_id)  # new cases too: the lock order
        await uow.cases.save_many([c for c in by_subject if c.id in opened],
                                  [c for c in by_subject if c.id in touched and c.id not in opened], trail)
        await uow.alerts.add(alerts)
        return recorded


async def _earlier(uow: ComplianceUnitOfWork, event: ActivityEvent) -> Recorded:
    """A repeated id: nothing changes; the alerts raised the first time."""
    earlier = tuple(await uow.alerts.for_event(event.id))
    return Recorded(event_id=event.id, created=False, alerts=earlier, case_id=earlier[0].case_id if earlier else None)
