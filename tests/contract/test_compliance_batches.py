"""The compliance calls the batched authorization path makes (``subject_statuses``, ``check_many``,
``record_many``), on both adapters: each answers as the one-at-a-time call would, in one read."""

from __future__ import annotations

from datetime import timedelta

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


def test_check_many_judges_each_event_against_stored_activity(compliance_run):
    async def scenario(c: Compliance):
        await c.rules.replace(RULES, actor="ops", reason="test")
        for i in range(2):
            await c.monitor.record(_event(c, f"s1-{i}", seconds=i))
        await c.monitor.record(_event(c, "s2-0", subject="s2"))
        events = [_event(c, "n1", seconds=5), _event(c, "n2", subject="s2", seconds=5),
                  _event(c, "n3", subject="s3", amount=100_000, seconds=5), _event(c, "n4", subject="s3", seconds=5)]
        batch = await c.monitor.check_many(events)
        assert batch == [await c.monitor.check(e) for e in events]
        assert [[h.rule_id for h in v.hits] for v in batch] == [["burst"], [], ["huge"], []]
        assert await c.monitor.check_many([]) == []

    compliance_run(scenario)


def test_record_many_is_recording_one_after_the_other(compliance_run):
    async def scenario(c: Compliance):
        await c.rules.replace(RULES, actor="ops", reason="test")
        first = await c.monitor.record(_event(c, "a0"))
        events = [_event(c, "a0"), _event(c, "a1", seconds=1), _event(c, "b0", subject="s2", seconds=1),
                  _event(c, "a2", seconds=2), _event(c, "a3", seconds=3)]
        recorded = await c.monitor.record_many(events)
        assert [r.created for r in recorded] == [False, True, True, True, True]
        assert recorded[0].alerts == first.alerts == ()
        # a0, a1 before a2: the third within a minute raises "busy"; a3 sees three before it.
        assert [[a.rule_id for a in r.alerts] for r in recorded] == [[], [], [], ["busy"], ["busy"]]
        assert recorded[3].case_id == recorded[4].case_id is not None
        history = await c.uow(lambda uow: uow.activity.history(c.id("s1"), T0 - timedelta(seconds=1),
                                                                T0 + timedelta(seconds=10)))
        assert [e.id for e in history] == [c.id(n) for n in ("a0", "a1", "a2", "a3")]
        replay = await c.monitor.record_many([_event(c, "a2", seconds=2)])
        assert not replay[0].created and replay[0].alerts == recorded[3].alerts

    compliance_run(scenario)
