"""Compliance storage on PostgreSQL (``core.compliance_*``, migration 0004).

Structured values the application only reads back whole (a list entry, a screening's matches, a
rule set) are stored as JSON written and read by msgspec: the database returns them as text and
msgspec decodes them straight into domain structs. A whole list version is read as one JSON array
built by the server, which is what keeps loading the 2019 OFAC list (7,379 entries) in the tens
of milliseconds.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

import msgspec
from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from adapters.postgres.transactions import TransactionRunner
from application.ports.compliance import AwaitingActivity, ListVersion
from domain.compliance.cases import Case, CaseEvent, CaseKind, CaseStatus
from domain.compliance.monitoring import (
    ActivityEvent,
    Alert,
    Counted,
    RecentActivity,
    RecentQuery,
    RuleSet,
    RuleSetVersion,
    Tally,
    by_subject,
)
from domain.compliance.sanctions import SanctionsEntry, SanctionsList
from domain.compliance.screening import Match
from domain.compliance.subjects import ClearedMatch, StatusChange, Subject, SubjectScreening, SubjectStatus

T = TypeVar("T")

_encode = msgspec.json.Encoder().encode


def _dumps(value: Any) -> str:
    return _encode(value).decode()

_entries = msgspec.json.Decoder(list[SanctionsEntry])
_matches = msgspec.json.Decoder(tuple[Match, ...])
_rule_set = msgspec.json.Decoder(RuleSet)

_VERSION_COLS = "id, source, version, entry_count, alias_count, ingested_at"
_SUBJECT_COLS = "id, name, birth_date, country, status, confirmed_match, screening_id, list_version_id, created_at, updated_at"
_SCREENING_COLS = ("id, subject_id, name, birth_date, country, list_version_id, list_source, list_version, result, "
                   "status, matches::text, suppressed, trigger, screened_at")
_CHANGE_COLS = "id, subject_id, from_status, to_status, at, actor, reason, screening_id, case_id"
_CLEARED_COLS = "subject_id, entry_id, matched_name, screened_name, case_id, cleared_at"
_CASE_COLS = "id, subject_id, kind, status, opened_at, updated_at, screening_id, decision, alert_count"
_CASE_EVENT_COLS = "id, case_id, at, actor, action, reason, from_status, to_status, decision, screening_id, alert_ids"
_ALERT_COLS = ("id, subject_id, case_id, event_id, card_id, kind, amount, currency, rule_id, rule_type, rules_version, "
               "reason, raised_at")
_ACTIVITY_COLS = "id, subject_id, card_id, kind, amount, currency, mcc, country, at"


@functools.cache
def _names(cols: str) -> tuple[str, ...]:
    return tuple(c.strip().split("::")[0] for c in cols.split(","))


def _struct(cls: type[T], cols: str, row: Sequence[Any]) -> T:
    return cls(**dict(zip(_names(cols), row, strict=True)))


class _Repository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def _all(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cur = await self._conn.execute(query, params)  # type: ignore[arg-type]
        return await cur.fetchall()

    async def _one(self, query: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        cur = await self._conn.execute(query, params)  # type: ignore[arg-type]
        return await cur.fetchone()


class PostgresSanctionsLists(_Repository):
    async def find(self, source: str, version: str) -> ListVersion | None:
        row = await self._one(f"SELECT {_VERSION_COLS} FROM core.compliance_list_versions WHERE source = %s AND version = %s",
                              (source, version))
        return _struct(ListVersion, _VERSION_COLS, row) if row else None

    async def add(self, sanctions_list: SanctionsList, ingested_at: datetime) -> ListVersion:
        entries = sanctions_list.entries
        row = await self._one(
            "INSERT INTO core.compliance_list_versions (source, version, entry_count, alias_count, ingested_at) "
            f"VALUES (%s, %s, %s, %s, %s) RETURNING {_VERSION_COLS}",
            (sanctions_list.source, sanctions_list.version, len(entries), sum(len(e.aliases) for e in entries),
             ingested_at),
        )
        assert row is not None
        version = _struct(ListVersion, _VERSION_COLS, row)
        copy_sql = ("COPY core.compliance_list_entries (list_version_id, ordinal, uid, name, entity_type, entry) "
                    "FROM STDIN (FORMAT BINARY)")
        async with self._conn.cursor().copy(copy_sql) as copy:
            copy.set_types(["int8", "int4", "text", "text", "text", "jsonb"])
            for ordinal, entry in enumerate(entries):
                await copy.write_row((version.id, ordinal, entry.uid, entry.name, entry.entity_type,
                                      Jsonb(entry, dumps=_dumps)))
        return version

    async def latest(self) -> ListVersion | None:
        row = await self._one(f"SELECT {_VERSION_COLS} FROM core.compliance_list_versions ORDER BY id DESC LIMIT 1")
        return _struct(ListVersion, _VERSION_COLS, row) if row else None

    async def load(self, version_id: int) -> SanctionsList:
        row = await self._one(
            "SELECT v.source, v.version, (SELECT '[' || coalesce(string_agg(e.entry::text, ',' ORDER BY e.ordinal), '') || ']'"
            "   FROM core.compliance_list_entries e WHERE e.list_version_id = v.id)"
            "  FROM core.compliance_list_versions v WHERE v.id = %s",
            (version_id,),
        )
        if row is None:
            raise LookupError(f"no sanctions list version {version_id}")
        return SanctionsList(source=row[0], version=row[1], entries=tuple(_entries.decode(row[2])))

    async def versions(self, before: int | None, limit: int) -> list[ListVersion]:
        rows = await self._all(
            f"SELECT {_VERSION_COLS} FROM core.compliance_list_versions WHERE %s::bigint IS NULL OR id < %s "
            "ORDER BY id DESC LIMIT %s", (before, before, limit))
        return [_struct(ListVersion, _VERSION_COLS, r) for r in rows]


class PostgresSubjects(_Repository):
    async def get(self, subject_id: str, *, lock: bool = False) -> Subject | None:
        row = await self._one(f"SELECT {_SUBJECT_COLS} FROM core.compliance_subjects WHERE id = %s"
                              + (" FOR UPDATE" if lock else ""), (subject_id,))
        return _struct(Subject, _SUBJECT_COLS, row) if row else None

    async def save(self, subject: Subject) -> None:
        s = subject
        await self._conn.execute(
            f"INSERT INTO core.compliance_subjects ({_SUBJECT_COLS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (id) DO UPDATE SET name = excluded.name, birth_date = excluded.birth_date, "
            "country = excluded.country, status = excluded.status, confirmed_match = excluded.confirmed_match, "
            "screening_id = excluded.screening_id, list_version_id = excluded.list_version_id, "
            "updated_at = excluded.updated_at",
            (s.id, s.name, s.birth_date, s.country, s.status, s.confirmed_match, s.screening_id, s.list_version_id,
             s.created_at, s.updated_at),
        )

    async def status(self, subject_id: str) -> SubjectStatus | None:
        row = await self._one("SELECT status FROM core.compliance_subjects WHERE id = %s", (subject_id,))
        return row[0] if row else None

    async def statuses(self, subject_ids: Sequence[str]) -> dict[str, SubjectStatus]:
        rows = await self._all("SELECT id, status FROM core.compliance_subjects WHERE id = ANY(%s)",
                               (sorted(set(subject_ids)),))
        return {r[0]: r[1] for r in rows}

    async def stale(self, list_version_id: int, after: str, limit: int) -> list[str]:
        rows = await self._all(
            "SELECT id FROM core.compliance_subjects WHERE list_version_id < %s AND id > %s ORDER BY id LIMIT %s",
            (list_version_id, after, limit))
        return [r[0] for r in rows]

    async def add_screening(self, screening: SubjectScreening) -> None:
        s = screening
        await self._conn.execute(
            f"INSERT INTO core.compliance_screenings ({_SCREENING_COLS.replace('::text', '')}) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s)",
            (s.id, s.subject_id, s.name, s.birth_date, s.country, s.list_version_id, s.list_source, s.list_version,
             s.result, s.status, _encode(s.matches).decode(), list(s.suppressed), s.trigger, s.screened_at),
        )

    async def get_screening(self, screening_id: str) -> SubjectScreening | None:
        row = await self._one(f"SELECT {_SCREENING_COLS} FROM core.compliance_screenings WHERE id = %s", (screening_id,))
        if row is None:
            return None
        values = list(row)
        values[10] = _matches.decode(values[10])
        values[11] = tuple(values[11])
        return _struct(SubjectScreening, _SCREENING_COLS, values)

    async def add_status_change(self, change: StatusChange) -> None:
        c = change
        await self._conn.execute(
            f"INSERT INTO core.compliance_status_changes ({_CHANGE_COLS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (c.id, c.subject_id, c.from_status, c.to_status, c.at, c.actor, c.reason, c.screening_id, c.case_id))

    async def status_changes(self, subject_id: str, limit: int) -> list[StatusChange]:
        rows = await self._all(f"SELECT {_CHANGE_COLS} FROM core.compliance_status_changes WHERE subject_id = %s "
                               "ORDER BY id DESC LIMIT %s", (subject_id, limit))
        return [_struct(StatusChange, _CHANGE_COLS, r) for r in rows]

    async def cleared(self, subject_id: str) -> list[ClearedMatch]:
        rows = await self._all(f"SELECT {_CLEARED_COLS} FROM core.compliance_cleared_matches WHERE subject_id = %s "
                               "ORDER BY entry_id, matched_name, screened_name", (subject_id,))
        return [_struct(ClearedMatch, _CLEARED_COLS, r) for r in rows]

    async def add_cleared(self, cleared: Sequence[ClearedMatch]) -> None:
        if not cleared:
            return
        await self._conn.execute(
            f"INSERT INTO core.compliance_cleared_matches ({_CLEARED_COLS}) "
            "SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::timestamptz[]) "
            "ON CONFLICT DO NOTHING",
            tuple(list(column) for column in zip(*((c.subject_id, c.entry_id, c.matched_name, c.screened_name,
                                                     c.case_id, c.cleared_at) for c in cleared), strict=True)),
        )

    async def remove_cleared(self, case_id: str) -> None:
        await self._conn.execute("DELETE FROM core.compliance_cleared_matches WHERE case_id = %s", (case_id,))


class PostgresCases(_Repository):
    async def add(self, case: Case, event: CaseEvent) -> None:
        c = case
        await self._conn.execute(
            f"INSERT INTO core.compliance_cases ({_CASE_COLS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (c.id, c.subject_id, c.kind, c.status, c.opened_at, c.updated_at, c.screening_id, c.decision, c.alert_count))
        await self._add_event(event)

    async def update(self, case: Case, event: CaseEvent) -> None:
        c = case
        await self._conn.execute(
            "UPDATE core.compliance_cases SET status = %s, screening_id = %s, decision = %s, alert_count = %s, "
            "updated_at = %s WHERE id = %s",
            (c.status, c.screening_id, c.decision, c.alert_count, c.updated_at, c.id))
        await self._add_event(event)

    async def _add_event(self, e: CaseEvent) -> None:
        await self._conn.execute(
            f"INSERT INTO core.compliance_case_events ({_CASE_EVENT_COLS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (e.id, e.case_id, e.at, e.actor, e.action, e.reason, e.from_status, e.to_status, e.decision,
             e.screening_id, list(e.alert_ids)))

    async def get(self, case_id: str, *, lock: bool = False) -> Case | None:
        row = await self._one(f"SELECT {_CASE_COLS} FROM core.compliance_cases WHERE id = %s"
                              + (" FOR UPDATE" if lock else ""), (case_id,))
        return _struct(Case, _CASE_COLS, row) if row else None

    async def active(self, subject_id: str, kind: CaseKind) -> Case | None:
        row = await self._one(
            f"SELECT {_CASE_COLS} FROM core.compliance_cases WHERE subject_id = %s AND kind = %s "
            "AND status IN ('open', 'investigating', 'escalated') FOR UPDATE", (subject_id, kind))
        return _struct(Case, _CASE_COLS, row) if row else None

    async def active_of(self, subject_ids: Sequence[str], kind: CaseKind) -> dict[str, Case]:
        rows = await self._all(
            f"SELECT {_CASE_COLS} FROM core.compliance_cases WHERE subject_id = ANY(%s) AND kind = %s "
            "AND status IN ('open', 'investigating', 'escalated') ORDER BY subject_id FOR UPDATE",
            (sorted(set(subject_ids)), kind))
        return {c.subject_id: c for c in (_struct(Case, _CASE_COLS, r) for r in rows)}

    async def save_many(self, added: Sequence[Case], updated: Sequence[Case], trail: Sequence[CaseEvent]) -> None:
        if added:
            await self._conn.execute(
                f"INSERT INTO core.compliance_cases ({_CASE_COLS}) SELECT {_CASE_COLS} "
                "FROM json_populate_recordset(NULL::core.compliance_cases, %s::text::json)", (_dumps(list(added)),))
        if updated:
            await self._conn.execute(
                "UPDATE core.compliance_cases c SET status = u.status, screening_id = u.screening_id, "
                "decision = u.decision, alert_count = u.alert_count, updated_at = u.updated_at "
                "FROM json_populate_recordset(NULL::core.compliance_cases, %s::text::json) u WHERE c.id = u.id",
                (_dumps(list(updated)),))
        if trail:
            await self._conn.execute(
                f"INSERT INTO core.compliance_case_events ({_CASE_EVENT_COLS}) SELECT {_CASE_EVENT_COLS} "
                "FROM json_populate_recordset(NULL::core.compliance_case_events, %s::text::json)",
                (_dumps(list(trail)),))

    async def events(self, case_id: str) -> list[CaseEvent]:
        rows = await self._all(f"SELECT {_CASE_EVENT_COLS} FROM core.compliance_case_events WHERE case_id = %s ORDER BY id",
                               (case_id,))
        return [_struct(CaseEvent, _CASE_EVENT_COLS, (*r[:-1], tuple(r[-1]))) for r in rows]

    async def list(self, *, status: CaseStatus | None, kind: CaseKind | None, subject_id: str | None,
                   before: str | None, limit: int) -> list[Case]:
        rows = await self._all(
            f"SELECT {_CASE_COLS} FROM core.compliance_cases "
            "WHERE (%(status)s::text IS NULL OR status = %(status)s) AND (%(kind)s::text IS NULL OR kind = %(kind)s) "
            "AND (%(subject)s::text IS NULL OR subject_id = %(subject)s) AND (%(before)s::text IS NULL OR id < %(before)s) "
            "ORDER BY id DESC LIMIT %(limit)s",
            {"status": status, "kind": kind, "subject": subject_id, "before": before, "limit": limit})  # type: ignore[arg-type]
        return [_struct(Case, _CASE_COLS, r) for r in rows]


class PostgresAlerts(_Repository):
    async def add(self, alerts: Sequence[Alert]) -> None:
        if not alerts:
            return
        await self._conn.execute(
            f"INSERT INTO core.compliance_alerts ({_ALERT_COLS}) SELECT {_ALERT_COLS} "
            "FROM json_populate_recordset(NULL::core.compliance_alerts, %s::text::json)", (_dumps(list(alerts)),))

    async def for_event(self, event_id: str) -> list[Alert]:
        rows = await self._all(f"SELECT {_ALERT_COLS} FROM core.compliance_alerts WHERE event_id = %s ORDER BY id",
                               (event_id,))
        return [_struct(Alert, _ALERT_COLS, r) for r in rows]

    async def list(self, *, subject_id: str | None, case_id: str | None, before: str | None, limit: int) -> list[Alert]:
        rows = await self._all(
            f"SELECT {_ALERT_COLS} FROM core.compliance_alerts "
            "WHERE (%(subject)s::text IS NULL OR subject_id = %(subject)s) AND (%(case)s::text IS NULL OR case_id = %(case)s) "
            "AND (%(before)s::text IS NULL OR id < %(before)s) ORDER BY id DESC LIMIT %(limit)s",
            {"subject": subject_id, "case": case_id, "before": before, "limit": limit})  # type: ignore[arg-type]
        return [_struct(Alert, _ALERT_COLS, r) for r in rows]


class PostgresActivity(_Repository):
    async def add(self, event: ActivityEvent, recorded_at: datetime) -> bool:
        e = event
        cur = await self._conn.execute(
            f"INSERT INTO core.compliance_activity ({_ACTIVITY_COLS}, recorded_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
            (e.id, e.subject_id, e.card_id, e.kind, e.amount, e.currency, e.mcc, e.country, e.at, recorded_at))
        return cur.rowcount == 1

    async def history(self, subject_id: str, since: datetime, until: datetime) -> list[ActivityEvent]:
        return await (await self._queue_histories([subject_id], since, until))()

    async def queue_recent(self, subject_ids: Sequence[str], now: datetime, query: RecentQuery):
        ids = sorted(set(subject_ids))
        if query.rows_seconds is not None:
            rows = await self._queue_histories(ids, query.rows_since(now), None)

            async def from_rows() -> dict[str, RecentActivity]:
                grouped = by_subject(await rows())
                return {s: RecentActivity.from_rows(query, now, grouped.get(s, [])) for s in ids}

            return from_rows
        sql, params = _tallies_sql(query.tallies)
        cur = await self._conn.execute(sql, {**params, "ids": ids, "now": now})

        async def tallied() -> dict[str, RecentActivity]:
            return {r[0]: RecentActivity(now, r[1], _counted(query.tallies, r[2:])) for r in await cur.fetchall()}

        return tallied

    async def _queue_histories(self, subject_ids: Sequence[str], since: datetime, until: datetime | None):
        bounded = "" if until is None else "AND at <= %s "
        cur = await self._conn.execute(
            "SELECT coalesce(json_agg(a ORDER BY at, id), '[]')::text FROM ("
            f"SELECT {_ACTIVITY_COLS} FROM core.compliance_activity WHERE subject_id = ANY(%s) AND at > %s "
            f"{bounded}) a", (sorted(set(subject_ids)), since, *([] if until is None else [until])))

        async def history() -> list[ActivityEvent]:
            row = await cur.fetchone()
            return _EVENTS.decode(row[0]) if row else []

        return history

    async def append(self, events: Sequence[ActivityEvent], recorded_at: datetime) -> None:
        if not events:
            return
        await self._conn.execute(  # one statement, no result to read: it may go in a pipeline
            f"WITH added AS (INSERT INTO core.compliance_activity ({_ACTIVITY_COLS}, recorded_at) "
            f"SELECT {_ACTIVITY_COLS}, %s::timestamptz FROM json_populate_recordset("
            "NULL::core.compliance_activity, %s::text::json) ON CONFLICT (id) DO NOTHING RETURNING id, subject_id, at) "
            "INSERT INTO core.compliance_activity_awaiting_alerts (activity_id, subject_id, at) "
            "SELECT id, subject_id, at FROM added",
            (recorded_at, _encode(list(events)).decode()))

    async def take_awaiting_alerts(self, limit: int, tallies: Sequence[Tally]) -> list[AwaitingActivity]:
        tallies = tuple(tallies)
        sql, params = _awaiting_sql(tallies)
        cur = await self._conn.execute(sql, {**params, "limit": limit})
        width = len(_names(_ACTIVITY_COLS))
        return [AwaitingActivity(_struct(ActivityEvent, _ACTIVITY_COLS, r[:width]), _counted(tallies, r[width:]))
                for r in await cur.fetchall()]


@functools.lru_cache(maxsize=64)
def _tallies_sql(tallies: tuple[Tally, ...]) -> tuple[str, dict[str, Any]]:
    """One row per subject (``%(ids)s``): the latest activity's time, then each tally's count and
    sum (``_counted``) over the windows ending at ``%(now)s`` or that time if later (``RecentActivity``)."""
    columns, joins, params = _tally_joins(tallies, subject="s.id", end="r.at0")
    latest = ("CROSS JOIN LATERAL (SELECT max(at) AS latest, greatest(%(now)s, max(at)) AS at0 "
              "FROM core.compliance_activity WHERE subject_id = s.id) r")
    return (f"SELECT s.id, r.latest{columns} FROM unnest(%(ids)s::text[]) AS s(id) {latest} {joins}", params)


@functools.lru_cache(maxsize=64)
def _awaiting_sql(tallies: tuple[Tally, ...]) -> tuple[str, dict[str, Any]]:
    """Take up to ``%(limit)s`` events off the alert queue: one row each, oldest first, its columns
    then each tally's count and sum of its subject's activity before it (``take_awaiting_alerts``)."""
    before = ("AND id <> e.id AND NOT ((at, id) > (e.at, e.id) "  # taken after it: counted by a later evaluation
              "AND id IN (SELECT activity_id FROM taken))")
    columns, joins, params = _tally_joins(tallies, subject="e.subject_id", end="e.at", rows=before)
    event = ", ".join(f"e.{c}" for c in _names(_ACTIVITY_COLS))
    # Taken and read by id through the primary keys (ARRAY, LATERAL): a join lets the planner,
    # which cannot tell how few rows the queue gives, scan the whole activity table.
    sql = ("WITH taken AS (DELETE FROM core.compliance_activity_awaiting_alerts WHERE activity_id = ANY(ARRAY("
           "  SELECT activity_id FROM core.compliance_activity_awaiting_alerts ORDER BY at, activity_id "
           "  LIMIT %(limit)s FOR UPDATE SKIP LOCKED)) RETURNING activity_id) "
           f"SELECT {event}{columns} FROM taken CROSS JOIN LATERAL ("
           "  SELECT * FROM core.compliance_activity WHERE id = taken.activity_id) e "
           f"{joins} ORDER BY e.at, e.id")
    return sql, params


def _tally_joins(tallies: tuple[Tally, ...], *, subject: str, end: str, rows: str = ""
                 ) -> tuple[str, str, dict[str, Any]]:
    """The tallies of ``subject``'s activity in windows ending at ``end`` (SQL expressions of the
    outer query; ``rows``: more conditions on the activity counted): the select list's columns
    (``, `` then a count and a sum per tally, in order), the lateral joins that sum them through
    the (subject_id, at) index, one subject at a time, and their parameters. An anchored tally is
    summed in a second join, from its anchor's first activity (found by the first)."""
    if not tallies:
        return "", "", {}
    params: dict[str, Any] = {}

    def where(t: Tally, key: str) -> str:
        conditions = [f"at > {end} - %(window{key})s", f"kind = ANY(%(kinds{key})s)"]
        params[f"window{key}"], params[f"kinds{key}"] = timedelta(seconds=t.window_seconds), list(t.kinds)
        for name, test, value in (("currency", "currency =", t.currency), ("min", "amount >=", t.min_amount),
                                  ("below", "amount <", t.below)):
            if value is not None:
                params[f"{name}{key}"] = value
                conditions.append(f"{test} %({name}{key})s")
        return " AND ".join(conditions)

    anchors = list(dict.fromkeys(t.since_first_of for t in tallies if t.since_first_of is not None))
    table = {True: "u", False: "t"}  # where each tally is summed: anchored ones in the second join
    # Each tally's condition is computed once per row (the subquery's columns, kept from being
    # inlined into both aggregates by OFFSET 0), then counted and summed.
    plain_marks = [f"{where(a, f'a{j}')} AS f{j}" for j, a in enumerate(anchors)]
    plain = [f"min(at) FILTER (WHERE f{j}) AS first{j}" for j in range(len(anchors))]
    anchored_marks: list[str] = []
    anchored: list[str] = []
    for i, t in enumerate(tallies):
        condition = where(t, str(i))
        if t.since_first_of is not None:  # anchored
            condition += f" AND at >= t.first{anchors.index(t.since_first_of)}"
        marks, aggregates = (anchored_marks, anchored) if t.anchored else (plain_marks, plain)
        marks.append(f"{condition} AS m{i}")
        aggregates.extend([f"count(*) FILTER (WHERE m{i}) AS c{i}", f"coalesce(sum(amount) FILTER (WHERE m{i}), 0) AS s{i}"])

    def lateral(aggregates: list[str], marks: list[str], since: str, name: str) -> str:
        return (f"CROSS JOIN LATERAL (SELECT {', '.join(aggregates)} FROM (SELECT at, amount, {', '.join(marks)} "
                f"FROM core.compliance_activity WHERE subject_id = {subject} AND at {since} AND at <= {end} {rows} "
                f"OFFSET 0) x) {name}")

    params["widest"] = timedelta(seconds=max(t.window_seconds for t in [*tallies, *anchors]))
    joins = lateral(plain, plain_marks, f"> {end} - %(widest)s", "t")
    if anchored:
        firsts = ", ".join(f"t.first{j}" for j in range(len(anchors)))
        joins += " " + lateral(anchored, anchored_marks, f">= least({firsts})", "u")
    columns = "".join(f", {table[t.anchored]}.c{i}, {table[t.anchored]}.s{i}" for i, t in enumerate(tallies))
    return columns, joins, params


def _counted(tallies: tuple[Tally, ...], row: Sequence[Any]) -> dict[Tally, Counted]:
    """The tallies from a row's columns: a count and a sum per tally, in order (``_tally_joins``)."""
    return {t: Counted(row[2 * i], int(row[2 * i + 1])) for i, t in enumerate(tallies)}


_EVENTS = msgspec.json.Decoder(list[ActivityEvent])
"""Activity read as one JSON array built by the server: msgspec decodes it in C, where reading
rows would convert every column, times included, in Python (monitoring reads thousands a second)."""


class PostgresRuleSets(_Repository):
    async def latest(self) -> RuleSetVersion | None:
        row = await self._one("SELECT version, rules::text, created_at, created_by, reason FROM core.compliance_rule_sets "
                              "ORDER BY version DESC LIMIT 1")
        if row is None:
            return None
        return RuleSetVersion(version=row[0], rules=_rule_set.decode(row[1]), created_at=row[2], created_by=row[3],
                              reason=row[4])

    async def add(self, rules: RuleSetVersion) -> None:
        await self._conn.execute(
            "INSERT INTO core.compliance_rule_sets (version, rules, created_at, created_by, reason) "
            "VALUES (%s, %s::jsonb, %s, %s, %s)",
            (rules.version, _encode(rules.rules).decode(), rules.created_at, rules.created_by or "", rules.reason))


class PostgresComplianceUnitOfWork:
    def __init__(self, conn: AsyncConnection) -> None:
        self.lists = PostgresSanctionsLists(conn)
        self.subjects = PostgresSubjects(conn)
        self.cases = PostgresCases(conn)
        self.alerts = PostgresAlerts(conn)
        self.activity = PostgresActivity(conn)
        self.rules = PostgresRuleSets(conn)


class PostgresComplianceTransactions(TransactionRunner):
    """ComplianceTransactions on a pool: one connection and transaction per run, retried when transient."""

    unit_of_work = PostgresComplianceUnitOfWork
    label = "compliance transaction"
