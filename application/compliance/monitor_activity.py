"""Transaction monitoring for the cards context: ``check`` before, ``record`` after.

* ``check(event)``: the real-time (``decline``) rules against the subject's recent activity (one
  indexed read of the window the rules need); records nothing. The authorization path declines
  when the verdict is not approved.
* ``record(event)``: stores the activity (idempotent on its id: a repeated id changes nothing and
  answers the alerts raised the first time), evaluates the ``alert`` rules, and files the alerts
  in the subject's active monitoring case, opening one if needed. Record what happened: approved
  authorizations and fundings received.
"""

from __future__ import annotations

from collections.abc import Sequence

from application.compliance.monitoring_rules import MonitoringRules
from application.ports.clock import Clock, IdGenerator
from application.ports.compliance import ComplianceTransactions, ComplianceUnitOfWork, Recorded, Verdict
from domain.compliance.cases import add_alerts, open_case
from domain.compliance.monitoring import ActivityEvent, Alert, validate_event


class MonitorActivity:
    """Implements the ``ActivityMonitor`` port."""

    def __init__(self, transactions: ComplianceTransactions, rules: MonitoringRules, clock: Clock,
                 ids: IdGenerator) -> None:
        self._transactions = transactions
        self._rules = rules
        self._clock = clock
        self._ids = ids

    async def check(self, event: ActivityEvent) -> Verdict:
        validate_event(event)
        current = await self._rules.current()
        rules = current.rules
        if not rules.active("decline"):
            return Verdict(approved=True, rules_version=current.version)
        lookback = rules.lookback("decline")
        history = []
        if lookback:
            async def read(uow: ComplianceUnitOfWork) -> list[ActivityEvent]:
                return await uow.activity.history(event.subject_id, event.at - lookback, event.at)

            history = await self._transactions.run(read)
        hits = rules.evaluate(event, history, "decline")
        return Verdict(approved=not hits, hits=hits, rules_version=current.version)

    async def record(self, event: ActivityEvent) -> Recorded:
        validate_event(event)
        current = await self._rules.current()
        rules = current.rules

        async def work(uow: ComplianceUnitOfWork) -> Recorded:
            now = self._clock.now()
            if not await uow.activity.add(event, now):
                return await _earlier(uow, event)
            lookback = rules.lookback("alert")
            history = await uow.activity.history(event.subject_id, event.at - lookback, event.at) if lookback else []
            return await self._alert(uow, event, rules.evaluate(event, history, "alert"), current.version, now)

        return await self._transactions.run(work)

    async def check_many(self, events: Sequence[ActivityEvent]) -> list[Verdict]:
        for event in events:
            validate_event(event)
        current = await self._rules.current()
        rules = current.rules
        if not rules.active("decline") or not events:
            return [Verdict(approved=True, rules_version=current.version) for _ in events]
        lookback = rules.lookback("decline")
        history: list[ActivityEvent] = []
        if lookback:
            since, until = min(e.at for e in events) - lookback, max(e.at for e in events)
            history = await self._transactions.run(
                lambda uow: uow.activity.histories([e.subject_id for e in events], since, until))
        by_subject = _by_subject(history)
        verdicts = []
        for event in events:
            past = [h for h in by_subject.get(event.subject_id, ()) if event.at - lookback < h.at <= event.at]
            hits = rules.evaluate(event, past, "decline")
            verdicts.append(Verdict(approved=not hits, hits=hits, rules_version=current.version))
        return verdicts

    async def record_many(self, events: Sequence[ActivityEvent]) -> list[Recorded]:
        for event in events:
            validate_event(event)
        if len({e.id for e in events}) != len(events):
            raise ValueError("record_many takes events with distinct ids")
        current = await self._rules.current()
        rules = current.rules

        async def work(uow: ComplianceUnitOfWork) -> list[Recorded]:
            now = self._clock.now()
            lookback = rules.lookback("alert")
            seen: dict[str, list[ActivityEvent]] = {}
            if lookback and events:  # what was stored before these events, read before they are added
                seen = _by_subject(await uow.activity.histories(
                    [e.subject_id for e in events], min(e.at for e in events) - lookback, max(e.at for e in events)))
            created = await uow.activity.add_many(events, now)
            results = []
            for event in events:
                if event.id not in created:
                    results.append(await _earlier(uow, event))
                    continue
                mine = seen.setdefault(event.subject_id, [])
                past = [h for h in mine if event.at - lookback < h.at <= event.at]
                hits = rules.evaluate(event, past, "alert")
                mine.append(event)
                results.append(await self._alert(uow, event, hits, current.version, now))
            return results

        return await self._transactions.run(work)

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


def _by_subject(history: Sequence[ActivityEvent]) -> dict[str, list[ActivityEvent]]:
    grouped: dict[str, list[ActivityEvent]] = {}
    for event in history:
        grouped.setdefault(event.subject_id, []).append(event)
    return grouped


async def _earlier(uow: ComplianceUnitOfWork, event: ActivityEvent) -> Recorded:
    """A repeated id: nothing changes; the alerts raised the first time."""
    earlier = tuple(await uow.alerts.for_event(event.id))
    return Recorded(event_id=event.id, created=False, alerts=earlier, case_id=earlier[0].case_id if earlier else None)
