"""Compliance against PostgreSQL: the 2019 OFAC list stored as a version, its index built from the
database, subjects screened and kept, status reads, monitoring checks, and a re-screening.

    python -m bench.compliance [--subjects 1000] [--rounds 3]

In a fresh database (DATABASE_URL or the embedded server), through the use cases the core runs:
ingest the list (and again: a no-op), build the in-memory index from the stored version
``--rounds`` times as a starting process does, screen ``--subjects`` subjects one after the
other (half perturbed list names, half made-up names; each screening stored with its status and
case), read their statuses, check and record monitoring activity with the shipped rules, then
ingest a new version and re-screen everyone. Prints two tables; writes
bench/results/compliance_{index,operations}.json.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from datetime import UTC, datetime, timedelta

import msgspec

from adapters.compliance_data import load_default_rules
from adapters.postgres.compliance import PostgresComplianceTransactions
from adapters.postgres.database import Database
from adapters.sanctions_ofac import load_ofac_list
from adapters.system import SystemClock, UuidV7Ids
from application.compliance.current_screener import CurrentScreener
from application.compliance.ingest_list import IngestSanctionsList
from application.compliance.monitor_activity import MonitorActivity
from application.compliance.monitoring_rules import MonitoringRules
from application.compliance.rescreen_subjects import RescreenSubjects
from application.compliance.screen_subject import ScreenSubject
from application.compliance.subject_status import GetSubjectStatus
from bench.common import bench_database, report
from bench.screening import OFAC_2019, SEED, make_queries, percentile
from domain.compliance.monitoring import ActivityEvent
from domain.compliance.subjects import Party


def _ms(samples: list[float]) -> dict[str, str]:
    return {"p50 ms": f"{percentile(samples, 50):.2f}", "p95 ms": f"{percentile(samples, 95):.2f}",
            "p99 ms": f"{percentile(samples, 99):.2f}", "max ms": f"{max(samples):.2f}"}


async def _timed(call) -> float:
    started = time.perf_counter()
    await call()
    return (time.perf_counter() - started) * 1000


async def run(core_url: str, subjects: int, rounds: int) -> tuple[list[dict], list[dict]]:
    rng = random.Random(SEED)
    db = Database(core_url, min_size=1, max_size=4)
    await db.open()
    try:
        tx, clock, ids = PostgresComplianceTransactions(db.pool), SystemClock(), UuidV7Ids()
        started = time.perf_counter()
        sanctions = load_ofac_list(OFAC_2019)
        parse_s = time.perf_counter() - started
        ingest = IngestSanctionsList(tx, clock)
        started = time.perf_counter()
        stored = await ingest(sanctions)
        ingest_s = time.perf_counter() - started
        started = time.perf_counter()
        again = await ingest(sanctions)
        noop_s = time.perf_counter() - started
        assert stored.created and not again.created

        builds = [await CurrentScreener(tx).get() for _ in range(rounds)]
        index_rows = [{
            "entries": stored.version.entry_count, "aliases": stored.version.alias_count,
            "parse files s": f"{parse_s:.2f}", "store s": f"{ingest_s:.2f}", "re-ingest s": f"{noop_s:.3f}",
            "load from db s": f"{statistics.median(b.load_seconds for b in builds):.3f}",
            "build index s": f"{statistics.median(b.build_seconds for b in builds):.2f}",
            "rounds": rounds,
        }]

        screener = CurrentScreener(tx, refresh_seconds=60)
        await screener.get()
        screen = ScreenSubject(tx, screener, clock, ids)
        queries = make_queries(sanctions, subjects, rng)
        screen_ms, statuses = [], []
        for i, (name, _uid) in enumerate(queries):
            started = time.perf_counter()
            done = await screen(Party(subject_id=f"subject-{i:06d}", name=name))
            screen_ms.append((time.perf_counter() - started) * 1000)
            statuses.append(done.subject.status)
        status = GetSubjectStatus(tx)
        status_ms = [await _timed(lambda: status.subject_status(f"subject-{i % subjects:06d}")) for i in range(subjects)]

        monitor = MonitorActivity(tx, MonitoringRules(tx, load_default_rules(), clock, refresh_seconds=60), clock, ids)
        rules = (await monitor.rules_in_force()).rules

        async def real_time(event: ActivityEvent):
            """The decline rules as the authorization path applies them: the subject's tallies, one read."""
            async def read(uow):
                return await (await uow.activity.queue_recent([event.subject_id], event.at, rules.recent_query()))()

            activity = (await tx.run(read))[event.subject_id]
            return activity.hits(rules, activity.stamp(event))

        at = datetime(2026, 11, 20, tzinfo=UTC)
        record_ms, check_ms = [], []
        for i in range(subjects):
            event = ActivityEvent(id=f"auth-{i}", subject_id=f"subject-{i % 10:06d}", card_id="card", kind="authorization",
                                  amount=rng.randint(100, 50_000), currency="USD", mcc="5411", country="US",
                                  at=at + timedelta(seconds=30 * i))
            check_ms.append(await _timed(lambda: real_time(msgspec.structs.replace(event, id=f"next-{i}"))))
            record_ms.append(await _timed(lambda: monitor.record(event)))

        renewed = msgspec.structs.replace(sanctions, version=sanctions.version + "-renewed")
        await IngestSanctionsList(tx, clock, screener)(renewed)
        started = time.perf_counter()
        await screener.get()  # the new version's index
        rebuild_s = time.perf_counter() - started
        started = time.perf_counter()
        summary = await RescreenSubjects(tx, screener, clock, ids)()
        rescreen_s = time.perf_counter() - started

        ops_rows = [
            {"operation": "ScreenSubject (screen, store, status, case)", "count": subjects, **_ms(screen_ms)},
            {"operation": "GetSubjectStatus", "count": subjects, **_ms(status_ms)},
            {"operation": "decline rules on the subject's tallies (default rules)", "count": subjects, **_ms(check_ms)},
            {"operation": "MonitorActivity.record (default rules)", "count": subjects, **_ms(record_ms)},
            {"operation": f"RescreenSubjects after a new version: {rescreen_s:.2f} s in all, after a "
                          f"{rebuild_s:.2f} s index build", "count": summary.screened,
             "p50 ms": f"{rescreen_s / max(1, summary.screened) * 1000:.2f} (mean)"},
        ]
        print("subjects screened: " + ", ".join(f"{statuses.count(s)} {s}" for s in ("clear", "review", "blocked")))
        return index_rows, ops_rows
    finally:
        await db.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    with bench_database() as (_admin, core_url):
        index_rows, ops_rows = asyncio.run(run(core_url, args.subjects, args.rounds))
    print("\nThe 2019 OFAC SDN list as a stored version, and its index built from the database\n")
    report("compliance_index", index_rows, list(index_rows[0]))
    print("\nCompliance operations against PostgreSQL, one at a time\n")
    report("compliance_operations", ops_rows, ["operation", "count", "p50 ms", "p95 ms", "p99 ms", "max ms"])


if __name__ == "__main__":
    main()
