"""The in-process caches of compliance (the sanctions index, the rule set) and the pure subject rules."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from adapters.compliance_data import load_default_rules
from adapters.memory.compliance import InMemoryComplianceTransactions
from application.compliance.current_screener import CurrentScreener, SanctionsListMissing
from application.compliance.ingest_list import IngestSanctionsList
from application.compliance.monitoring_rules import MonitoringRules
from domain.compliance import Alias, SanctionsEntry, SanctionsList, Screener
from domain.compliance.monitoring import HighRisk, RuleSet
from domain.compliance.subjects import ClearedMatch, assess, explain
from domain.shared.errors import InvalidInput

NOW = datetime(2026, 6, 1, tzinfo=UTC)
ELVIS = SanctionsEntry(uid="10278", name="LOGAN MOREY, Elvis Angus", entity_type="individual", programs=("SDNT",),
                       aliases=(Alias(name="BURTON BURGESS, Elvis"),), birth_dates=("1963-07-28",), countries=("BZ",))
BANCO = SanctionsEntry(uid="306", name="BANCO NACIONAL DE CUBA", entity_type="entity", programs=("CUBA",))


class Clock:
    def now(self) -> datetime:
        return NOW


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class CountingBuild:
    def __init__(self) -> None:
        self.built: list[str] = []

    def __call__(self, sanctions_list: SanctionsList) -> Screener:
        self.built.append(sanctions_list.version)
        return Screener(sanctions_list)


def test_the_index_is_built_once_per_version_and_checked_every_refresh_interval() -> None:
    async def scenario() -> None:
        tx, ticks, build = InMemoryComplianceTransactions(), Ticks(), CountingBuild()
        screener = CurrentScreener(tx, refresh_seconds=5, build=build, monotonic=ticks)
        with pytest.raises(SanctionsListMissing) as error:
            await screener.get()
        assert error.value.code == "sanctions_list_missing"

        other_process = IngestSanctionsList(tx, Clock())  # does not tell this screener
        await other_process(SanctionsList(source="T", version="v1", entries=(BANCO,)))
        first = await screener.get()
        assert (first.version.version, build.built) == ("v1", ["v1"])

        await other_process(SanctionsList(source="T", version="v2", entries=(BANCO, ELVIS)))
        ticks.now = 4.9
        assert (await screener.get()).version.version == "v1"  # not looked again yet
        ticks.now = 5.0
        second = await screener.get()
        assert second.version.version == "v2" and second.screener.screen("Elvis Logan Morey").matches
        ticks.now = 20
        assert (await screener.get()) is second and build.built == ["v1", "v2"]  # same version: no rebuild

        this_process = IngestSanctionsList(tx, Clock(), screener)  # tells it: the next call looks at once
        await this_process(SanctionsList(source="T", version="v3", entries=(ELVIS,)))
        assert (await screener.get()).version.version == "v3"

    asyncio.run(scenario())


def test_concurrent_callers_share_one_build() -> None:
    async def scenario() -> None:
        tx, build = InMemoryComplianceTransactions(), CountingBuild()
        await IngestSanctionsList(tx, Clock())(SanctionsList(source="T", version="v1", entries=(ELVIS,)))
        screener = CurrentScreener(tx, refresh_seconds=60, build=build)
        loaded = await asyncio.gather(*(screener.get() for _ in range(10)))
        assert build.built == ["v1"] and all(x is loaded[0] for x in loaded)

    asyncio.run(scenario())


def test_an_ingested_list_must_have_distinct_uids() -> None:
    async def scenario() -> None:
        ingest = IngestSanctionsList(InMemoryComplianceTransactions(), Clock())
        with pytest.raises(InvalidInput) as error:
            await ingest(SanctionsList(source="T", version="v1", entries=(BANCO, BANCO)))
        assert error.value.code == "duplicate_list_entry"

    asyncio.run(scenario())


def test_rules_default_to_the_shipped_set_and_are_cached() -> None:
    async def scenario() -> None:
        tx, ticks = InMemoryComplianceTransactions(), Ticks()
        here = MonitoringRules(tx, load_default_rules(), Clock(), refresh_seconds=5, monotonic=ticks)
        elsewhere = MonitoringRules(tx, load_default_rules(), Clock(), refresh_seconds=5, monotonic=ticks)
        default = await here.current()
        assert (default.version, default.rules) == (0, load_default_rules())
        await elsewhere.current()

        replaced = await here.replace(RuleSet(rules=(HighRisk(id="x", action="alert", mccs=("7995",)),)),
                                      actor="key-ops", reason="only casinos")
        assert (await here.current()) == replaced  # at once in the process that replaced them
        assert (await elsewhere.current()).version == 0  # the others within refresh_seconds
        ticks.now = 5
        assert (await elsewhere.current()) == replaced

    asyncio.run(scenario())


def test_dismissed_matches_no_longer_count_for_that_name() -> None:
    screener = Screener(SanctionsList(source="T", version="v1", entries=(ELVIS, BANCO)))
    result = screener.screen("Elvis Logan Morey", birth_date="1963-07-28")
    dismissed = ClearedMatch(subject_id="s1", entry_id="10278", matched_name="LOGAN MOREY, Elvis Angus",
                             screened_name="Elvis Logan Morey", case_id="c1", cleared_at=NOW)
    other_name = ClearedMatch(subject_id="s1", entry_id="10278", matched_name="LOGAN MOREY, Elvis Angus",
                              screened_name="Elvis Morey", case_id="c1", cleared_at=NOW)

    assert assess(result, []) == ("blocked", ())
    assert assess(result, [dismissed]) == ("clear", ("10278",))
    assert assess(result, [other_name]) == ("blocked", ())
    assert assess(result, [dismissed], confirmed_match=True) == ("blocked", ("10278",))
    assert assess(screener.screen("Elvis Logan Morey"), []) == ("review", ())


def test_a_match_explains_itself_in_one_sentence() -> None:
    screener = Screener(SanctionsList(source="T", version="v1", entries=(ELVIS,)))
    match = screener.screen("Elvis Burton Burgess", country="BZ").matches[0]

    why = explain(match)
    assert why.startswith("alias (aka) 'BURTON BURGESS, Elvis' of individual 'LOGAN MOREY, Elvis Angus' [SDNT]")
    assert "name score 1.00: 3 token(s) alike, 0 different, 0 extra, 100% of tokens shared" in why
    assert why.endswith("country BZ is tied to the entry (+0.03)")
