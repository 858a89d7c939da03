"""OFAC's legacy CSV files (SDN list) into a ``SanctionsList``.

The directory holds ``sdn.csv`` (entries), ``alt.csv`` (aliases), ``add.csv`` (addresses) and,
optionally, ``sdn_comments.csv`` (the rest of remarks too long for ``sdn.csv``). The files have no
header, write ``-0-`` for an empty field, and come in UTF-8 or, in older releases, Windows-1252.
Quirks handled: a DOS end-of-file mark (``0x1a``), a last line without newline whose last field
is cut short (``-0``), and remarks split mid-word between ``sdn.csv`` and ``sdn_comments.csv``.

Birth dates and most countries are read from the remarks (see ``birth_dates`` and ``countries``).
Weak aliases, which OFAC writes only in the remarks (``a.k.a. 'PACHO'``), are not read as
aliases: OFAC flags them as low quality and does not require screening them, and a lone nickname
would match many customers. They stay in ``remarks``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from domain.compliance.countries import country_code, normalize_country
from domain.compliance.sanctions import Alias, AliasType, EntityType, SanctionsEntry, SanctionsList

SOURCE: Final = "OFAC-SDN"
FILES: Final = ("sdn.csv", "alt.csv", "add.csv")
OPTIONAL_FILES: Final = ("sdn_comments.csv",)
MAX_RANGE_YEARS: Final = 20
"""A birth-year range longer than this is kept as its two ends only."""

_EMPTY: Final = frozenset({"-0-", "-0"})
_ENTITY_TYPES: Final[dict[str, EntityType]] = {"individual": "individual", "vessel": "vessel", "aircraft": "aircraft"}
_ALIAS_TYPES: Final[dict[str, AliasType]] = {"aka": "aka", "fka": "fka", "nka": "nka"}
_MONTHS: Final = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)}
_DOB: Final = re.compile(r"\bDOB\s+([^;]+)")
_DATE: Final = re.compile(r"^(?:(\d{1,2})\s+)?(?:([A-Za-z]{3})[a-z]*\.?\s+)?(\d{4})$")
_RANGE: Final = re.compile(r"\s+to\s+|(?<=\d{4})\s*-\s*(?=\d{4})")
_COUNTRY_REMARK: Final = re.compile(r"\b(?:nationality|citizen)\s+([^;.]+)")
_POB: Final = re.compile(r"\bPOB\s+([^;]+)")
_NOT_A_COUNTRY: Final = frozenset({"", "undetermined", "none identified", "unknown"})


class OfacFormatError(ValueError):
    """The directory does not hold a readable OFAC legacy CSV list."""


def load_ofac_list(directory: Path, *, version: str | None = None, source: str = SOURCE) -> SanctionsList:
    """Read the list in ``directory``; ``version`` defaults to a digest of the files' contents."""
    files = _read_files(directory)
    texts = {name: _decode(data) for name, data in files.items()}
    comments: dict[str, str] = defaultdict(str)
    for ent_num, continued in _rows(texts.get("sdn_comments.csv", ""), 2):
        comments[ent_num] += continued
    aliases: dict[str, list[Alias]] = defaultdict(list)
    for ent_num, _alt_num, alt_type, alt_name, _remarks in _rows(texts["alt.csv"], 5):
        if alt_name:
            aliases[ent_num].append(Alias(name=alt_name, type=_ALIAS_TYPES.get(alt_type.casefold(), "aka")))
    address_countries: dict[str, list[str]] = defaultdict(list)
    for ent_num, _add_num, _address, _city, country, _remarks in _rows(texts["add.csv"], 6):
        if code := _country(country):
            address_countries[ent_num].append(code)
    entries = tuple(
        _entry(row, comments.get(row[0], ""), aliases.get(row[0], []), address_countries.get(row[0], []))
        for row in _rows(texts["sdn.csv"], 12)
    )
    return SanctionsList(source=source, version=version or content_version(files), entries=entries)


def content_version(files: dict[str, bytes]) -> str:
    """``sha256:`` and the first 16 hex digits of a SHA-256 over the files' names and bytes."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + files[name] + b"\0")
    return "sha256:" + digest.hexdigest()[:16]


def _read_files(directory: Path) -> dict[str, bytes]:
    missing = [name for name in FILES if not (directory / name).is_file()]
    if missing:
        raise OfacFormatError(f"{directory} lacks {', '.join(missing)}: not an OFAC legacy CSV directory")
    names = FILES + tuple(n for n in OPTIONAL_FILES if (directory / n).is_file())
    return {name: (directory / name).read_bytes() for name in names}


def _decode(data: bytes) -> str:
    """UTF-8 if it decodes as such, else Windows-1252 (older OFAC files); without a DOS EOF mark."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    return text.rstrip("\x1a\r\n")


def _rows(text: str, width: int) -> Iterator[list[str]]:
    """Rows of ``width`` cleaned fields (empty for ``-0-``) whose first field is an entry number."""
    for row in csv.reader(io.StringIO(text, newline="")):
        fields = [_clean(f) for f in row[:width]]
        if fields and fields[0].isdigit():
            yield fields + [""] * (width - len(fields))


def _clean(field: str) -> str:
    value = field.strip()
    return "" if value in _EMPTY else value


def _entry(row: list[str], continued: str, aliases: list[Alias], address_countries: list[str]) -> SanctionsEntry:
    ent_num, name, sdn_type, program, *_middle, vess_flag, _vess_owner, remarks = row
    remarks += continued
    flag = [code] if (code := _country(vess_flag)) else []
    return SanctionsEntry(
        uid=ent_num,
        name=name,
        entity_type=_ENTITY_TYPES.get(sdn_type.casefold(), "entity"),
        programs=tuple(p.strip("[] ") for p in program.split("] [") if p.strip("[] ")),
        aliases=tuple(aliases),
        birth_dates=birth_dates(remarks),
        countries=tuple(dict.fromkeys([*address_countries, *flag, *countries(remarks)])),
        remarks=remarks,
    )


def birth_dates(remarks: str) -> tuple[str, ...]:
    """Partial dates from every ``DOB`` (and ``alt. DOB``) of OFAC remarks.

    ``DOB 28 Jul 1963`` -> ``1963-07-28``; ``DOB Jul 1963`` -> ``1963-07``; ``DOB 1963`` and
    ``DOB circa 1963`` -> ``1963``; ``DOB 1955 to 1958`` -> each year; ``DOB 01 Jan 1960 to
    31 Dec 1960`` -> ``1960``. Text that is none of these is skipped.
    """
    found: list[str] = []
    for match in _DOB.finditer(remarks):
        text = match.group(1).strip().rstrip(".").removeprefix("circa").strip()
        bounds = [_partial_date(part) for part in _RANGE.split(text)]
        if len(bounds) == 1 and bounds[0]:
            found.append(bounds[0])
        elif len(bounds) == 2 and bounds[0] and bounds[1]:
            found.extend(_years_between(bounds[0], bounds[1]))
    return tuple(dict.fromkeys(found))


def _partial_date(text: str) -> str | None:
    match = _DATE.match(text.strip())
    if match is None:
        return None
    day, month_name, year = match.groups()
    month = _MONTHS.get(month_name.casefold()) if month_name else None
    if month_name and month is None:
        return None
    if month is None:
        return year
    return f"{year}-{month:02d}" + (f"-{int(day):02d}" if day else "")


def _years_between(start: str, end: str) -> list[str]:
    if start == end:
        return [start]
    first, last = int(start[:4]), int(end[:4])
    if first == last:
        return [start[:4]]
    if not 0 < last - first <= MAX_RANGE_YEARS:
        return [start[:4], end[:4]]
    return [str(year) for year in range(first, last + 1)]


def countries(remarks: str) -> list[str]:
    """Countries of nationality and citizenship and, when it names a known country, the last
    part of the place of birth (``POB Toledo District, Belize`` -> ``BZ``)."""
    found = [code for m in _COUNTRY_REMARK.finditer(remarks) if (code := _country(m.group(1)))]
    for match in _POB.finditer(remarks):
        code = country_code(match.group(1).rsplit(",", 1)[-1])
        if code:
            found.append(code)
    return found


def _country(name: str) -> str | None:
    """A country field as ``normalize_country`` gives it; ``None`` for placeholders (``undetermined``)."""
    name = name.strip().removeprefix("possibly ")
    return None if name.casefold() in _NOT_A_COUNTRY else normalize_country(name)
