"""Screened subjects: the parties Bursar screens (cardholders), their compliance status and history.

A subject's **status** is what the rest of Bursar acts on:

* ``clear``: no match, or only matches a person dismissed as false positives for this subject;
* ``review``: a possible match; a screening case is open, the subject may not be trusted yet;
* ``blocked``: a strong match (blocked pending review), or a match a person confirmed.

Screening sets the status from its result (``possible_match`` -> ``review``, ``strong_match`` ->
``blocked``), except that a **confirmed** match keeps the subject blocked whatever later
screenings find: only a person lifts it (a ``false_positive`` decision). Matches a person dismissed
(``ClearedMatch``: this subject, screened under this name, against this list entry and list
name) are shown but no longer count.

Error codes: ``invalid_subject``, ``invalid_birth_date``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Final, Literal

import msgspec

from domain.compliance.sanctions import partial_date
from domain.compliance.screening import Match, ScreeningResult, ScreeningStatus, status_of
from domain.shared.errors import InvalidInput

SubjectStatus = Literal["clear", "review", "blocked"]
ScreeningTrigger = Literal["screen", "rescreen"]

STATUS_OF_RESULT: Final[dict[str, SubjectStatus]] = {
    "clear": "clear", "possible_match": "review", "strong_match": "blocked",
}
MAX_NAME: Final = 300


class Party(msgspec.Struct, frozen=True, kw_only=True):
    """Who to screen: a subject id of the caller's choosing (a cardholder id) and what is known."""

    subject_id: str
    name: str
    birth_date: str | None = None
    """``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``."""
    country: str | None = None
    """ISO 3166-1 alpha-2 code or a country name."""


def validate_party(party: Party) -> Party:
    """``party`` with its fields stripped; ``InvalidInput`` when one is unusable."""
    subject_id = party.subject_id.strip()
    if not 1 <= len(subject_id) <= 128:
        raise InvalidInput("subject_id must be 1 to 128 characters", code="invalid_subject")
    name, birth_date, country = screening_query(party.name, party.birth_date, party.country)
    return Party(subject_id=subject_id, name=name, birth_date=birth_date, country=country)


def screening_query(name: str, birth_date: str | None, country: str | None) -> tuple[str, str | None, str | None]:
    """A name (whitespace collapsed), birth date (a partial date) and country fit to screen."""
    name = " ".join(name.split())
    if not 1 <= len(name) <= MAX_NAME:
        raise InvalidInput(f"name must be 1 to {MAX_NAME} characters", code="invalid_subject")
    dob = partial_date(birth_date) if birth_date and birth_date.strip() else None
    place = country.strip() if country and country.strip() else None
    if place is not None and len(place) > 100:
        raise InvalidInput("country must be at most 100 characters", code="invalid_subject")
    return name, dob, place


class Subject(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    birth_date: str | None
    country: str | None
    status: SubjectStatus
    confirmed_match: bool
    """A person confirmed a match: the subject stays blocked until a person decides otherwise."""
    screening_id: str
    """The latest screening."""
    list_version_id: int
    """The sanctions list version of the latest screening."""
    created_at: datetime
    updated_at: datetime


class SubjectScreening(msgspec.Struct, frozen=True, kw_only=True):
    """One screening of a subject, kept with its explained matches."""

    id: str
    subject_id: str
    name: str
    birth_date: str | None
    country: str | None
    list_version_id: int
    list_source: str
    list_version: str
    result: ScreeningStatus
    """What the screener found, every match counted."""
    status: SubjectStatus
    """The status the screening led to (dismissed matches set aside; a confirmed match kept)."""
    matches: tuple[Match, ...]
    suppressed: tuple[str, ...]
    """Entry ids among ``matches`` a person had already dismissed for this subject and name."""
    trigger: ScreeningTrigger
    screened_at: datetime


class StatusChange(msgspec.Struct, frozen=True, kw_only=True):
    """A subject's status changed (or was first set): when, by whom and why."""

    id: str
    subject_id: str
    from_status: SubjectStatus | None
    to_status: SubjectStatus
    at: datetime
    actor: str
    reason: str
    screening_id: str | None = None
    case_id: str | None = None


class ClearedMatch(msgspec.Struct, frozen=True, kw_only=True):
    """A match a person dismissed as a false positive for a subject screened under a name."""

    subject_id: str
    entry_id: str
    matched_name: str
    screened_name: str
    case_id: str
    cleared_at: datetime

    @property
    def key(self) -> tuple[str, str, str]:
        return self.entry_id, self.matched_name, self.screened_name


def match_key(match: Match, screened_name: str) -> tuple[str, str, str]:
    return match.uid, match.matched_name, screened_name


def assess(result: ScreeningResult, cleared: Iterable[ClearedMatch], *, confirmed_match: bool = False
           ) -> tuple[SubjectStatus, tuple[str, ...]]:
    """The status a screening result gives a subject, and the dismissed entry ids it set aside."""
    keys = {c.key for c in cleared}
    kept = [m for m in result.matches if match_key(m, result.name) not in keys]
    suppressed = tuple(m.uid for m in result.matches if match_key(m, result.name) in keys)
    status = STATUS_OF_RESULT[status_of(kept)]
    return ("blocked" if confirmed_match else status), suppressed


def explain(match: Match) -> str:
    """One sentence on why ``match`` is a match: which name, how alike, what moved the score."""
    f = match.features
    which = "primary name" if match.matched_name_type == "primary" else f"alias ({match.matched_name_type})"
    programs = f" [{', '.join(match.programs)}]" if match.programs else ""
    parts = [
        f"{which} {match.matched_name!r} of {match.entity_type} {match.primary_name!r}{programs}",
        f"name score {f.name_score:.2f}: {f.matched_tokens} token(s) alike, {f.substituted_tokens} different, "
        f"{f.added_tokens} extra, {round(f.token_overlap * 100)}% of tokens shared"
        + ("; legal forms conflict" if f.legal_form_conflict else ""),
    ]
    parts.extend(f"{m.reason} ({m.delta:+.2f})" for m in match.modifiers)
    return "; ".join(parts)
