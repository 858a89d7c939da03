"""A sanctions list as screening sees it: entries with names, aliases, birth dates and countries.

The model is list-neutral; an adapter (``adapters/sanctions_ofac``) fills it from one list's files.

* **Birth dates** are partial dates as strings: ``"1963"``, ``"1963-07"`` or ``"1963-07-28"``.
  An entry's ``birth_dates`` are the dates it *may* have been born on: a list's ``circa 1960``
  or ``1955 to 1958`` becomes every year of the span.
* Entries and aliases hold only strings, so they opt out of the cyclic garbage collector
  (``gc=False``): a list has tens of thousands of them.
* **Countries** are ISO 3166-1 alpha-2 codes (``"IR"``) where the list's country name is known
  to ``domain.compliance.countries``, otherwise the name itself, normalised by ``country_key``
  (``"region crimea"``). They gather every country the list ties to the entry: addresses,
  nationality, citizenship, place of birth, a vessel's flag.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Final, Literal

import msgspec

from domain.shared.errors import InvalidInput

EntityType = Literal["individual", "entity", "vessel", "aircraft"]
"""What an entry is; ``entity`` covers companies, organisations and groups."""
AliasType = Literal["aka", "fka", "nka"]
"""Also known as, formerly known as, now known as."""

PARTIAL_DATE_PATTERN: Final = r"^\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?$"
PartialDate = Annotated[str, msgspec.Meta(pattern=PARTIAL_DATE_PATTERN)]
"""A year, year-month or full date: ``"1963"``, ``"1963-07"``, ``"1963-07-28"``."""

_PARTIAL_DATE: Final = re.compile(PARTIAL_DATE_PATTERN)


class Alias(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Another name of an entry."""

    name: str
    type: AliasType = "aka"


class SanctionsEntry(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One sanctioned individual, entity, vessel or aircraft."""

    uid: str
    """The list's own identifier, e.g. OFAC's ``ent_num``."""
    name: str
    """The primary name as the list writes it (OFAC: ``LAST, First`` for individuals)."""
    entity_type: EntityType
    programs: tuple[str, ...] = ()
    """Sanctions programmes the entry is listed under (OFAC: ``SDGT``, ``IRAN``...)."""
    aliases: tuple[Alias, ...] = ()
    birth_dates: tuple[PartialDate, ...] = ()
    countries: tuple[str, ...] = ()
    remarks: str = ""

    def names(self) -> tuple[tuple[str, Literal["primary"] | AliasType], ...]:
        """Every name of the entry with its type: the primary name first, then the aliases."""
        return ((self.name, "primary"), *((a.name, a.type) for a in self.aliases))


class SanctionsList(msgspec.Struct, frozen=True, kw_only=True):
    """One published version of a sanctions list."""

    source: str
    """Which list, e.g. ``"OFAC-SDN"``."""
    version: str
    """Identifies the published content, e.g. a digest of the files it was read from."""
    entries: tuple[SanctionsEntry, ...]


def partial_date(value: str | date) -> str:
    """``value`` as a partial date string; raises ``InvalidInput`` if it is not one."""
    if isinstance(value, date):
        return f"{value.year:04d}-{value.month:02d}-{value.day:02d}"
    text = value.strip()
    if not _PARTIAL_DATE.match(text) or (len(text) == 10 and not _is_calendar_date(text)):
        raise InvalidInput(f"not a date, year-month or year: {value!r} (expected YYYY, YYYY-MM or YYYY-MM-DD)",
                           code="invalid_birth_date")
    return text


def _is_calendar_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def dates_agree(a: str, b: str) -> bool:
    """Whether two partial dates can denote the same day: equal on every part both of them have."""
    return a.startswith(b) or b.startswith(a)
