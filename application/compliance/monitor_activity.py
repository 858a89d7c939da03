"""Transaction monitoring for the cards context: the alert rules, after the fact.

The real-time (``decline``) rules are applied by the authorization path itself, under the
cardholder's lock, on the tallies its own transaction reads (``ActivityLog.queue_recent``); this
use case gives it the rules in force (``rules_in_force``).

* ``record(event)``: stores the activity (idempotent on its id: a repeated id changes nothing and
  answers the alerts raised the first time), evaluates the ``alert`` rules, and files the alerts
  in the subject's active monitoring case, opening one if needed. Record what happened: fundings
  received.
* ``evaluate_awaiting()``: the same evaluation for activity another context appended in its own
  transaction (authorizations write theirs with the hold, through the core unit of work's
  ``activity``, so a crash cannot lose it): the cards context asks right after its commit, and a
  sweeper every few seconds picks up what a crash or another process left.
"""

from __future__ import annotations

from datetime import datetime

from application.compliance.monitoring_rules import MonitoringRules
from application.ports.clock import Clock, IdGenerator
from application.ports.compliance import ComplianceTransactions, ComplianceUnitOfWork, Recorded
from domain.compliance.cases import add_alerts, open_case
from domain.compliance.monitoring import ActivityEvent, Alert, RuleSetVersion, validate_event


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
            now = self._clock.now()
            # Subject by subject, in id order: concurrent evaluators lock the subjects' cases in
            # the same order, so they never deadlock; each subject's events keep their order.
            for event, counted in sorted(taken, key=lambda t: t.event.subject_id):
                await self._alert(uow, event, rules.judge(event, counted, "alert"), current.version, now)
            return len(taken)

        return await self._transactions.run(work)

    async def _evaluate(self, uow: ComplianceUnitOfWork, event: ActivityEvent, current: RuleSetVersion,
                        now: datetime) -> Recorded:
        """Raise the alerts of ``event`` (stored already), judged with the activity stored before it."""
        rules = current.rules
        lookback = rules.lookback("alert")
        history = await uow.activity.history(event.subject_id, event.at - lookback, event.at) if lookback else []
        return await self._alert(uow, event, rules.evaluate(event, history, "alert"), current.version, now)

    async def _alert(self, uow: ComplianceUnitOfWork, event: ActivityEvent, hits, version: int, now) -> Recorded:
        """File the alerts ``hits`` call for in the subject's active monitoring case (opened if needed)."""
        if not hits:
            return Recorded(event_id=event.id, created=True)
        case = await uow.cases.active(event.subject_id, "monitoring")
        case_id = case.id if case else self._ids.new_id()
        alerts = tuple(
            Alert(id=self._ids.new_id(), subject_id=event.subject_id, case_id=case_id, event_id=event.id,
                  card_id=event.card_id, kind=event.kind, amount=event.amount, currency=event.currency,
                  rule_id=hit.rule_id, rule_type=hit.type, rules_version=version, reason=hit.reason,
                  raised_at=now)
            for hit in hits)
        alert_ids = tuple(a.id for a in alerts)
        reason = f"{event.kind} {event.id}: " + "; ".join(f"{h.rule_id}: {h.reason}" for h in hits)
        if case is None:
            opened, entry = open_case(case_id=case_id, event_id=self._ids.new_id(), subject_id=event.subject_id,
                                      kind="monitoring", now=now, reason=reason, alert_ids=alert_ids)
            await uow.cases.add(opened, entry)
        else:
            grown, entry = add_alerts(case, alert_ids, now=now, event_id=self._ids.new_id(), reason=reason)
            await uow.cases.update(grown, entry)
        await uow.alerts.add(alerts)
        return Recorded(event_id=event.id, created=True, alerts=alerts, case_id=case_id)


async def _earlier(uow: ComplianceUnitOfWork, event: ActivityEvent) -> Recorded:
    """A repeated id: nothing changes; the alerts raised the first time."""
    earlier = tuple(await uow.alerts.for_event(event.id))
    return Recorded(event_id=event.id, created=False, alerts=earlier, case_id=earlier[0].case_id if earlier else None)
