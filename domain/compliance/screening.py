"""Screening a name against a sanctions list.

``Screener(sanctions_list)`` indexes every primary name and alias once; ``screen(name, ...)``
then answers in a few milliseconds:

1. **Normalise** the query once per name kind (person, organisation, other): each list name is
   compared as the kind of its entry (individual -> person, entity -> organisation, vessel and
   aircraft -> other).
2. **Block**: look up the query's full tokens (not particles, initials or numbers) in an index of
   the list names' tokens (``_TokenIndex``): the same token, look-alikes (the tokens or their
   phonetic keys one edit apart, then ``token_similarity`` at least ``BLOCKING_SIMILARITY``) and
   glued spellings (``vladimirputin``, ``siemensag``). A list name holding a look-alike of a
   query token is a candidate. Candidates are ranked by an *estimate*: the score the name would
   get if the look-alikes it holds matched and its other tokens were additions.
3. **Score** in full, with ``name_matching.score_names``, the best ``CANDIDATES`` candidates
   estimated at no less than the threshold minus the possible bonus minus ``ESTIMATE_SLACK``.
   An entry's name score is that of its best-scoring name (primary or alias).
4. **Modify** the name score by birth date and country when both the query and the entry have
   them: a birth date that agrees adds ``DOB_MATCH``, one that contradicts every date of the
   entry adds ``DOB_MISMATCH`` (negative); likewise ``COUNTRY_MATCH`` and ``COUNTRY_MISMATCH``.
   The result, clamped to ``[0, 1]``, is the match's score.
5. **Decide**: an entry whose score is at least ``threshold`` is a match. The result is
   ``strong_match`` if a match scores at least ``STRONG_SCORE`` and its birth date or country
   agrees while neither contradicts; ``possible_match`` if there is any other match; ``clear``
   if there is none. Screening never confirms a match: a person reviews both kinds.

Blind spots of the blocking step, measured in ``bench/screening.py`` (about 99% of an exhaustive
scan's matches are found): a name that resembles a list name only through initials, or whose
every token is two or more edits away from the list's spelling, is not a candidate.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from datetime import date
from typing import Final, Literal

import msgspec

from domain.compliance.countries import normalize_country
from domain.compliance.name_matching import (
    NameKind,
    NameScore,
    NormalizedName,
    coverage_score,
    normalize_name,
    phonetic_key,
    score_names,
    token_quality,
    token_similarity,
)
from domain.compliance.sanctions import AliasType, EntityType, SanctionsEntry, SanctionsList, dates_agree, partial_date
from domain.shared.errors import InvalidInput

DEFAULT_THRESHOLD: Final = 0.70
"""The score from which a name is a possible match (F1 0.87 on the labelled name pairs, ``bench/screening.py``)."""
STRONG_SCORE: Final = 0.90
"""The score from which a match corroborated by birth date or country is a strong match."""
DOB_MATCH: Final = 0.05
"""Added when the query's birth date agrees with one of the entry's (``dates_agree``)."""
DOB_MISMATCH: Final = -0.15
"""Added when it agrees with none: a birth date is strong evidence against a namesake."""
COUNTRY_MATCH: Final = 0.03
"""Added when the query's country is among the entry's countries."""
COUNTRY_MISMATCH: Final = -0.05
"""Added when it is not: weak evidence, since people move and lists are incomplete."""
CANDIDATES: Final = 40
"""At most this many list names are scored in full per query, best estimates first."""
BLOCKING_SIMILARITY: Final = 0.7
"""Tokens less similar than this do not make a list name a candidate (``token_similarity``)."""
GRADES: Final = 2
"""Blocking grades a pair of look-alike tokens 1 (weak) or 2 (strong) (see ``_TokenIndex.look_alikes``)."""
LOOK_ALIKE_CACHE_SIZE: Final = 20_000
"""Query tokens whose look-alikes the index remembers; the cache starts over when full."""
ESTIMATE_SLACK: Final = 0.1
"""Candidates estimated this far below the threshold (less any bonus) are still scored in full."""
MAX_BONUS: Final = DOB_MATCH + COUNTRY_MATCH
"""The most the modifiers can add to a name score."""

ScreeningStatus = Literal["clear", "possible_match", "strong_match"]
Agreement = Literal["match", "mismatch", "unknown"]
NameType = Literal["primary"] | AliasType

ENTITY_KINDS: Final[dict[EntityType, NameKind]] = {
    "individual": "person", "entity": "organization", "vessel": "other", "aircraft": "other",
}
"""The kind of name each type of entry has: list names are normalised and compared as such."""


class MatchFeatures(msgspec.Struct, frozen=True, kw_only=True):
    """The evidence for one match."""

    name_score: float
    """The similarity of the query and the matched name, before modifiers."""
    matched_tokens: int
    substituted_tokens: int
    added_tokens: int
    token_overlap: float
    """Share of distinct normalised tokens the two names have in common (Jaccard), in ``[0, 1]``."""
    legal_form_conflict: bool
    dob: Agreement
    country: Agreement


class Modifier(msgspec.Struct, frozen=True, kw_only=True):
    """A change applied to a match's name score, and why."""

    feature: Literal["dob", "country"]
    delta: float
    reason: str


class Match(msgspec.Struct, frozen=True, kw_only=True):
    """One list entry that resembles the screened name, explaining itself."""

    uid: str
    primary_name: str
    entity_type: EntityType
    programs: tuple[str, ...]
    matched_name: str
    """The entry's name that resembles the query most: the primary name or an alias."""
    matched_name_type: NameType
    score: float
    """The name score with the modifiers applied, clamped to ``[0, 1]``."""
    features: MatchFeatures
    modifiers: tuple[Modifier, ...] = ()


class ScreeningResult(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of screening one name; ``matches`` are sorted best first."""

    name: str
    status: ScreeningStatus
    threshold: float
    list_source: str
    list_version: str
    matches: tuple[Match, ...] = ()
    candidates: int = 0
    """List names scored in full to reach this result."""


class _IndexedName(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A list name as the index holds it."""

    entry: int
    """Position of the entry in the list."""
    kind: NameKind
    """The kind of the entry, as which the name was normalised."""
    name: NormalizedName
    type: NameType


class _TokenIndex:
    """Full tokens of the list names: which names hold a token, and which tokens look alike.

    Look-alikes are found through spelling and sound: every token and its phonetic key are filed
    under themselves and each of their one-deletion variants, so two tokens meet if they, or
    their keys, differ by one edit (or one deletion on each side, e.g. a swap of two letters).
    Candidates are then checked with ``token_similarity``.
    """

    def __init__(self, names: Iterable[NormalizedName]) -> None:
        self.ids: dict[str, int] = {}
        self._tokens: list[str] = []
        self._keys: list[str] = []
        postings: list[list[int]] = []
        by_variant: dict[str, list[int]] = defaultdict(list)
        for name_id, name in enumerate(names):
            for token in _full_tokens(name):
                if token not in self.ids:
                    self._add(token, postings, by_variant)
                postings[self.ids[token]].append(name_id)
        # tuples of ints: the garbage collector stops tracking them, which keeps its passes short
        self.postings: list[tuple[int, ...]] = [tuple(p) for p in postings]
        self._by_variant: dict[str, tuple[int, ...]] = {k: tuple(v) for k, v in by_variant.items()}
        self._look_alikes: dict[str, tuple[tuple[int, int], ...]] = {}

    def _add(self, token: str, postings: list[list[int]], by_variant: dict[str, list[int]]) -> None:
        token_id = self.ids[token] = len(self._tokens)
        key = phonetic_key(token)
        for variant in _variants(token) | _variants(key):
            by_variant[variant].append(token_id)
        self._tokens.append(token)
        self._keys.append(key)
        postings.append([])

    def look_alikes(self, token: str) -> tuple[tuple[int, int], ...]:
        """The indexed tokens that look like ``token`` (itself included), as (token id, grade).

        A grade is how much a pair of tokens supports a match (``token_quality``) in steps of
        ``1 / GRADES``, at least 1 for any pair at ``BLOCKING_SIMILARITY`` or more. Answers are
        cached per token.
        """
        cached = self._look_alikes.get(token)
        if cached is None:
            if len(self._look_alikes) >= LOOK_ALIKE_CACHE_SIZE:
                self._look_alikes.clear()
            cached = self._look_alikes[token] = self._graded(token)
        return cached

    def _graded(self, token: str) -> tuple[tuple[int, int], ...]:
        key = phonetic_key(token)
        near = set().union(*(self._by_variant.get(variant, ()) for variant in _variants(token) | _variants(key)))
        graded = []
        for i in near:
            similarity = token_similarity(token, self._tokens[i], key, self._keys[i])
            if similarity >= BLOCKING_SIMILARITY:
                graded.append((i, max(1, round(GRADES * token_quality(similarity)))))
        return tuple(graded)


class Screener:
    """Screens names against one sanctions list; build one per list version.

    Screening changes nothing but a bounded cache of token look-alikes, so one screener can serve
    many threads."""

    def __init__(self, sanctions_list: SanctionsList) -> None:
        self.source = sanctions_list.source
        self.version = sanctions_list.version
        self._entries = sanctions_list.entries
        self._names = [
            _IndexedName(entry=i, kind=kind, name=normalized, type=name_type)
            for i, entry in enumerate(self._entries)
            for kind in (ENTITY_KINDS[entry.entity_type],)
            for name, name_type in entry.names()
            if (normalized := normalize_name(name, kind)).tokens
        ]
        self._full_token_counts = [len(_full_tokens(n.name)) for n in self._names]
        self._kinds = [n.kind for n in self._names]
        self._single_token_names = frozenset(i for i, count in enumerate(self._full_token_counts) if count == 1)
        self._index = _TokenIndex(n.name for n in self._names)

    @property
    def name_count(self) -> int:
        """How many names (primary names and aliases) the index holds."""
        return len(self._names)

    def screen(self, name: str, *, birth_date: str | date | None = None, country: str | None = None,
               kind: NameKind | None = None, threshold: float = DEFAULT_THRESHOLD, limit: int = 10) -> ScreeningResult:
        """Screen ``name`` (optionally with a birth date and a country) against the list.

        ``kind`` restricts screening to entries of that kind (``person``: individuals,
        ``organization``: entities, ``other``: vessels and aircraft); by default all are screened.
        ``birth_date`` is a date or a partial date string (``1963``, ``1963-07``, ``1963-07-28``);
        ``country`` an ISO alpha-2 code or a country name. At most ``limit`` matches are returned.
        """
        if not 0.0 < threshold <= 1.0:
            raise InvalidInput(f"threshold must be in (0, 1], got {threshold}", code="invalid_threshold")
        if limit < 1:
            raise InvalidInput(f"limit must be at least 1, got {limit}", code="invalid_limit")
        dob = partial_date(birth_date) if birth_date is not None else None
        country_code = normalize_country(country) if country else None
        kinds: tuple[NameKind, ...] = (kind,) if kind else ("person", "organization", "other")
        queries = {k: normalize_name(name, k) for k in kinds}
        candidates = self._candidates(queries, threshold - MAX_BONUS - ESTIMATE_SLACK)
        matches = self._matches(candidates, queries, dob, country_code, threshold)[:limit]
        return ScreeningResult(name=name, status=_status(matches), threshold=threshold, list_source=self.source,
                               list_version=self.version, matches=matches, candidates=len(candidates))

    def _matches(self, candidates: list[int], queries: dict[NameKind, NormalizedName], dob: str | None,
                 country: str | None, threshold: float) -> tuple[Match, ...]:
        """Score the candidates in full: each entry's best match at ``threshold`` or above, best first."""
        best: dict[int, Match] = {}
        for name_id in candidates:
            indexed = self._names[name_id]
            name_score = score_names(queries[indexed.kind], indexed.name)
            if name_score.score + MAX_BONUS < threshold:
                continue
            match = self._match(indexed, queries[indexed.kind], name_score, dob, country)
            if match.score >= threshold and (indexed.entry not in best or match.score > best[indexed.entry].score):
                best[indexed.entry] = match
        return tuple(sorted(best.values(), key=lambda m: (-m.score, m.uid)))

    def _candidates(self, queries: dict[NameKind, NormalizedName], lowest: float) -> list[int]:
        """The names worth scoring in full: estimated at ``lowest`` or more, best first, at most ``CANDIDATES``.

        A name's estimate is the score it would get if the query tokens it holds a look-alike of
        matched exactly and the rest were additions (``_estimate``). Most queries normalise alike
        for every kind; a query that does not (a title, a legal form) is looked up once per form.
        """
        ranked: list[tuple[float, int]] = []
        for tokens, kinds in _by_tokens(queries).items():
            found = self._found(tokens)
            fewest = _fewest_points(len(tokens), lowest)
            names = [n for n, points in found.items() if points >= fewest or n in self._single_token_names]
            shapes = list(zip(map(found.__getitem__, names), map(self._full_token_counts.__getitem__, names),
                              map(self._kinds.__getitem__, names), strict=True))
            estimates = {shape: _estimate(shape[0] / GRADES, len(tokens), shape[1], shape[2])
                         for shape in set(shapes) if shape[2] in kinds}
            floor = max(lowest, _floor(estimates, Counter(shapes)))
            ranked.extend((estimates[shape], name_id) for name_id, shape in zip(names, shapes, strict=True)
                          if estimates.get(shape, -1.0) >= floor)
        ranked.sort(key=lambda r: (-r[0], r[1]))
        return list(dict.fromkeys(name_id for _, name_id in ranked))[:CANDIDATES]

    def _found(self, tokens: tuple[str, ...]) -> Counter[int]:
        """For each name, how well it holds the query's tokens: per query token, the grade of the
        name's best look-alike of it (see ``_TokenIndex.look_alikes``), summed.

        A list token that is itself a query token counts for that query token only (``shipping``
        looks like ``spring``, but not in ``spring shipping``). Glued spellings count as the same
        name: a token the list writes as two (``aerocaribbean`` / ``aero caribbean``), two tokens
        it writes as one (``siemens ag`` / ``siemensag``).
        """
        index = self._index
        exact = {index.ids[t]: t for t in tokens if t in index.ids}
        found: Counter[int] = Counter()
        for i, token in enumerate(tokens):
            by_grade: list[list[tuple[int, ...]]] = [[] for _ in range(GRADES)]
            for token_id, grade in index.look_alikes(token):
                if exact.get(token_id, token) == token:
                    by_grade[GRADES - grade].append(index.postings[token_id])
            holders = self._glued_holders(tokens, i)
            for postings in by_grade:  # a name whose best look-alike has grade g is counted g times
                holders.update(*postings)
                found.update(holders)
        return found

    def _glued_holders(self, tokens: tuple[str, ...], i: int) -> set[int]:
        """Names that hold ``tokens[i]`` split in two, or glued to a neighbour."""
        index, token, names = self._index, tokens[i], set()
        for cut in range(2, len(token) - 1):
            head, tail = index.ids.get(token[:cut]), index.ids.get(token[cut:])
            if head is not None and tail is not None:
                names.update(set(index.postings[head]).intersection(index.postings[tail]))
        for glued in (tokens[i - 1] + token if i > 0 else "", token + tokens[i + 1] if i + 1 < len(tokens) else ""):
            if glued in index.ids:
                names.update(index.postings[index.ids[glued]])
        return names

    def _match(self, indexed: _IndexedName, query: NormalizedName, name_score: NameScore, dob: str | None,
               country: str | None) -> Match:
        """The match of the query with one list name: its features and the modifiers applied."""
        entry = self._entries[indexed.entry]
        dob_agreement, country_agreement = _dob_agreement(entry, dob), _country_agreement(entry, country)
        modifiers = tuple(_modifiers(dob_agreement, country_agreement, dob, country))
        score = min(1.0, max(0.0, name_score.score + sum(m.delta for m in modifiers)))
        query_tokens, list_tokens = set(query.tokens), set(indexed.name.tokens)
        return Match(
            uid=entry.uid,
            primary_name=entry.name,
            entity_type=entry.entity_type,
            programs=entry.programs,
            matched_name=indexed.name.original,
            matched_name_type=indexed.type,
            score=round(score, 4),
            features=MatchFeatures(
                name_score=name_score.score,
                matched_tokens=name_score.matched_tokens,
                substituted_tokens=name_score.substituted_tokens,
                added_tokens=name_score.added_tokens,
                token_overlap=round(len(query_tokens & list_tokens) / len(query_tokens | list_tokens), 4),
                legal_form_conflict=name_score.legal_form_conflict,
                dob=dob_agreement,
                country=country_agreement,
            ),
            modifiers=modifiers,
        )


def _full_tokens(name: NormalizedName) -> tuple[str, ...]:
    """The distinct tokens that block: those of full weight, or all of them if none is."""
    full = tuple(dict.fromkeys(t for t, w in zip(name.tokens, name.weights, strict=True) if w == 1.0))
    return full or tuple(dict.fromkeys(name.tokens))


def _by_tokens(queries: dict[NameKind, NormalizedName]) -> dict[tuple[str, ...], set[NameKind]]:
    """The distinct blocking token lists of the query's normalisations, each with its kinds."""
    grouped: dict[tuple[str, ...], set[NameKind]] = defaultdict(set)
    for kind, query in queries.items():
        grouped[_full_tokens(query)].add(kind)
    return grouped


def _variants(key: str) -> set[str]:
    """``key`` and every string one deletion away from it."""
    return {key, *(key[:i] + key[i + 1:] for i in range(len(key)))}


def _estimate(found: float, query_tokens: int, name_tokens: int, kind: NameKind) -> float:
    """The name score if ``found`` full tokens of each name matched and the rest were additions."""
    coverage = sorted((min(1.0, found / query_tokens), min(1.0, found / name_tokens)))
    return coverage_score(coverage[1], coverage[0], kind, single=min(query_tokens, name_tokens) == 1)


def _fewest_points(query_tokens: int, lowest: float) -> int:
    """The fewest grade points a list name of two or more full tokens needs to be estimated at
    ``lowest`` or more (as a person's name, whose additions cost least)."""
    for points in range(1, GRADES * query_tokens + 1):
        found = points / GRADES
        if _estimate(found, query_tokens, max(2, math.ceil(found)), "person") >= lowest:
            return points
    return GRADES * query_tokens + 1


def _floor(estimates: dict[tuple[int, int, NameKind], float], counts: Counter[tuple[int, int, NameKind]]) -> float:
    """The lowest estimate that still has to be kept to fill ``CANDIDATES``."""
    kept = 0
    for shape in sorted(estimates, key=estimates.__getitem__, reverse=True):
        kept += counts[shape]
        if kept >= CANDIDATES:
            return estimates[shape]
    return -1.0


def _dob_agreement(entry: SanctionsEntry, dob: str | None) -> Agreement:
    """Whether the query's birth date agrees with any of the entry's; unknown if either lacks one."""
    if dob is None or not entry.birth_dates:
        return "unknown"
    return "match" if any(dates_agree(dob, d) for d in entry.birth_dates) else "mismatch"


def _country_agreement(entry: SanctionsEntry, country: str | None) -> Agreement:
    """Whether the query's country is one of the entry's; unknown if either lacks one."""
    if country is None or not entry.countries:
        return "unknown"
    return "match" if country in entry.countries else "mismatch"


def _modifiers(dob: Agreement, country: Agreement, dob_value: str | None, country_value: str | None
               ) -> Iterator[Modifier]:
    """The score changes the agreements call for, each with its reason."""
    if dob == "match":
        yield Modifier(feature="dob", delta=DOB_MATCH, reason=f"birth date {dob_value} agrees with the entry")
    elif dob == "mismatch":
        yield Modifier(feature="dob", delta=DOB_MISMATCH, reason=f"birth date {dob_value} contradicts the entry")
    if country == "match":
        yield Modifier(feature="country", delta=COUNTRY_MATCH, reason=f"country {country_value} is tied to the entry")
    elif country == "mismatch":
        yield Modifier(feature="country", delta=COUNTRY_MISMATCH,
                       reason=f"country {country_value} is not among the entry's countries")


def status_of(matches: Iterable[Match]) -> ScreeningStatus:
    """The status a screening with these matches has (see the module docstring): for callers that
    set some matches aside, such as those a person already dismissed for the same subject."""
    return _status(tuple(matches))


def _status(matches: tuple[Match, ...]) -> ScreeningStatus:
    """The overall status of a screening with these matches (see the module docstring)."""
    if not matches:
        return "clear"
    if any(_is_strong(m) for m in matches):
        return "strong_match"
    return "possible_match"


def _is_strong(match: Match) -> bool:
    """A high score backed by the birth date or country, and contradicted by neither."""
    features = match.features
    corroborated = "match" in (features.dob, features.country)
    contradicted = "mismatch" in (features.dob, features.country)
    return match.score >= STRONG_SCORE and corroborated and not contradicted
