"""CreateCardholder with each KYC provider: screened first, submitted to the provider only when the
screening is clear, the outcome applied with its source and reason, once (replays and ops win)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import TypeVar

import pytest

from adapters.kyc import ManualReview, SimulatedVendor
from adapters.memory.compliance import InMemoryComplianceTransactions
from application.cards.cardholders import CreateCardholder, DecideKyc, NewCardholder
from application.compliance.current_screener import CurrentScreener
from application.compliance.ingest_list import IngestSanctionsList
from application.compliance.screen_subject import ScreenSubject
from application.ports.kyc import KycApplicant, KycOutcome
from domain.cards.model import Cardholder
from domain.compliance import SanctionsEntry, SanctionsList

T = TypeVar("T")
NOW = datetime(2026, 6, 1, tzinfo=UTC)
ELVIS = SanctionsEntry(uid="10278", name="LOGAN MOREY, Elvis Angus", entity_type="individual", programs=("SDNT",),
                       birth_dates=("1963-07-28",), countries=("BZ",))


class Clock:
    def now(self) -> datetime:
        return NOW


class Ids:
    def __init__(self) -> None:
        self._next = itertools.count(1)

    def new_id(self) -> str:
        return f"{next(self._next):04d}"


class Cardholders:
    """The cardholder part of the cards repository, in memory (the rest is not needed here)."""

    def __init__(self, rows: dict[str, Cardholder]) -> None:
        self._rows = rows

    async def add_cardholder(self, cardholder: Cardholder) -> None:
        assert cardholder.id not in self._rows
        self._rows[cardholder.id] = cardholder

    async def get_cardholder(self, cardholder_id: str, *, lock: bool = False) -> Cardholder | None:
        return self._rows.get(cardholder_id)

    async def update_cardholder(self, cardholder: Cardholder) -> None:
        self._rows[cardholder.id] = cardholder


class Uow:
    def __init__(self, rows: dict[str, Cardholder]) -> None:
        self.cards = Cardholders(rows)


class Transactions:
    """One lock serialises units of work; a unit that raises leaves nothing behind."""

    def __init__(self) -> None:
        self.rows: dict[str, Cardholder] = {}
        self._lock = asyncio.Lock()

    async def run(self, work: Callable[[Uow], Awaitable[T]]) -> T:
        async with self._lock:
            before = dict(self.rows)
            try:
                return await work(Uow(self.rows))
            except BaseException:
                self.rows.clear()
                self.rows.update(before)
                raise


class Recording:
    """A provider that records what it was asked and answers what it is told."""

    name = "recording"

    def __init__(self, outcome: KycOutcome, before_answer: Callable[[], Awaitable[None]] | None = None) -> None:
        self.outcome = outcome
        self.asked: list[KycApplicant] = []
        self._before_answer = before_answer

    async def submit(self, applicant: KycApplicant) -> KycOutcome:
        self.asked.append(applicant)
        if self._before_answer:
            await self._before_answer()
        return self.outcome


class World:
    def __init__(self, provider, *, with_list: bool = True) -> None:
        self.tx = Transactions()
        compliance = InMemoryComplianceTransactions()
        screener = CurrentScreener(compliance)
        if with_list:
            asyncio.run(IngestSanctionsList(compliance, Clock(), screener)(
                SanctionsList(source="T", version="v1", entries=(ELVIS,))))
        self.provider = provider
        self.create = CreateCardholder(self.tx, ScreenSubject(compliance, screener, Clock(), Ids()), Clock(), Ids(),
                                       provider)

    def new(self, name: str = "Jane Doe", email: str | None = "jane@example.com", id: str = "ch_1",
            country: str = "DE", **kw):
        return asyncio.run(self.create(NewCardholder(name=name, country=country, email=email, id=id, **kw),
                                       actor="key1"))


def test_manual_review_leaves_a_new_cardholder_pending_for_ops() -> None:
    world = World(ManualReview())
    created = world.new()
    assert created.created and created.screening.status == "clear"
    holder = created.cardholder
    assert (holder.kyc_status, holder.kyc_tier, holder.kyc_source) == ("pending", None, "manual")
    assert holder.kyc_reason == "awaiting manual review by ops"
    assert world.tx.rows["ch_1"] == holder  # stored as answered

    decided = asyncio.run(DecideKyc(world.tx)("ch_1", "verified", "standard", actor="ops-key",
                                              evidence="passport checked"))
    assert (decided.kyc_status, decided.kyc_tier, decided.kyc_source, decided.kyc_reason) == (
        "verified", "standard", "ops:ops-key", "passport checked")
    assert world.tx.rows["ch_1"] == decided


def test_the_simulated_vendor_verifies_a_clear_cardholder_at_its_tier() -> None:
    world = World(SimulatedVendor(tier="standard"))
    holder = world.new().cardholder
    assert (holder.kyc_status, holder.kyc_tier, holder.kyc_source) == ("verified", "standard", "simulated")
    assert "simulated" in holder.kyc_reason
    assert world.tx.rows["ch_1"] == holder


@pytest.mark.parametrize(("name", "status", "tier"), [
    ("Rejected Example", "rejected", None),
    ("Needs Review", "pending", None),
])
def test_the_simulated_vendor_rejects_or_refers_by_its_markers(name: str, status: str, tier: str | None) -> None:
    holder = World(SimulatedVendor()).new(name=name).cardholder
    assert (holder.kyc_status, holder.kyc_tier, holder.kyc_source) == (status, tier, "simulated")
    assert holder.kyc_reason.startswith("simulated vendor")


@pytest.mark.parametrize("provider", [ManualReview(), SimulatedVendor()], ids=["manual", "simulated"])
def test_a_sanctions_blocked_cardholder_is_never_sent_to_the_provider(provider) -> None:
    recording = Recording(KycOutcome(decision="verified", tier="premium"))
    for world in (World(provider), World(recording)):
        created = world.new(name="Elvis Logan Morey", birth_date=date(1963, 7, 28), country="BZ")
        assert created.screening.status == "blocked"
        holder = created.cardholder
        assert (holder.kyc_status, holder.kyc_tier, holder.kyc_source) == ("pending", None, "screening")
        assert holder.kyc_reason.startswith("sanctions screening blocked")
    assert recording.asked == []


def test_a_cardholder_that_could_not_be_screened_waits_for_ops_too() -> None:
    recording = Recording(KycOutcome(decision="verified", tier="basic"))
    created = World(recording, with_list=False).new()
    assert (created.screening.status, created.screening.error) == ("review", "sanctions_list_missing")
    assert created.cardholder.kyc_status == "pending" and created.cardholder.kyc_source == "screening"
    assert "sanctions_list_missing" in created.cardholder.kyc_reason
    assert recording.asked == []


def test_the_provider_is_told_who_the_cardholder_is() -> None:
    recording = Recording(KycOutcome(decision="rejected", reason="document expired"))
    holder = World(recording).new(birth_date=date(1990, 4, 1)).cardholder
    assert recording.asked == [KycApplicant(cardholder_id="ch_1", name="Jane Doe", country="DE",
                                            birth_date=date(1990, 4, 1), email="jane@example.com")]
    assert (holder.kyc_status, holder.kyc_source, holder.kyc_reason) == ("rejected", "recording", "document expired")


def test_a_replay_does_not_submit_again() -> None:
    recording = Recording(KycOutcome(decision="verified", tier="basic"))
    world = World(recording)
    first = world.new()
    again = world.new()
    assert not again.created and again.cardholder == first.cardholder
    assert len(recording.asked) == 1


def test_a_replay_finishes_a_creation_whose_kyc_step_never_ran() -> None:
    world = World(SimulatedVendor())
    # as if the process died after storing the cardholder, before asking the provider
    world.tx.rows["ch_1"] = Cardholder(id="ch_1", name="Jane Doe", country="DE", email="jane@example.com",
                                       created_at=NOW)
    again = world.new()
    assert not again.created and again.cardholder.kyc_status == "verified"
    assert world.tx.rows["ch_1"].kyc_source == "simulated"


def test_an_ops_decision_made_while_the_provider_thinks_wins() -> None:
    world: World

    async def ops_decides_first() -> None:
        await DecideKyc(world.tx)("ch_1", "rejected", None, actor="ops-key", evidence="known fraud")

    world = World(Recording(KycOutcome(decision="verified", tier="premium"), before_answer=ops_decides_first))
    holder = world.new().cardholder
    assert (holder.kyc_status, holder.kyc_source, holder.kyc_reason) == ("rejected", "ops:ops-key", "known fraud")
    assert world.tx.rows["ch_1"] == holder


def test_an_ops_decision_replaces_a_providers() -> None:
    world = World(SimulatedVendor())
    assert world.new(name="Rejected Example").cardholder.kyc_status == "rejected"
    decided = asyncio.run(DecideKyc(world.tx)("ch_1", "verified", None))
    assert (decided.kyc_status, decided.kyc_tier, decided.kyc_source, decided.kyc_reason) == (
        "verified", "basic", "ops", None)
