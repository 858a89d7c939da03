"""Screen a name against the newest sanctions list, without a subject: nothing is stored."""

from __future__ import annotations

import msgspec

from application.compliance.current_screener import CurrentScreener
from application.ports.compliance import ListVersion
from domain.compliance.screening import ScreeningResult
from domain.compliance.subjects import screening_query


class NameScreening(msgspec.Struct, frozen=True, kw_only=True):
    version: ListVersion
    result: ScreeningResult


class ScreenName:
    def __init__(self, screener: CurrentScreener) -> None:
        self._screener = screener

    async def __call__(self, name: str, *, birth_date: str | None = None, country: str | None = None) -> NameScreening:
        name, birth_date, country = screening_query(name, birth_date, country)
        loaded = await self._screener.get()
        result = loaded.screener.screen(name, birth_date=birth_date, country=country)
        return NameScreening(version=loaded.version, result=result)
