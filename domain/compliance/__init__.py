"""Compliance: sanctions lists, name matching and screening (pure; no I/O)."""

from domain.compliance.name_matching import (
    NameKind,
    NameScore,
    NormalizedName,
    compare_names,
    normalize_name,
    score_names,
)
from domain.compliance.sanctions import Alias, EntityType, SanctionsEntry, SanctionsList
from domain.compliance.screening import (
    DEFAULT_THRESHOLD,
    Match,
    MatchFeatures,
    Modifier,
    Screener,
    ScreeningResult,
    ScreeningStatus,
)

__all__ = [
    "DEFAULT_THRESHOLD",
    "Alias",
    "EntityType",
    "Match",
    "MatchFeatures",
    "Modifier",
    "NameKind",
    "NameScore",
    "NormalizedName",
    "SanctionsEntry",
    "SanctionsList",
    "Screener",
    "ScreeningResult",
    "ScreeningStatus",
    "compare_names",
    "normalize_name",
    "score_names",
]
