"""Compliance routes: sanctions screening (roles ``app``, ``ops``), and for ``ops`` the cases and
their workflow, monitoring alerts and rules, list versions and re-screening."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Litestar, Request, get, patch, post, put
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery, JSONBody, Parameter
from msgspec import Meta

from application.compliance.current_screener import CurrentScreener
from application.compliance.monitoring_rules import MonitoringRules
from application.compliance.read_compliance import CaseDetail, ReadCompliance, SubjectDetail
from application.compliance.rescreen_subjects import RescreenSubjects, StatusChanged
from application.compliance.screen_name import ScreenName
from application.compliance.screen_subject import ScreenSubject
from application.compliance.update_case import CaseChange, UpdateCase
from application.ports.compliance import ListVersion
from domain.compliance.cases import TRANSITIONS, Case, CaseEvent, CaseKind, CaseStatus, MatchDecision
from domain.compliance.monitoring import Alert, Rule, RuleSet, RuleSetVersion
from domain.compliance.sanctions import PARTIAL_DATE_PATTERN
from domain.compliance.screening import Match, MatchFeatures, Modifier, ScreeningStatus
from domain.compliance.subjects import Party, Subject, SubjectScreening, SubjectStatus, explain
from domain.shared.errors import InvalidInput
from entrypoints.http.security import current_principal, roles

Id = Annotated[str, Meta(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")]
Name = Annotated[str, Meta(min_length=1, max_length=300)]
BirthDate = Annotated[str, Meta(pattern=PARTIAL_DATE_PATTERN, description="YYYY, YYYY-MM or YYYY-MM-DD")]
Country = Annotated[str, Meta(min_length=1, max_length=100, description="ISO 3166-1 alpha-2 code or a country name")]
Reason = Annotated[str, Meta(min_length=1, max_length=2000)]
Limit = Annotated[int, Parameter(ge=1, le=200)]
Cursor = Annotated[str | None, Parameter(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")]

log = logging.getLogger(__name__)

# Raised when no sanctions list was ever ingested: the service cannot screen until an operator acts.
STATUS_OVERRIDES = {"sanctions_list_missing": 503}


# --- Screening ---------------------------------------------------------------------------


class ScreeningIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Name
    birth_date: BirthDate | None = None
    country: Country | None = None
    subject_id: Id | None = None
    """Screen as this subject (a cardholder id): the result is kept and sets the subject's status."""


class MatchOut(msgspec.Struct, frozen=True, kw_only=True):
    list_source: str = msgspec.field(name="list")
    list_version: str
    entry_id: str
    name: str
    """The list name that matched: the primary name or an alias."""
    name_type: str
    primary_name: str
    entity_type: str
    programs: tuple[str, ...]
    score: float
    why: str
    features: MatchFeatures
    modifiers: tuple[Modifier, ...]
    dismissed: bool = False
    """A person already dismissed this match for this subject and name: it does not count."""

    @classmethod
    def of(cls, m: Match, source: str, version: str, dismissed: bool = False) -> MatchOut:
        return cls(list_source=source, list_version=version, entry_id=m.uid, name=m.matched_name,
                   name_type=m.matched_name_type, primary_name=m.primary_name, entity_type=m.entity_type,
                   programs=m.programs, score=m.score, why=explain(m), features=m.features, modifiers=m.modifiers,
                   dismissed=dismissed)


class SubjectOut(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    birth_date: str | None
    country: str | None
    status: SubjectStatus
    confirmed_match: bool
    screening_id: str
    list_version_id: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, s: Subject) -> SubjectOut:
        return cls(id=s.id, name=s.name, birth_date=s.birth_date, country=s.country, status=s.status,
                   confirmed_match=s.confirmed_match, screening_id=s.screening_id, list_version_id=s.list_version_id,
                   created_at=s.created_at, updated_at=s.updated_at)


class ScreeningOut(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    decision: ScreeningStatus
    """What the screener found: ``clear``, ``possible_match`` or ``strong_match``."""
    list_source: str = msgspec.field(name="list")
    list_version: str
    matches: tuple[MatchOut, ...]
    screening_id: str | None = None
    subject: SubjectOut | None = None
    """With ``subject_id``: the subject after this screening (``clear``, ``review``, ``blocked``)."""
    case_id: str | None = None
    """With ``subject_id``: the subject's active screening case, if any."""


class ScreeningRecordOut(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    subject_id: str
    name: str
    birth_date: str | None
    country: str | None
    list_source: str = msgspec.field(name="list")
    list_version: str
    list_version_id: int
    decision: ScreeningStatus
    status: SubjectStatus
    matches: tuple[MatchOut, ...]
    trigger: str
    screened_at: datetime

    @classmethod
    def of(cls, s: SubjectScreening) -> ScreeningRecordOut:
        return cls(id=s.id, subject_id=s.subject_id, name=s.name, birth_date=s.birth_date, country=s.country,
                   list_source=s.list_source, list_version=s.list_version, list_version_id=s.list_version_id,
                   decision=s.result, status=s.status, trigger=s.trigger, screened_at=s.screened_at,
                   matches=tuple(MatchOut.of(m, s.list_source, s.list_version, m.uid in s.suppressed)
                                 for m in s.matches))


class StatusChangeOut(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    from_status: SubjectStatus | None
    to_status: SubjectStatus
    at: datetime
    actor: str
    reason: str
    screening_id: str | None
    case_id: str | None


class SubjectDetailOut(msgspec.Struct, frozen=True, kw_only=True):
    subject: SubjectOut
    screening: ScreeningRecordOut | None
    status_changes: list[StatusChangeOut]
    """Newest first."""
    active_case_ids: list[str]

    @classmethod
    def of(cls, d: SubjectDetail) -> SubjectDetailOut:
        return cls(subject=SubjectOut.of(d.subject),
                   screening=ScreeningRecordOut.of(d.screening) if d.screening else None,
                   status_changes=[msgspec.convert(msgspec.to_builtins(c), StatusChangeOut) for c in d.status_changes],
                   active_case_ids=[c.id for c in d.active_cases])


# --- Cases and alerts --------------------------------------------------------------------


class CaseOut(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    subject_id: str
    kind: CaseKind
    status: CaseStatus
    decision: MatchDecision | None
    screening_id: str | None
    alert_count: int
    opened_at: datetime
    updated_at: datetime
    next_statuses: list[str]
    """Where the workflow lets the case go from here."""

    @classmethod
    def of(cls, c: Case) -> CaseOut:
        return cls(id=c.id, subject_id=c.subject_id, kind=c.kind, status=c.status, decision=c.decision,
                   screening_id=c.screening_id, alert_count=c.alert_count, opened_at=c.opened_at,
                   updated_at=c.updated_at, next_statuses=sorted(TRANSITIONS[c.status]))


class CaseEventOut(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    id: str
    at: datetime
    actor: str
    """The API key id of the person who acted, or ``system``."""
    action: str
    reason: str
    from_status: str | None = None
    to_status: str | None = None
    decision: str | None = None
    screening_id: str | None = None
    alert_ids: tuple[str, ...] = ()

    @classmethod
    def of(cls, e: CaseEvent) -> CaseEventOut:
        return cls(id=e.id, at=e.at, actor=e.actor, action=e.action, reason=e.reason, from_status=e.from_status,
                   to_status=e.to_status, decision=e.decision, screening_id=e.screening_id, alert_ids=e.alert_ids)


class AlertOut(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    subject_id: str
    case_id: str
    event_id: str
    card_id: str | None
    kind: str
    amount: int
    currency: str
    rule_id: str
    rule_type: str
    rules_version: int
    reason: str
    raised_at: datetime

    @classmethod
    def of(cls, a: Alert) -> AlertOut:
        return msgspec.convert(msgspec.to_builtins(a), cls)


class CaseDetailOut(msgspec.Struct, frozen=True, kw_only=True):
    case: CaseOut
    subject: SubjectOut | None
    screening: ScreeningRecordOut | None
    """Screening cases: the screening under review, with its explained matches."""
    events: list[CaseEventOut]
    """The trail, oldest first."""
    alerts: list[AlertOut]
    """Monitoring cases: the newest alerts (more through /v1/compliance/alerts?case_id=)."""

    @classmethod
    def of(cls, d: CaseDetail) -> CaseDetailOut:
        return cls(case=CaseOut.of(d.case), subject=SubjectOut.of(d.subject) if d.subject else None,
                   screening=ScreeningRecordOut.of(d.screening) if d.screening else None,
                   events=[CaseEventOut.of(e) for e in d.events], alerts=[AlertOut.of(a) for a in d.alerts])


class CasePatchIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    reason: Reason
    status: CaseStatus | None = None
    decision: MatchDecision | None = None


class CaseList(msgspec.Struct, frozen=True):
    data: list[CaseOut]
    next_cursor: str | None


class AlertList(msgspec.Struct, frozen=True):
    data: list[AlertOut]
    next_cursor: str | None


# --- Rules, lists, re-screening ----------------------------------------------------------


class RulesOut(msgspec.Struct, frozen=True, kw_only=True):
    version: int
    """0 for the shipped default."""
    created_at: datetime | None
    created_by: str | None
    reason: str
    rules: tuple[Rule, ...]

    @classmethod
    def of(cls, v: RuleSetVersion) -> RulesOut:
        return cls(version=v.version, created_at=v.created_at, created_by=v.created_by, reason=v.reason,
                   rules=v.rules.rules)


class RulesIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    rules: Annotated[list[Rule], Meta(max_length=200)]
    reason: Reason


class ListVersionList(msgspec.Struct, frozen=True):
    data: list[ListVersion]
    next_cursor: str | None


class RescreenOut(msgspec.Struct, frozen=True, kw_only=True):
    list_version: ListVersion
    screened: int
    cases_opened: int
    changes: list[StatusChanged]


class ComplianceController(Controller):
    path = "/v1/compliance"
    tags = ["compliance"]

    @post("/screenings", status_code=200, opt=roles("app", "ops"),
          summary="Screen a name (and birth date, country) against the newest sanctions list")
    async def screen(self, request: Request, state: State, data: JSONBody[ScreeningIn]) -> ScreeningOut:
        if data.subject_id is None:
            screen_name: ScreenName = state.compliance_screen_name
            found = await screen_name(data.name, birth_date=data.birth_date, country=data.country)
            source, version = found.version.source, found.version.version
            return ScreeningOut(decision=found.result.status, list_source=source, list_version=version,
                                matches=tuple(MatchOut.of(m, source, version) for m in found.result.matches))
        screen_subject: ScreenSubject = state.compliance_screen_subject
        done = await screen_subject(
            Party(subject_id=data.subject_id, name=data.name, birth_date=data.birth_date, country=data.country),
            actor=current_principal(request).key_id)
        s = done.screening
        return ScreeningOut(
            decision=s.result, list_source=s.list_source, list_version=s.list_version, screening_id=s.id,
            matches=tuple(MatchOut.of(m, s.list_source, s.list_version, m.uid in s.suppressed) for m in s.matches),
            subject=SubjectOut.of(done.subject), case_id=done.case.id if done.case and done.case.active else None)

    @get("/subjects/{subject_id:str}", opt=roles("app", "ops"),
         summary="A screened subject: status, latest screening, status history")
    async def subject(self, state: State, subject_id: FromPath[str]) -> SubjectDetailOut:
        reader: ReadCompliance = state.compliance_read
        return SubjectDetailOut.of(await reader.subject(subject_id))

    @post("/rescreenings", status_code=200, opt=roles("ops"),
          summary="Screen every subject again against the newest list version (resumable; idempotent)")
    async def rescreen(self, state: State) -> RescreenOut:
        use_case: RescreenSubjects = state.compliance_rescreen
        done = await use_case()
        return RescreenOut(list_version=done.list_version, screened=done.screened, cases_opened=done.cases_opened,
                           changes=done.changes)

    @get("/lists", opt=roles("ops"), summary="Stored sanctions list versions, newest first")
    async def lists(self, state: State, limit: Limit = 50,
                    cursor: Annotated[str | None, Parameter(pattern=r"^\d{1,18}$")] = None) -> ListVersionList:
        reader: ReadCompliance = state.compliance_read
        page = await reader.list_versions(cursor=int(cursor) if cursor else None, limit=limit)
        return ListVersionList(data=page.items, next_cursor=page.next_cursor)

    @get("/alerts", opt=roles("ops"), summary="Monitoring alerts, newest first")
    async def alerts(self, state: State, limit: Limit = 50, cursor: Cursor = None,
                     subject_id: Annotated[str | None, Parameter(max_length=128)] = None,
                     case_id: Annotated[str | None, Parameter(max_length=128)] = None) -> AlertList:
        reader: ReadCompliance = state.compliance_read
        page = await reader.alerts(subject_id=subject_id, case_id=case_id, cursor=cursor, limit=limit)
        return AlertList(data=[AlertOut.of(a) for a in page.items], next_cursor=page.next_cursor)

    @get("/cases", opt=roles("ops"), summary="Cases, newest first")
    async def cases(self, state: State, limit: Limit = 50, cursor: Cursor = None,
                    status: FromQuery[CaseStatus | None] = None, kind: FromQuery[CaseKind | None] = None,
                    subject_id: Annotated[str | None, Parameter(max_length=128)] = None) -> CaseList:
        reader: ReadCompliance = state.compliance_read
        page = await reader.cases(status=status, kind=kind, subject_id=subject_id, cursor=cursor, limit=limit)
        return CaseList(data=[CaseOut.of(c) for c in page.items], next_cursor=page.next_cursor)

    @get("/cases/{case_id:str}", opt=roles("ops"), summary="A case with its subject, screening, alerts and trail")
    async def case(self, state: State, case_id: FromPath[str]) -> CaseDetailOut:
        reader: ReadCompliance = state.compliance_read
        return CaseDetailOut.of(await reader.case(case_id))

    @patch("/cases/{case_id:str}", opt=roles("ops"),
           summary="Move a case along its workflow and/or decide its match, with a reason")
    async def update_case(self, request: Request, state: State, case_id: FromPath[str],
                          data: JSONBody[CasePatchIn]) -> CaseDetailOut:
        if data.status is None and data.decision is None:
            raise InvalidInput("give a status, a decision, or both", code="validation_error")
        use_case: UpdateCase = state.compliance_update_case
        reader: ReadCompliance = state.compliance_read
        await use_case(case_id, CaseChange(reason=data.reason, status=data.status, decision=data.decision),
                       actor=current_principal(request).key_id)
        return CaseDetailOut.of(await reader.case(case_id))

    @get("/rules", opt=roles("ops"), summary="The monitoring rules in force")
    async def rules(self, state: State) -> RulesOut:
        rules: MonitoringRules = state.compliance_rules
        return RulesOut.of(await rules.current())

    @put("/rules", opt=roles("ops"), summary="Replace the monitoring rules (a new version), with a reason")
    async def replace_rules(self, request: Request, state: State, data: JSONBody[RulesIn]) -> RulesOut:
        rules: MonitoringRules = state.compliance_rules
        try:
            rule_set = RuleSet(rules=tuple(data.rules))
        except ValueError as exc:
            raise InvalidInput(f"not a valid monitoring rule set: {exc}", code="invalid_rules") from None
        return RulesOut.of(await rules.replace(rule_set, actor=current_principal(request).key_id, reason=data.reason))


def compliance_state(container: Any) -> dict[str, Any]:
    """The compliance services the routes find in the app's state."""
    return {
        "compliance_screen_name": container.compliance_screen_name(),
        "compliance_screen_subject": container.compliance_screen_subject(),
        "compliance_rescreen": container.compliance_rescreen(),
        "compliance_read": container.compliance_read(),
        "compliance_update_case": container.compliance_update_case(),
        "compliance_rules": container.compliance_rules(),
    }


async def seed_sample_list(container: Any) -> None:
    """Store the sample OFAC list shipped with Bursar if no list is stored at all (development only)."""
    from adapters.compliance_data import SAMPLE_LIST_DIR
    from adapters.sanctions_ofac import load_ofac_list

    transactions = container.compliance_transactions()
    if await transactions.run(lambda uow: uow.lists.latest()) is not None:
        return
    ingested = await container.compliance_ingest_list()(load_ofac_list(SAMPLE_LIST_DIR))
    if ingested.created:
        log.warning("development: stored the 17-entry OFAC sample as sanctions list version %d; "
                    "ingest the real list with `bursar compliance ingest-list DIR`", ingested.version.id)


def compliance_lifespan(container: Any) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    """At start-up: in development, store the shipped sample list when no list is stored (so
    screening works at once); then build the sanctions index in the background, so the first
    screening need not wait for it."""
    screener: CurrentScreener = container.compliance_screener()
    development = container.settings().env == "development"

    async def build() -> None:
        try:
            await screener.warm()
        except Exception:  # screening retries on its own; the service keeps running
            log.exception("building the sanctions index at start-up failed")

    @asynccontextmanager
    async def warm(app: Litestar) -> AsyncIterator[None]:
        if development:
            try:
                await seed_sample_list(container)
            except Exception:
                log.exception("storing the sample sanctions list failed")
        task = asyncio.create_task(build())
        try:
            yield
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    return warm

