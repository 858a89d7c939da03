"""Quality of the name scorer on labelled name pairs (OpenSanctions' name_bench cases.csv).

Used by ``bench.screening`` and by the quality test; reads the shared data set, so it lives
outside the domain.
"""

from __future__ import annotations

import csv
from pathlib import Path

import msgspec

from domain.compliance.name_matching import NameKind, compare_names
from domain.compliance.screening import DEFAULT_THRESHOLD

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT.parent / "shared" / "data" / "name-matching" / "cases.csv"
THRESHOLD = DEFAULT_THRESHOLD
"""Quality is reported at the screener's default threshold, from which a name is a possible match."""

_SCHEMA_KIND: dict[str, NameKind] = {"Person": "person", "Company": "organization", "Organization": "organization"}
"""Schemas of the cases as name kinds; LegalEntity and Vessel may name anything."""


class Case(msgspec.Struct, frozen=True, kw_only=True):
    """One labelled pair of names."""

    name1: str
    name2: str
    schema: str
    is_match: bool


class Quality(msgspec.Struct, frozen=True, kw_only=True):
    """Confusion counts and the derived rates at one threshold."""

    threshold: float
    tp: int
    fp: int
    tn: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def load_cases(path: Path = CASES) -> list[Case]:
    """The labelled pairs; raises ``FileNotFoundError`` with a hint if the data set is missing."""
    if not path.is_file():
        raise FileNotFoundError(f"name-matching cases not found at {path}: the shared data folder "
                                "(../shared/data relative to the project root) must be present")
    with path.open(encoding="utf-8", newline="") as f:
        return [Case(name1=r["name1"], name2=r["name2"], schema=r["schema"], is_match=r["is_match"] == "true")
                for r in csv.DictReader(f)]


def kind_of(schema: str) -> NameKind:
    """The name kind a screening caller would pass for a case's schema."""
    return _SCHEMA_KIND.get(schema, "other")


def score_cases(cases: list[Case]) -> list[tuple[Case, float]]:
    """Each case with the scorer's similarity of its two names."""
    return [(c, compare_names(c.name1, c.name2, kind_of(c.schema))) for c in cases]


def quality(scored: list[tuple[Case, float]], threshold: float = THRESHOLD) -> Quality:
    """Confusion counts when a pair scoring at least ``threshold`` is predicted a match."""
    tp = sum(1 for c, s in scored if s >= threshold and c.is_match)
    fp = sum(1 for c, s in scored if s >= threshold and not c.is_match)
    fn = sum(1 for c, s in scored if s < threshold and c.is_match)
    return Quality(threshold=threshold, tp=tp, fp=fp, tn=len(scored) - tp - fp - fn, fn=fn)
