"""The compliance calls the batched authorization path makes (``subject_statuses``; activity
appended in the core's transaction, then ``evaluate_awaiting``), on both adapters: each answers as
the one-at-a-time call would, in one read."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import msgspec
import pytest

from domain.compliance.monitoring import (
    ActivityEvent,
    AmountThreshold,
    Counted,
    FundingThenSpending,
    RecentActivity,
    RecentQuery,
    RuleSet,
    Tally,
    Velocity,
)
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
            taken.extend(await uow.activity.take_awaiting_alerts(10, RULES.tallies("alert")))
            raise RuntimeError("roll back")

        taken: list = []
        with pytest.raises(RuntimeError):
            await c.uow(taken_then_rolled_back)
        # By time, then id, each with the authorizations of its subject within the minute before
        # it: a0 is stored (not awaiting) and counts.
        (busy,) = RULES.tallies("alert")
        assert [(e.id, counted[busy].count) for e, counted in taken] == [
            (c.id("a1"), 1), (c.id("b0"), 0), (c.id("a2"), 2), (c.id("a3"), 3)]

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


def test_one_evaluation_files_many_alerts_in_the_subjects_cases_one_trail_entry_per_activity(compliance_run):
    async def scenario(c: Compliance):
        await c.rules.replace(RULES, actor="ops", reason="test")
        await c.uow(lambda uow: uow.activity.take_awaiting_alerts(10_000, ()))  # what earlier tests left
        recorded = [await c.monitor.record(_event(c, f"a{i}", seconds=i)) for i in range(3)]
        first_case = recorded[2].case_id  # a2 is the third within a minute: "busy"
        assert first_case is not None
        appended = [_event(c, "a3", seconds=3), _event(c, "a4", seconds=4),
                    *(_event(c, f"b{i}", subject="s2", seconds=i) for i in range(4))]
        await c.uow(lambda uow: uow.activity.append(appended, T0))
        assert await c.monitor.evaluate_awaiting() == 6

        grown = await c.read.case(first_case)
        assert grown.case.alert_count == 3
        assert [(e.action, e.reason.split(":")[0]) for e in grown.events] == [
            ("opened", f"authorization {c.id('a2')}"), ("alert_added", f"authorization {c.id('a3')}"),
            ("alert_added", f"authorization {c.id('a4')}")]
        opened = (await c.read.alerts(subject_id=c.id("s2"), limit=10)).items
        assert sorted(a.event_id for a in opened) == [c.id("b2"), c.id("b3")]
        second = await c.read.case(opened[0].case_id)
        assert (second.case.subject_id, second.case.alert_count) == (c.id("s2"), 2)
        assert [e.action for e in second.events] == ["opened", "alert_added"]
        assert {a.id for a in second.alerts} == {a.id for a in opened}

    compliance_run(scenario)


NOW = T0 + timedelta(hours=2)
TALLIES = (
    Tally(window_seconds=60, kinds=("authorization",)),
    Tally(window_seconds=60, kinds=("authorization",), currency="USD"),
    Tally(window_seconds=3600, kinds=("funding", "authorization"), currency="USD", min_amount=900_000,
          below=1_000_000),
)


def _activity(c: Compliance, name: str, subject: str, seconds: float, *, kind="authorization", amount=1_000,
              currency="USD") -> ActivityEvent:
    """Activity ``seconds`` from ``NOW`` (negative: before)."""
    return msgspec.structs.replace(_event(c, name, subject=subject, kind=kind, amount=amount),
                                   currency=currency, at=NOW + timedelta(seconds=seconds))


def _recent_scenario(c: Compliance) -> list[ActivityEvent]:
    """A busy subject with activity at and around the windows' edges, one whose latest activity is
    stamped after NOW (its windows end there), one with activity outside every window."""
    busy = [
        _activity(c, "b-edge", "busy", -60), _activity(c, "b-in", "busy", -59.999),
        _activity(c, "b-eur", "busy", -10, currency="EUR"), _activity(c, "b-fund", "busy", -5, kind="funding"),
        _activity(c, "b-now", "busy", 0, amount=2_000),
        _activity(c, "b-band-lo", "busy", -3599, amount=900_000), _activity(c, "b-band-hi", "busy", -30, amount=999_999),
        _activity(c, "b-at-threshold", "busy", -20, amount=1_000_000),
        _activity(c, "b-under-band", "busy", -25, amount=899_999),
        _activity(c, "b-band-fund", "busy", -40, kind="funding", amount=950_000),
        _activity(c, "b-band-old", "busy", -3600, amount=950_000),
    ]
    ahead = [_activity(c, "a-old", "ahead", -57), _activity(c, "a-in", "ahead", -50),
             _activity(c, "a-late", "ahead", 5)]
    quiet = [_activity(c, "q-old", "quiet", -7200)]
    return busy + ahead + quiet


def test_recent_activity_tallies_in_the_store_what_the_rows_hold(compliance_run):
    """``queue_recent``: the tallies the store sums equal those counted from the rows, at the
    windows' edges (a window ends at NOW, or at later activity, and reaches back exclusively)."""
    async def scenario(c: Compliance):
        stored = _recent_scenario(c)
        await c.uow(lambda uow: uow.activity.append(stored, T0))
        subjects = [c.id(s) for s in ("busy", "ahead", "quiet", "never")]
        query = RecentQuery(tallies=TALLIES)

        async def read(uow):
            return await (await uow.activity.queue_recent(subjects, NOW, query))()

        got = await c.uow(read)
        assert sorted(got) == sorted(subjects)
        for s in subjects:
            expected = RecentActivity.from_rows(query, NOW, [e for e in stored if e.subject_id == s])
            assert (got[s].at, got[s].counted) == (expected.at, expected.counted), s
        minute, minute_usd, band = TALLIES
        assert got[c.id("busy")].counted == {minute: Counted(6, 2_903_998), minute_usd: Counted(5, 2_902_998),
                                             band: Counted(3, 2_849_999)}
        assert got[c.id("ahead")].at == NOW + timedelta(seconds=5)
        assert got[c.id("ahead")].counted[minute] == Counted(2, 2_000)  # -57 s is outside a window ending at +5 s
        assert got[c.id("quiet")].at == NOW and got[c.id("quiet")].counted[minute] == Counted(0, 0)

    compliance_run(scenario)


SPENDING = FundingThenSpending(id="pass-through", action="alert", currency="USD", window_seconds=3600,
                               min_funding=1_000, min_spent_bps=5_000)


def test_awaiting_activity_is_taken_with_the_tallies_of_the_activity_before_it(compliance_run):
    """``take_awaiting_alerts``: each event's tallies, summed in the store, equal those counted
    from the rows before it (at or before its time, the events taken after it aside), at the
    windows' edges and from the first funding of an anchored tally."""
    async def scenario(c: Compliance):
        spender = [
            _activity(c, "s-auth-before", "spender", -100, amount=100),
            _activity(c, "s-fund-old", "spender", -3600, kind="funding", amount=5_000),
            _activity(c, "s-auth-same", "spender", -50, amount=200),  # as the first funding: counted
            _activity(c, "s-fund1", "spender", -50, kind="funding", amount=1_000),
            _activity(c, "s-fund2", "spender", -20, kind="funding", amount=500),
            _activity(c, "s-auth-after", "spender", -10, amount=300),
            _activity(c, "s-auth-eur", "spender", -5, amount=400, currency="EUR"),
            _activity(c, "s-now", "spender", 0, amount=1),
        ]
        together = [_activity(c, "t1", "together", 0), _activity(c, "t3", "together", 0)]
        appended = _recent_scenario(c) + spender + together
        await c.uow(lambda uow: uow.activity.take_awaiting_alerts(10_000, ()))  # what earlier tests left
        await c.uow(lambda uow: uow.activity.append(appended, T0))
        stored_only = _activity(c, "t2", "together", 0)  # stored, not awaiting: counted by both
        await c.uow(lambda uow: uow.activity.add(stored_only, T0))
        tallies = (*TALLIES, *SPENDING.tallies())
        taken = await c.uow(lambda uow: uow.activity.take_awaiting_alerts(100, tallies))

        order = sorted(appended, key=lambda e: (e.at, e.id))
        assert [e for e, _ in taken] == order
        stored = [*appended, stored_only]
        for i, (event, counted) in enumerate(taken):
            later = {e.id for e in order[i + 1:]}
            before = [e for e in stored if e.subject_id == event.subject_id and e.at <= event.at and e.id not in later]
            assert counted == {t: t.over(before, event.at, event.id) for t in tallies}, event.id
        by_id = {e.id: counted for e, counted in taken}
        minute, funded, spent = TALLIES[0], *SPENDING.tallies()
        assert by_id[c.id("s-now")][funded] == Counted(2, 1_500)  # the funding 3,600 s before is outside
        assert by_id[c.id("s-now")][spent] == Counted(2, 500)  # since the first funding, at its instant
        assert by_id[c.id("s-now")][minute] == Counted(3, 900)  # EUR too; -100 s is outside
        assert by_id[c.id("t1")][minute] == Counted(1, 1_000)  # t2 (stored) counts, t3 (taken after) not
        assert by_id[c.id("t3")][minute] == Counted(2, 2_000)

    compliance_run(scenario)


def test_recent_activity_gives_the_rows_to_a_rule_that_needs_them(compliance_run):
    async def scenario(c: Compliance):
        stored = _recent_scenario(c)
        await c.uow(lambda uow: uow.activity.append(stored, T0))
        rules = RuleSet(rules=(
            Velocity(id="burst", action="decline", window_seconds=60, max_count=5),
            FundingThenSpending(id="pass-through", action="decline", currency="USD", window_seconds=3600,
                                min_funding=900_000, min_spent_bps=100),
        ))
        query = rules.recent_query()
        assert query.rows_seconds == 3600 and not query.tallies

        async def read(uow):
            return await (await uow.activity.queue_recent([c.id("busy")], NOW, query))()

        activity = (await c.uow(read))[c.id("busy")]
        message = _activity(c, "message", "busy", 0, amount=5_000)
        history = [e for e in stored if e.subject_id == c.id("busy")]
        assert activity.hits(rules, message) == rules.evaluate(message, history, "decline")
        assert [h.rule_id for h in activity.hits(rules, message)] == ["burst", "pass-through"]

    compliance_run(scenario)
