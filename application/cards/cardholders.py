"""Create cardholders (screened against the sanctions list, then submitted to KYC) and record KYC decisions.

A new cardholder is screened first. Only one whose screening is ``clear`` goes to the configured
``KycProvider``; a ``review`` or ``blocked`` one is never sent to it (a vendor must not verify
someone who may be sanctioned): it stays ``pending`` with ``kyc_source="screening"`` until ops,
after the compliance case, decide through ``DecideKyc``. The provider is asked outside any
transaction; its outcome is applied in one, with the row locked, only if nobody decided meanwhile
(ops, or a concurrent replay of the same request). A replay of a creation whose KYC step never
completed submits it then; one whose KYC was already applied changes nothing.
"""

from __future__ import annotations

from datetime import date

import msgspec

from application.cards.common import require
from application.compliance.screen_subject import ScreenSubject
from application.ports.clock import Clock, IdGenerator
from application.ports.kyc import KycApplicant, KycOutcome, KycProvider
from application.ports.unit_of_work import Transactions, UnitOfWork
from domain.cards.model import Cardholder, KycStatus, decide_kyc, refer_kyc
from domain.compliance.screening import Match
from domain.compliance.subjects import Party
from domain.shared.errors import Conflict, DomainError


class NewCardholder(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    country: str
    birth_date: date | None = None
    email: str | None = None
    id: str | None = None


class Screening(msgspec.Struct, frozen=True, kw_only=True):
    status: str  # clear | review | blocked
    matches: tuple[Match, ...] = ()
    case_id: str | None = None
    error: str | None = None  # why it could not screen (the cardholder stays in review)


class CreatedCardholder(msgspec.Struct, frozen=True, kw_only=True):
    cardholder: Cardholder
    screening: Screening
    created: bool


class CreateCardholder:
    def __init__(self, transactions: Transactions, screen: ScreenSubject, clock: Clock, ids: IdGenerator,
                 kyc: KycProvider) -> None:
        self._transactions = transactions
        self._screen = screen
        self._clock = clock
        self._ids = ids
        self._kyc = kyc

    async def __call__(self, cmd: NewCardholder, actor: str) -> CreatedCardholder:
        now = self._clock.now()
        holder = Cardholder(id=cmd.id or f"ch_{self._ids.new_id()}", name=cmd.name.strip(), country=cmd.country,
                            birth_date=cmd.birth_date, email=cmd.email, created_at=now)

        async def work(uow: UnitOfWork) -> tuple[Cardholder, bool]:
            earlier = await uow.cards.get_cardholder(holder.id)
            if earlier is None:
                await uow.cards.add_cardholder(holder)
                return holder, True
            same = (earlier.name, earlier.country, earlier.birth_date, earlier.email) == (
                holder.name, holder.country, holder.birth_date, holder.email)
            if not same:
                raise Conflict(f"cardholder {holder.id} exists with different details", code="idempotency_conflict")
            return earlier, False

        stored, created = await self._transactions.run(work)
        screening = await self._screening(stored, actor)
        return CreatedCardholder(cardholder=await self._verify(stored, screening), screening=screening,
                                 created=created)

    async def _verify(self, holder: Cardholder, screening: Screening) -> Cardholder:
        if not _undecided(holder):
            return holder
        if screening.status == "clear":
            source = self._kyc.name
            outcome = await self._kyc.submit(KycApplicant(cardholder_id=holder.id, name=holder.name,
                                                          country=holder.country, birth_date=holder.birth_date,
                                                          email=holder.email))
        else:
            source = SCREENING_SOURCE
            outcome = KycOutcome(decision="review", reason=(
                f"sanctions screening {screening.status}"
                + (f" ({screening.error})" if screening.error else "")
                + ": not sent to the KYC provider; ops decide after the compliance review"))

        async def work(uow: UnitOfWork) -> Cardholder:
            current = require(await uow.cards.get_cardholder(holder.id, lock=True), "cardholder", holder.id,
                              "cardholder_not_found")
            if not _undecided(current):
                return current  # ops decided, or a concurrent replay applied its outcome, meanwhile
            applied = _apply(current, outcome, source)
            await uow.cards.update_cardholder(applied)
            return applied

        return await self._transactions.run(work)

    async def _screening(self, holder: Cardholder, actor: str) -> Screening:
        party = Party(subject_id=holder.id, name=holder.name, country=holder.country,
                      birth_date=holder.birth_date.isoformat() if holder.birth_date else None)
        try:
            screened = await self._screen(party, actor=actor)
        except DomainError as exc:  # no list yet, or a name the screener cannot use: not cleared
            return Screening(status="review", error=exc.code)
        return Screening(status=screened.subject.status, matches=screened.screening.matches,
                         case_id=screened.case.id if screened.case else None)


SCREENING_SOURCE = "screening"
"""``kyc_source`` of a cardholder held back from the KYC provider by its sanctions screening."""


def _undecided(holder: Cardholder) -> bool:
    """Pending, and no provider (nor the screening hold, nor ops) has set its KYC yet."""
    return holder.kyc_status == "pending" and holder.kyc_source is None


def _apply(holder: Cardholder, outcome: KycOutcome, source: str) -> Cardholder:
    if outcome.decision == "review":
        return refer_kyc(holder, source=source, reason=outcome.reason or "review")
    return decide_kyc(holder, outcome.decision, outcome.tier, source=source, reason=outcome.reason)


class DecideKyc:
    """Ops record a KYC decision (manual review, or overriding a provider): ``kyc_source`` becomes
    ``ops:<api key id>`` and ``kyc_reason`` the evidence they give."""

    def __init__(self, transactions: Transactions) -> None:
        self._transactions = transactions

    async def __call__(self, cardholder_id: str, decision: KycStatus, tier: str | None, *, actor: str | None = None,
                       evidence: str | None = None) -> Cardholder:
        async def work(uow: UnitOfWork) -> Cardholder:
            holder = require(await uow.cards.get_cardholder(cardholder_id, lock=True), "cardholder", cardholder_id,
                             "cardholder_not_found")
            decided = decide_kyc(holder, decision, tier, source=f"ops:{actor}" if actor else "ops", reason=evidence)
            await uow.cards.update_cardholder(decided)
            return decided

        return await self._transactions.run(work)


class ReadCardholders:
    def __init__(self, transactions: Transactions) -> None:
        self._transactions = transactions

    async def get(self, cardholder_id: str) -> Cardholder:
        async def read(uow: UnitOfWork) -> Cardholder | None:
            return await uow.cards.get_cardholder(cardholder_id)

        return require(await self._transactions.run(read), "cardholder", cardholder_id, "cardholder_not_found")
