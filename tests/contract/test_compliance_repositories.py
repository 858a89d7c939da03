"""The compliance storage contract, run against both adapters: in memory and PostgreSQL.

Driven mostly through the use cases (screening, re-screening, case decisions, monitoring) with an
injected clock, plus the repositories' own reads. The PostgreSQL run uses a database of its own
(sanctions list versions and rule sets are global: "the newest" must be this module's), and
every test uses fresh subject ids and list versions, so tests share it safely.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.compliance_data import SAMPLE_LIST_DIR, load_default_rules
from adapters.memory.compliance import InMemoryComplianceTransactions
from adapters.postgres.compliance import PostgresComplianceTransactions
from adapters.postgres.database import Database
from adapters.sanctions_ofac import load_ofac_list
from adapters.system import UuidV7Ids
from application.compliance.current_screener import CurrentScreener, SanctionsListMissing
from application.compliance.ingest_list import IngestSanctionsList
from application.compliance.monitor_activity import MonitorActivity
from application.compliance.monitoring_rules import MonitoringRules
from application.compliance.read_compliance import ReadCompliance
from application.compliance.rescreen_subjects import RescreenSubjects
from application.compliance.screen_subject import ScreenSubject
from application.compliance.subject_status import GetSubjectStatus
from application.compliance.update_case import CaseChange, UpdateCase
from application.ports.compliance import ComplianceTransactions, ComplianceUnitOfWork
from domain.compliance import Alias, SanctionsEntry, SanctionsList
from domain.compliance.monitoring import ActivityEvent, AmountThreshold, HighRisk, RuleSet, Velocity
from domain.compliance.subjects import Party
from domain.shared.errors import Conflict, InvalidInput, NotFound
from entrypoints.runtime import embedded_postgres
from entrypoints.settings import CORE_DB_ROLE, role_url

ROOT = Path(__file__).resolve().parents[2]
OFAC_2019 = ROOT.parent / "shared" / "data" / "sanctions" / "ofac-sdn-2019"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

ELVIS = SanctionsEntry(uid="10278", name="LOGAN MOREY, Elvis Angus", entity_type="individual", programs=("SDNT",),
                       aliases=(Alias(name="BURTON BURGESS, Elvis"),), birth_dates=("1963-07-28",), countries=("BZ",))
BANCO = SanctionsEntry(uid="306", name="BANCO NACIONAL DE CUBA", entity_type="entity", programs=("CUBA",))
MALKEVICH = SanctionsEntry(uid="26235", name="MALKEVICH, Alexander Aleksandrovich", entity_type="individual",
                           programs=("CYBER2",), birth_dates=("1975-06-14",), countries=("RU",))


class FakeClock:
    def __init__(self) -> None:
        self.current = T0

    def now(self) -> datetime:
        return self.current


@dataclass
class Compliance:
    tx: ComplianceTransactions
    clock: FakeClock
    screener: CurrentScreener
    ingest: IngestSanctionsList
    screen: ScreenSubject
    rescreen: RescreenSubjects
    status: GetSubjectStatus
    update_case: UpdateCase
    rules: MonitoringRules
    monitor: MonitorActivity
    read: ReadCompliance
    prefix: str

    def id(self, name: str) -> str:
        return f"{self.prefix}{name}"

    async def new_list(self, *entries: SanctionsEntry):
        """Store a list version of these entries (a version string of its own) and return it."""
        ingested = await self.ingest(SanctionsList(source="TEST", version=f"{self.prefix}{uuid.uuid4().hex[:8]}",
                                                   entries=entries))
        assert ingested.created
        return ingested.version

    async def party(self, name: str, subject: str, **kw):
        return await self.screen(Party(subject_id=self.id(subject), name=name, **kw))

    async def uow(self, work: Callable[[ComplianceUnitOfWork], Awaitable]):
        return await self.tx.run(work)


@pytest.fixture(scope="module")
def compliance_database(postgres_server_uri: str) -> Iterator[str]:
    from entrypoints.runtime.bootstrap import migrate_schemas

    name = f"bursar_compliance_{uuid.uuid4().hex[:10]}"
    admin = embedded_postgres.ensure_database(postgres_server_uri, name)
    migrate_schemas(admin)
    yield role_url(admin, CORE_DB_ROLE, None)
    embedded_postgres.drop_database(postgres_server_uri, name)


@pytest.fixture(params=["memory", "postgres"])
def compliance_run(request):
    def run(scenario: Callable[[Compliance], Awaitable[None]]) -> None:
        async def main() -> None:
            db = None
            if request.param == "memory":
                tx: ComplianceTransactions = InMemoryComplianceTransactions()
            else:
                db = Database(request.getfixturevalue("compliance_database"), min_size=1, max_size=4)
                await db.open()
                tx = PostgresComplianceTransactions(db.pool)
            clock, ids = FakeClock(), UuidV7Ids()
            screener = CurrentScreener(tx, refresh_seconds=0)
            rules = MonitoringRules(tx, load_default_rules(), clock, refresh_seconds=0)
            compliance = Compliance(
                tx=tx, clock=clock, screener=screener, ingest=IngestSanctionsList(tx, clock, screener),
                screen=ScreenSubject(tx, screener, clock, ids), rescreen=RescreenSubjects(tx, screener, clock, ids, batch=2),
                status=GetSubjectStatus(tx), update_case=UpdateCase(tx, clock, ids), rules=rules,
                monitor=MonitorActivity(tx, rules, clock, ids), read=ReadCompliance(tx),
                prefix=uuid.uuid4().hex[:8] + "-")
            try:
                await scenario(compliance)
            finally:
                if db:
                    await db.close()

        asyncio.run(main())

    run.adapter = request.param
    return run


# --- Sanctions lists ---------------------------------------------------------------------


def test_the_sample_list_is_stored_once_whatever_the_number_of_ingestions(compliance_run):
    sample = load_ofac_list(SAMPLE_LIST_DIR)

    async def scenario(c: Compliance):
        first = await c.ingest(sample)
        again = await c.ingest(load_ofac_list(SAMPLE_LIST_DIR))

        assert first.created and not again.created
        assert again.version == first.version
        assert (first.version.source, first.version.version) == ("OFAC-SDN", sample.version)
        assert (first.version.entry_count, first.version.alias_count) == (17, 13)
        stored = await c.uow(lambda uow: uow.lists.load(first.version.id))
        assert stored == sample

    compliance_run(scenario)


@pytest.fixture(scope="module")
def sdn_2019() -> SanctionsList:
    if not (OFAC_2019 / "sdn.csv").is_file():
        pytest.fail(f"the 2019 OFAC SDN list is missing: expected {OFAC_2019}/sdn.csv, alt.csv, add.csv")
    return load_ofac_list(OFAC_2019)


@pytest.mark.slow
def test_the_full_2019_list_is_stored_and_screens_from_the_database(compliance_run, sdn_2019):
    """Counts: the parser reads 7,379 entries and 9,682 aliases (one more of each than the data
    README's line counts: the files' last line has no newline). Then screening through the index
    built from the stored version, as the running core does."""

    async def scenario(c: Compliance):
        ingested = await c.ingest(sdn_2019)
        assert ingested.created
        assert (ingested.version.entry_count, ingested.version.alias_count) == (7379, 9682)
        assert not (await c.ingest(sdn_2019)).created
        loaded = await c.screener.get()
        assert loaded.version == ingested.version
        assert loaded.screener.name_count == 7379 + 9682

        def best(name: str, **kw) -> tuple[str, str, float]:
            result = loaded.screener.screen(name, **kw)
            return (result.matches[0].uid, result.status, result.matches[0].score) if result.matches else ("", "clear", 0)

        assert best("Osama bin Laden")[0] == "6365"  # through the alias BIN LADEN, Osama
        assert best("Loera Guzman Joaquin")[0] == "6861"  # reordered tokens
        assert best("Joaquín Guzmán Loera")[0] == "6861"  # diacritics
        assert best("Ūsāma bin Lādin")[0] == "6365"
        assert best("Joakin Guzman Loera")[0] == "6861"  # small typos
        assert best("Usama Bin Ladn")[0] == "6365"
        for stranger in ("Margaret Thompson", "Jean Dupont", "Hans Meier", "Maria Garcia Lopez"):
            assert best(stranger) == ("", "clear", 0), stranger

        plain = best("Joaquin Guzman")
        assert plain[1] == "possible_match"
        assert best("Joaquin Guzman", birth_date="1954-12-25")[2] > plain[2]
        assert best("Joaquin Guzman", birth_date="1990")[2] < plain[2]
        assert best("Joaquin Guzman", country="MX")[2] > plain[2]
        assert best("Joaquin Guzman", country="FR")[2] < plain[2]

        done = await c.party("Joaquín Guzmán Loera", "chapo", country="Mexico")
        assert (done.screening.result, done.subject.status, done.case_opened) == ("strong_match", "blocked", True)
        assert done.screening.matches[0].uid == "6861"

    compliance_run(scenario)


def test_list_versions_are_listed_newest_first(compliance_run):
    async def scenario(c: Compliance):
        made = [await c.new_list(BANCO) for _ in range(3)]
        page = await c.read.list_versions(limit=2)
        assert [v.id for v in page.items] == [made[2].id, made[1].id]
        rest = await c.read.list_versions(cursor=int(page.next_cursor), limit=2)
        assert rest.items[0] == made[0]
        assert (await c.uow(lambda uow: uow.lists.latest())) == made[2]

    compliance_run(scenario)


# --- Screening subjects ------------------------------------------------------------------


def test_screening_sets_each_status_and_opens_cases_for_matches(compliance_run):
    async def scenario(c: Compliance):
        await c.new_list(ELVIS, BANCO, MALKEVICH)

        clear = await c.party("Margaret Thompson", "margaret", birth_date="1980-01-02", country="GB")
        review = await c.party("Elvis Logan Morey", "elvis")
        blocked = await c.party("Alexander Malkevich", "alexander", birth_date="1975-06-14")

        assert (clear.subject.status, clear.case, clear.screening.matches) == ("clear", None, ())
        assert (review.subject.status, review.screening.result, review.case_opened) == ("review", "possible_match", True)
        assert (blocked.subject.status, blocked.screening.result, blocked.case_opened) == ("blocked", "strong_match", True)
        assert review.case.kind == "screening" and review.case.status == "open"
        assert review.case.screening_id == review.screening.id
        assert blocked.screening.matches[0].uid == "26235"
        assert {await c.status.subject_status(c.id(s)) for s in ("margaret", "elvis", "alexander")} == {
            "clear", "review", "blocked"}
        assert await c.status.subject_status(c.id("never-screened")) == "review"

        detail = await c.read.subject(c.id("elvis"))
        assert detail.screening == review.screening  # stored with its explained matches
        assert [(ch.from_status, ch.to_status, ch.actor) for ch in detail.status_changes] == [(None, "review", "system")]
        assert [case.id for case in detail.active_cases] == [review.case.id]

        again = await c.party("Elvis Logan Morey", "elvis", birth_date="1963-07-28")
        assert (again.subject.status, again.case_opened, again.case.id) == ("blocked", False, review.case.id)
        trail = (await c.read.case(review.case.id)).events
        assert [e.action for e in trail] == ["opened", "screening_added"]

    compliance_run(scenario)


def test_screening_needs_a_stored_list_and_usable_details(compliance_run):
    async def scenario(c: Compliance):
        if await c.uow(lambda uow: uow.lists.latest()) is None:
            with pytest.raises(SanctionsListMissing):
                await c.party("Anyone", "x")
            await c.new_list(BANCO)
        with pytest.raises(InvalidInput) as error:
            await c.party("Elvis", "x", birth_date="28/07/1963")
        assert error.value.code == "invalid_birth_date"
        with pytest.raises(InvalidInput) as error:
            await c.party("   ", "x")
        assert error.value.code == "invalid_subject"
        with pytest.raises(NotFound):
            await c.read.subject(c.id("x"))

    compliance_run(scenario)


def test_rescreening_on_a_new_list_version_changes_status_and_opens_a_case(compliance_run):
    async def scenario(c: Compliance):
        await c.new_list(BANCO)
        for name in ("alice", "bob", "carol"):
            await c.party(f"{name} smith", name)
        await c.party("Elvis Logan Morey", "elvis")
        assert await c.status.subject_status(c.id("elvis")) == "clear"

        listed = await c.new_list(BANCO, ELVIS)
        c.clock.current += timedelta(hours=1)
        summary = await c.rescreen()

        assert summary.list_version == listed
        mine = [ch for ch in summary.changes if ch.subject_id.startswith(c.prefix)]
        assert [(ch.subject_id, ch.from_status, ch.to_status) for ch in mine] == [(c.id("elvis"), "clear", "review")]
        assert summary.screened >= 4 and summary.cases_opened >= 1
        detail = await c.read.subject(c.id("elvis"))
        assert detail.subject.list_version_id == listed.id
        assert detail.screening.trigger == "rescreen"
        assert [(ch.to_status, ch.actor, ch.case_id) for ch in detail.status_changes][0] == (
            "review", "system", mine[0].case_id)
        case = await c.read.case(mine[0].case_id)
        assert (case.case.kind, case.case.status, case.case.subject_id) == ("screening", "open", c.id("elvis"))
        assert "rescreen" in case.events[0].reason and "10278" in case.events[0].reason
        assert (await c.rescreen()).screened == 0  # resumable: nothing left against this version

        await c.new_list(BANCO)  # delisted
        await c.rescreen()
        assert await c.status.subject_status(c.id("elvis")) == "clear"
        still = await c.read.case(mine[0].case_id)
        assert still.case.status == "open" and still.screening.matches == ()

    compliance_run(scenario)


# --- Case decisions ----------------------------------------------------------------------


def test_a_false_positive_clears_the_subject_and_is_not_counted_again(compliance_run):
    async def scenario(c: Compliance):
        await c.new_list(ELVIS)
        screened = await c.party("Elvis Logan Morey", "elvis")
        case_id = screened.case.id

        decided = await c.update_case(case_id, CaseChange(decision="false_positive", reason="different person: DOB 1990"),
                                      actor="key-ops-1")
        assert decided.decision == "false_positive" and decided.status == "open"
        assert await c.status.subject_status(c.id("elvis")) == "clear"
        closed = await c.update_case(case_id, CaseChange(status="closed", reason="dismissed"), actor="key-ops-2")
        assert closed.status == "closed"

        await c.new_list(ELVIS, BANCO)
        await c.rescreen()
        detail = await c.read.subject(c.id("elvis"))
        assert detail.subject.status == "clear" and detail.active_cases == []
        assert detail.screening.result == "possible_match" and detail.screening.suppressed == ("10278",)
        assert [(ch.to_status, ch.actor) for ch in detail.status_changes] == [("clear", "key-ops-1"), ("review", "system")]

        renamed = await c.party("Elvis Angus Logan Morey", "elvis")  # another name: the dismissal does not cover it
        assert renamed.subject.status == "review" and renamed.case_opened
        events = (await c.read.case(case_id)).events
        assert [(e.action, e.actor, e.reason) for e in events[1:]] == [
            ("decided", "key-ops-1", "different person: DOB 1990"), ("status_changed", "key-ops-2", "dismissed")]

    compliance_run(scenario)


def test_a_confirmed_match_blocks_until_a_person_decides_otherwise(compliance_run):
    async def scenario(c: Compliance):
        await c.new_list(ELVIS)
        case_id = (await c.party("Elvis Logan Morey", "elvis")).case.id
        await c.update_case(case_id, CaseChange(decision="false_positive", reason="looks different"), actor="key-1")
        assert len(await c.uow(lambda uow: uow.subjects.cleared(c.id("elvis")))) == 1

        await c.update_case(case_id, CaseChange(decision="confirmed", reason="passport matches"), actor="key-2")
        assert await c.status.subject_status(c.id("elvis")) == "blocked"
        assert await c.uow(lambda uow: uow.subjects.cleared(c.id("elvis"))) == []  # the dismissal was undone
        for status in ("investigating", "escalated", "reported"):
            await c.update_case(case_id, CaseChange(status=status, reason=f"to {status}"), actor="key-2")

        await c.new_list(BANCO)  # even delisted, a confirmed match stays blocked
        await c.rescreen()
        detail = await c.read.subject(c.id("elvis"))
        assert (detail.subject.status, detail.subject.confirmed_match, detail.active_cases) == ("blocked", True, [])
        assert detail.screening.result == "clear"

    compliance_run(scenario)


def test_the_case_workflow_refuses_illegal_steps_and_keeps_a_trail(compliance_run):
    async def scenario(c: Compliance):
        await c.new_list(ELVIS)
        case_id = (await c.party("Elvis Logan Morey", "elvis")).case.id

        async def refused(change: CaseChange, code: str) -> None:
            before = await c.read.case(case_id)
            with pytest.raises((Conflict, InvalidInput)) as error:
                await c.update_case(case_id, change, actor="key-ops")
            assert error.value.code == code
            assert await c.read.case(case_id) == before  # nothing changed

        await refused(CaseChange(status="reported", reason="skip ahead"), "invalid_case_transition")
        await refused(CaseChange(status="escalated", reason="skip ahead"), "invalid_case_transition")
        await refused(CaseChange(status="closed", reason="no decision"), "case_decision_required")
        await refused(CaseChange(status="investigating", reason="  "), "reason_required")
        # a decision and a refused transition in one change: neither applies
        await refused(CaseChange(decision="confirmed", status="reported", reason="both"), "invalid_case_transition")
        assert await c.status.subject_status(c.id("elvis")) == "review"

        await c.update_case(case_id, CaseChange(status="investigating", reason="looking"), actor="key-a")
        await c.update_case(case_id, CaseChange(status="escalated", reason="to the MLRO"), actor="key-b")
        await c.update_case(case_id, CaseChange(decision="confirmed", status="reported", reason="filed"), actor="key-c")
        await refused(CaseChange(status="closed", reason="again"), "invalid_case_transition")
        await refused(CaseChange(decision="false_positive", reason="changed my mind"), "case_closed")
        with pytest.raises(NotFound):
            await c.update_case(c.id("no-such-case"), CaseChange(status="closed", reason="x"), actor="key")

        trail = (await c.read.case(case_id)).events
        assert [(e.action, e.actor, e.from_status, e.to_status, e.decision) for e in trail] == [
            ("opened", "system", None, "open", None),
            ("status_changed", "key-a", "open", "investigating", None),
            ("status_changed", "key-b", "investigating", "escalated", None),
            ("decided", "key-c", None, None, "confirmed"),
            ("status_changed", "key-c", "escalated", "reported", None),
        ]

    compliance_run(scenario)


# --- Monitoring --------------------------------------------------------------------------

TEST_RULES = RuleSet(rules=(
    AmountThreshold(id="huge", action="decline", currency="USD", threshold=100_000),
    Velocity(id="burst", action="decline", window_seconds=60, max_count=2),
    AmountThreshold(id="large", action="alert", currency="USD", threshold=50_000, kinds=("funding", "authorization")),
    HighRisk(id="casino", action="alert", mccs=("7995",)),
))


def _event(c: Compliance, name: str, *, subject: str = "s1", kind="authorization", amount=1_000, mcc="5411",
           seconds: float = 0) -> ActivityEvent:
    return ActivityEvent(id=c.id(name), subject_id=c.id(subject), card_id=c.id("card"), kind=kind, amount=amount,
                         currency="USD", mcc=mcc, country="US", at=T0 + timedelta(seconds=seconds))


async def _real_time_hits(c: Compliance, event: ActivityEvent) -> list[str]:
    """The real-time (``decline``) rules ``event`` breaks, judged as the authorization path does."""
    rules = (await c.rules.current()).rules

    async def read(uow):
        return await (await uow.activity.queue_recent([event.subject_id], event.at, rules.recent_query()))()

    activity = (await c.uow(read))[event.subject_id]
    return [hit.rule_id for hit in activity.hits(rules, activity.stamp(event))]


def test_monitoring_checks_in_real_time_and_files_alerts_in_one_case_per_subject(compliance_run):
    async def scenario(c: Compliance):
        stored = await c.rules.replace(TEST_RULES, actor="key-ops", reason="test rules")
        assert (await c.rules.current()) == stored and stored.created_by == "key-ops"
        assert (await c.monitor.rules_in_force()) == stored

        assert await _real_time_hits(c, _event(c, "a0", amount=100_000)) == ["huge"]
        assert await _real_time_hits(c, _event(c, "a0", amount=99_999)) == []
        assert await c.uow(lambda uow: uow.activity.history(c.id("s1"), T0 - timedelta(days=1), T0)) == []

        for i in range(2):
            assert (await c.monitor.record(_event(c, f"a{i}", seconds=i))).alerts == ()
        assert await _real_time_hits(c, _event(c, "a2", seconds=2)) == ["burst"]  # third within a minute
        assert await _real_time_hits(c, _event(c, "a2", seconds=60)) == []  # the first has left the window

        first = await c.monitor.record(_event(c, "big", amount=60_000, mcc="7995", seconds=10))
        assert first.created and sorted(a.rule_id for a in first.alerts) == ["casino", "large"]
        second = await c.monitor.record(_event(c, "fund", kind="funding", amount=50_000, seconds=20))
        assert [a.rule_id for a in second.alerts] == ["large"] and second.case_id == first.case_id
        replay = await c.monitor.record(_event(c, "big", amount=60_000, mcc="7995", seconds=10))
        assert not replay.created and replay.alerts == first.alerts

        other = await c.monitor.record(_event(c, "elsewhere", subject="s2", amount=70_000))
        assert other.case_id != first.case_id

        case = await c.read.case(first.case_id)
        assert (case.case.kind, case.case.status, case.case.alert_count) == ("monitoring", "open", 3)
        assert {a.id for a in case.alerts} == {a.id for a in first.alerts + second.alerts}
        assert [e.action for e in case.events] == ["opened", "alert_added"]
        assert case.events[0].alert_ids == tuple(a.id for a in first.alerts)
        assert first.alerts[0].rules_version == stored.version

        with pytest.raises(Conflict) as error:
            await c.update_case(first.case_id, CaseChange(decision="confirmed", reason="x"), actor="key")
        assert error.value.code == "case_has_no_match"
        await c.update_case(first.case_id, CaseChange(status="closed", reason="explained by the customer"), actor="k")
        later = await c.monitor.record(_event(c, "big2", amount=60_000, seconds=30))
        assert later.case_id not in (None, first.case_id)

        alerts = await c.read.alerts(subject_id=c.id("s1"), limit=2)
        rest = await c.read.alerts(subject_id=c.id("s1"), cursor=alerts.next_cursor, limit=10)
        ids = [a.id for a in alerts.items + rest.items]
        assert ids == sorted(ids, reverse=True) and len(ids) == 4 and rest.next_cursor is None

        with pytest.raises(InvalidInput) as error:
            await c.monitor.record(_event(c, "bad", amount=-1))
        assert error.value.code == "invalid_activity"

    compliance_run(scenario)


def test_rule_sets_are_versioned(compliance_run):
    async def scenario(c: Compliance):
        before = await c.rules.current()
        first = await c.rules.replace(TEST_RULES, actor="key-1", reason="tighter")
        second = await c.rules.replace(load_default_rules(), actor="key-2", reason="back to the defaults")
        assert (first.version, second.version) == (before.version + 1, before.version + 2)
        latest = await c.uow(lambda uow: uow.rules.latest())
        assert latest == second and latest.rules == load_default_rules()
        with pytest.raises(InvalidInput):
            await c.rules.replace(TEST_RULES, actor="key-3", reason="")

    compliance_run(scenario)


# --- Repositories ------------------------------------------------------------------------


def test_activity_history_is_bounded_and_recording_is_idempotent(compliance_run):
    async def scenario(c: Compliance):
        events = [_event(c, f"e{i}", seconds=i * 10) for i in range(4)]

        async def store(uow: ComplianceUnitOfWork):
            return [await uow.activity.add(e, T0) for e in events] + [await uow.activity.add(events[0], T0)]

        assert await c.uow(store) == [True, True, True, True, False]
        window = await c.uow(lambda uow: uow.activity.history(c.id("s1"), T0 + timedelta(seconds=10),
                                                               T0 + timedelta(seconds=30)))
        assert [e.id for e in window] == [c.id("e2"), c.id("e3")]  # since excluded, until included
        assert window[0] == events[2]

    compliance_run(scenario)


def test_cases_are_listed_newest_first_with_filters(compliance_run):
    async def scenario(c: Compliance):
        await c.new_list(ELVIS, BANCO)
        made = [(await c.party("Elvis Logan Morey", f"e{i}")).case.id for i in range(3)]
        await c.update_case(made[0], CaseChange(status="investigating", reason="r"), actor="k")

        mine = await c.read.cases(subject_id=c.id("e1"))
        assert [x.id for x in mine.items] == [made[1]] and mine.next_cursor is None
        investigating = await c.read.cases(status="investigating", kind="screening", limit=200)
        assert made[0] in [x.id for x in investigating.items] and made[1] not in [x.id for x in investigating.items]
        assert (await c.read.cases(status="investigating", kind="monitoring", subject_id=c.id("e0"))).items == []

        seen, cursor = [], None
        while True:
            page = await c.read.cases(kind="screening", cursor=cursor, limit=2)
            seen += [x.id for x in page.items]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert seen == sorted(seen, reverse=True) and set(made) <= set(seen)

    compliance_run(scenario)


def test_subjects_are_rescreened_in_id_order_when_stale(compliance_run):
    async def scenario(c: Compliance):
        old = await c.new_list(BANCO)
        for name in ("b", "a", "c"):
            await c.party("Someone Else", name)
        new = await c.new_list(BANCO, ELVIS)

        stale = await c.uow(lambda uow: uow.subjects.stale(new.id, c.prefix, 1000))
        mine = [s for s in stale if s.startswith(c.prefix)]
        assert mine == [c.id("a"), c.id("b"), c.id("c")]
        assert [s for s in await c.uow(lambda uow: uow.subjects.stale(old.id, c.prefix, 1000))
                if s.startswith(c.prefix)] == []
        after_a = await c.uow(lambda uow: uow.subjects.stale(new.id, c.id("a"), 2))
        assert after_a[0] == c.id("b")

    compliance_run(scenario)
