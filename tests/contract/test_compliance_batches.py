"""The compliance calls the batched authorization path makes (``subject_statuses``; activity
appended in the core's transaction, then ``evaluate_awaiting``), on both adapters: each answers as
the one-at-a-time call would, in one read."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from domain.compliance.monitoring import AmountThreshold, RuleSet, Velocity
from domain.compliance.subjects import Party
from tests.contract.test_compliance_repositories import (  # noqa: F401  (fixtures)
    ELVIS,
    T0,
    Compliance,
    _event,
    compliance_database,
    compliance_run,
)

RULES = RuleSet(rules=(
    AmountThreshold(id="huge", action="decline", currency="USD", threshold=100_000),
    Velocity(id="burst", action="decline", window_seconds=60, max_count=2),
    Velocity(id="busy", action="alert", window_seconds=60, max_count=2),
))


def test_subject_statuses_answer_as_subject_status_does(compliance_run):
    async def scenario(c: Compliance):
        await c.new_list(ELVIS)
        await c.screen(Party(subject_id=c.id("clear"), name="Jane Doe"))
        await c.screen(Party(subject_id=c.id("hit"), name="Elvis Angus Logan Morey", birth_date="1963-07-28"))
        ids = [c.id("clear"), c.id("hit"), c.id("never")]
        batch = await c.status.subject_statuses(ids)
        assert batch == {i: await c.status.subject_status(i) for i in ids}
        assert batch[c.id("never")] == "review" and batch[c.id("clear")] == "clear"

    compliance_run(scenario)


def test_appended_activity_awaits_its_alert_rules_and_is_evaluated_once_oldest_first(compliance_run):
    async def scenario(c: Compliance):
        await c.rules.replace(RULES, actor="ops", reason="test")
        await c.monitor.record(_event(c, "a0"))
        appended = [_event(c, "a0"), _event(c, "a3", seconds=3), _event(c, "b0", subject="s2", seconds=1),
                    _event(c, "a1", seconds=1), _event(c, "a2", seconds=2)]
        await c.uow(lambda uow: uow.activity.append(appended, T0))  # a0 is stored: it stays as it was

        async def taken_then_rolled_back(uow):
            events, history = await uow.activity.take_awaiting_alerts(10, timedelta(seconds=1))
            taken.extend(events)
            read.extend(history)
            raise RuntimeError("roll back")

        taken: list = []
        read: list = []
        with pytest.raises(RuntimeError):
            await c.uow(taken_then_rolled_back)
        assert [e.id for e in taken] == [c.id(n) for n in ("a1", "b0", "a2", "a3")]  # by time, then id
        # From a second before the first (a0 is stored, not awaiting) to the last, both subjects.
        assert {e.id for e in read} >= {c.id(n) for n in ("a0", "a1", "b0", "a2", "a3")}

        assert await c.monitor.evaluate_awaiting(2) == 2  # the rollback put them back
        assert await c.monitor.evaluate_awaiting(2) == 2
        assert await c.monitor.evaluate_awaiting() == 0
        # As recording them one after the other: a0, a1 before a2, so the third within a minute
        # raises "busy", and so does a3; the two alerts join one case.
        alerts = {n: await c.uow(lambda uow, n=n: uow.alerts.for_event(c.id(n))) for n in ("a0", "a1", "b0", "a2", "a3")}
        assert {n: [a.rule_id for a in found] for n, found in alerts.items()} == {
            "a0": [], "a1": [], "b0": [], "a2": ["busy"], "a3": ["busy"]}
        assert alerts["a2"][0].case_id == alerts["a3"][0].case_id

    compliance_run(scenario)


def test_concurrent_evaluations_share_the_awaiting_activity(compliance_run):
    async def scenario(c: Compliance):
        await c.rules.replace(RULES, actor="ops", reason="test")
        events = [_event(c, f"e{i}", subject=f"s{i % 5}", seconds=i) for i in range(40)]
        await c.uow(lambda uow: uow.activity.append(events, T0))
        rounds = await asyncio.gather(*(c.monitor.evaluate_awaiting(7) for _ in range(8)))
        while await c.monitor.evaluate_awaiting(7):
            pass
        assert sum(rounds) <= 40
        assert await c.monitor.evaluate_awaiting() == 0
        raised = [(a.event_id, a.rule_id) for e in events
                  for a in await c.uow(lambda uow, e=e: uow.alerts.for_event(e.id))]
        # Each subject acts every 5 seconds: from its third event on, more than two within a
        # minute. Each event evaluated once, whichever evaluation took it.
        assert sorted(raised) == sorted((e.id, "busy") for i, e in enumerate(events) if i >= 10)

    compliance_run(scenario)
