"""Create cardholders (screened against the sanctions list at once) and record KYC decisions."""

from __future__ import annotations

from datetime import date

import msgspec

from application.cards.common import require
from application.compliance.screen_subject import ScreenSubject
from application.ports.clock import Clock, IdGenerator
from application.ports.unit_of_work import Transactions, UnitOfWork
from domain.cards.model import Cardholder, KycStatus, decide_kyc
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
    def __init__(self, transactions: Transactions, screen: ScreenSubject, clock: Clock, ids: IdGenerator) -> None:
        self._transactions = transactions
        self._screen = screen
        self._clock = clock
        self._ids = ids

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
        return CreatedCardholder(cardholder=stored, screening=await self._screening(stored, actor), created=created)

    async def _screening(self, holder: Cardholder, actor: str) -> Screening:
        party = Party(subject_id=holder.id, name=holder.name, country=holder.country,
                      birth_date=holder.birth_date.isoformat() if holder.birth_date else None)
        try:
            screened = await self._screen(party, actor=actor)
        except DomainError as exc:  # no list yet, or a name the screener cannot use: not cleared
            return Screening(status="review", error=exc.code)
        return Screening(status=screened.subject.status, matches=screened.screening.matches,
                         case_id=screened.case.id if screened.case else None)


class DecideKyc:
    def __init__(self, transactions: Transactions) -> None:
        self._transactions = transactions

    async def __call__(self, cardholder_id: str, decision: KycStatus, tier: str | None) -> Cardholder:
        async def work(uow: UnitOfWork) -> Cardholder:
            holder = require(await uow.cards.get_cardholder(cardholder_id, lock=True), "cardholder", cardholder_id,
                             "cardholder_not_found")
            decided = decide_kyc(holder, decision, tier)
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
