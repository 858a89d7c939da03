"""Name normalisation and a fuzzy name scorer for sanctions screening.

A name is first *normalised*: transliterated to Latin (anyascii), case folded, stripped of
punctuation, titles (``mr``, ``dr``, ``sheikh``...) and, for organisations, legal forms (``ltd``,
``gmbh``, ``joint stock company``...), which are kept aside as canonical codes. Particles
(``al``, ``bin``, ``de``, ``of``...), initials and numbers stay but weigh little.

Two normalised names are then *compared token by token*, ignoring order: tokens are paired
greedily, most similar first (rapidfuzz's Indel similarity of the spellings or of rough phonetic
keys, ``token_similarity``), after gluing adjacent tokens that together spell one token of the
other name (``Siemens AG`` / ``SiemensAG``). A pair of similar tokens supports the match; a pair
of dissimilar tokens (a *substitution*: ``Daniel`` for ``Donald``) counts against it heavily,
whatever the length of the names; a token that only one name has (an *addition*: a middle name,
a patronymic) counts against it lightly, more so for organisations and for one-word names. The
score is in ``[0, 1]``, symmetric, and 1.0 for two names that normalise alike.

Word order is ignored on purpose (``LAST, First`` against ``First Last``, surname-first
cultures), so ``Hans Friedrich`` and ``Friedrich Hans`` are the same name.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Final, Literal

import msgspec
from anyascii import anyascii
from rapidfuzz.distance import Indel

NameKind = Literal["person", "organization", "other"]
"""What a name names: a person, an organisation (company, body), or a vessel, aircraft or unknown."""

# --- Vocabulary --------------------------------------------------------------------------

TITLES: Final = frozenset({
    "mr", "mrs", "ms", "miss", "mister", "dr", "doctor", "prof", "professor", "sir", "dame", "lord", "lady",
    "sheikh", "shaikh", "shaykh", "sheik", "cheikh", "haji", "hajji", "hadji", "hajj", "alhaj", "alhaji",
    "mullah", "mulla", "maulana", "mawlana", "maulvi", "mawlawi", "mawlavi", "molvi", "imam", "ayatollah",
    "president", "praesident", "prasident", "general", "gen", "colonel", "col", "major", "maj", "captain",
    "capt", "lieutenant", "lt", "sergeant", "sgt", "admiral", "brigadier", "commander", "monsieur", "madame",
    "mme", "mlle", "herr", "frau", "senor", "senora", "sr", "sra", "rev", "reverend", "hon", "honourable",
    "honorable", "excellency", "eng", "engineer", "judge", "senator", "minister",
})
"""Honorifics, ranks and religious or academic titles: dropped from person names."""

PARTICLES: Final = frozenset({
    "al", "bin", "bint", "binti", "ul", "ud", "ur", "de", "da", "di", "do", "del", "della",
    "dei", "der", "den", "des", "du", "dos", "das", "van", "von", "la", "le", "los", "las", "y", "e",
    "the", "of", "and", "for", "und", "et", "i", "in", "on", "at", "a",
})
"""Connecting words and name particles: kept, but they weigh little in a comparison."""

_CANONICAL: Final = {
    "el": "al", "ben": "bin", "ibn": "bin", "abdul": "abd", "abdel": "abd", "abdal": "abd", "abdoul": "abd",
    "abdol": "abd", "abdu": "abd",
}
"""Spelling variants of common particles and prefixes, folded to one form."""

_LEGAL_FORM_PHRASES: Final = {
    # spelled out
    "gesellschaft mit beschrankter haftung": "gmbh", "aktiengesellschaft": "ag", "public limited company": "plc",
    "limited liability company": "llc", "limited liability partnership": "llp", "limited partnership": "lp",
    "open joint stock company": "ojsc", "closed joint stock company": "cjsc", "public joint stock company": "pjsc",
    "joint stock company": "jsc", "private limited company": "ltd", "limited": "ltd", "limitada": "ltd",
    "incorporated": "inc", "corporation": "corp", "company": "co", "societe anonyme": "sa", "sociedad anonima": "sa",
    "societa per azioni": "spa", "societe a responsabilite limitee": "sarl", "societatea cu raspundere limitata": "srl",
    "sociedad limitada": "sl", "besloten vennootschap": "bv", "naamloze vennootschap": "nv", "kabushiki kaisha": "kk",
    "obshchestvo s ogranichennoy otvetstvennostyu": "ooo", "obshchestvo s ogranichennoi otvetstvennostiu": "ooo",
    "aktsionernoe obshchestvo": "ao", "otkrytoe aktsionernoe obshchestvo": "oao",
    "zakrytoe aktsionernoe obshchestvo": "zao", "publichnoe aktsionernoe obshchestvo": "pao",
    "autonomous non profit organization": "ano", "sp z oo": "spzoo", "s de rl de cv": "srl", "s de rl": "srl",
    "sa de cv": "sa",
    # abbreviated
    "ltd": "ltd", "ltda": "ltd", "llc": "llc", "inc": "inc", "corp": "corp", "co": "co", "plc": "plc",
    "gmbh": "gmbh", "ag": "ag", "sa": "sa", "sas": "sas", "sarl": "sarl", "srl": "srl", "spa": "spa", "bv": "bv",
    "bvba": "bv", "nv": "nv", "ab": "ab", "as": "as", "oy": "oy", "kk": "kk", "lp": "lp", "llp": "llp",
    "pte": "pte", "pty": "pty", "jsc": "jsc", "ojsc": "ojsc", "cjsc": "cjsc", "pjsc": "pjsc", "ooo": "ooo",
    "oao": "oao", "zao": "zao", "pao": "pao", "ao": "ao", "ano": "ano", "sl": "sl", "se": "se", "spzoo": "spzoo",
    "pt": "pt", "tov": "ooo", "sro": "sro", "doo": "doo", "ead": "ead", "ood": "ooo", "eood": "ooo",
}
"""Legal-form words and phrases (already normalised) and the code each stands for."""

_LEGAL_FORM_FAMILY: Final = {
    "gmbh": "limited", "ltd": "limited", "llc": "limited", "ooo": "limited", "sarl": "limited", "srl": "limited",
    "sl": "limited", "bv": "limited", "pty": "limited", "pte": "limited", "spzoo": "limited", "sro": "limited",
    "doo": "limited", "llp": "partnership", "lp": "partnership",
    "ag": "stock", "sa": "stock", "plc": "stock", "inc": "stock", "corp": "stock", "spa": "stock",
    "nv": "stock", "ab": "stock", "as": "stock", "oy": "stock", "kk": "stock", "se": "stock", "sas": "stock",
    "pt": "stock", "ead": "stock", "jsc": "stock", "ojsc": "stock", "cjsc": "stock", "pjsc": "stock",
    "oao": "stock", "zao": "stock", "pao": "stock", "ao": "stock", "ano": "nonprofit",
}
"""Legal forms grouped by kind: two different forms of one family do not contradict each other.
A plain ``co`` (company) belongs to no family and contradicts nothing."""

_LEGAL_FORM_MAX_WORDS: Final = max(len(p.split()) for p in _LEGAL_FORM_PHRASES)

_VESSEL_PREFIXES: Final = frozenset({"mv", "mt", "ms", "ss", "mts", "fv"})
"""Ship prefixes (motor vessel, motor tanker...): dropped from the names of vessels and unknowns."""

_UNITS: Final = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "first": 1, "second": 2, "third": 3,
    "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8, "ninth": 9, "tenth": 10,
}
_TENS: Final = {
    "twenty": 20, "thirty": 30, "forty": 40, "fourty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90,
}
_ORDINAL: Final = re.compile(r"\b(\d+)(?:st|nd|rd|th)\b")
_ROMAN: Final = re.compile(r"^(?=[ivxlc]+$)c{0,3}(?:xc|xl|l?x{0,3})(?:ix|iv|v?i{0,3})$")

_APOSTROPHES: Final = re.compile(r"['`\u2018\u2019\u02bb\u02bc\u00b4]")
_DOTTED_ABBREVIATION: Final = re.compile(r"\b(?:[a-z]\.){1,}[a-z]\b\.?")
_NON_ALNUM: Final = re.compile(r"[^a-z0-9]+")
_DIGIT_LETTER_EDGE: Final = re.compile(r"(?<=\d)(?=[a-z])|(?<=[a-z])(?=\d)")
_MIXED_WORD: Final = re.compile(r"\b(?=[a-z0-9]*[a-z])(?=[a-z0-9]*[0-9])[a-z0-9]+\b")
_LOOK_ALIKE_LETTERS: Final = str.maketrans("0134579", "oieastg")

# --- Weights and thresholds --------------------------------------------------------------

PARTICLE_WEIGHT: Final = 0.25
"""Weight of a particle (``al``, ``bin``, ``de``, ``of``...); a full token weighs 1."""
INITIAL_WEIGHT: Final = 0.5
"""Weight of an initial: it can support a match only as much as it weighs."""
NUMBER_WEIGHT: Final = 0.3
"""Weight of a number or (outside people's names) a Roman numeral: series and vintages differ
often without the name being another one (``Fund IV`` / ``Fund V``)."""
INITIAL_SIMILARITY: Final = 0.9
"""Similarity of an initial to a token that starts with it (``J`` / ``Joachim``)."""
DISSIMILAR_BELOW: Final = 0.62
"""Two tokens less similar than this are different names (a substitution)."""
SIMILAR_FROM: Final = 0.9
"""Two tokens at least this similar are the same name."""
ADDITION_PENALTY: Final = {"person": 0.3, "organization": 0.5, "other": 0.4}
"""Share of the score lost when none of the longer name is matched, per kind: the score falls by
this times the unmatched share of the longer name, so extra middle names cost a person little."""
SINGLE_TOKEN_ADDITION_FACTOR: Final = 1.6
"""Additions cost this much more when one name is a single token: one word is weak evidence."""
SUBSTITUTION_PENALTY: Final = 0.15
"""Score lost per substituted token, however long the names: one wrong name part is one too many."""
LEGAL_FORM_CONFLICT: Final = 0.85
"""Factor applied when two organisations carry legal forms of different families (AG vs GmbH)."""
SOUND_NEEDS_SPELLING: Final = 0.5
"""Tokens spelled less alike than this are compared by spelling only, whatever they sound like."""
GLUE_SIMILARITY: Final = 0.85
"""Adjacent tokens are glued when together they resemble one token of the other name this much."""


class NormalizedName(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A name ready for comparison: its tokens in order, their weights and phonetic keys.

    It holds only strings and numbers, so it opts out of the cyclic garbage collector: a
    screening index keeps one per list name."""

    original: str
    kind: NameKind
    tokens: tuple[str, ...]
    weights: tuple[float, ...]
    keys: tuple[str, ...]
    """A rough phonetic key per token, to catch transliteration variants (``Qaddafi``/``Gaddafi``)."""
    legal_forms: tuple[str, ...] = ()
    """Canonical legal-form codes found in an organisation's name (``ltd``, ``ag``...)."""

    @property
    def text(self) -> str:
        """The normalised tokens joined by spaces."""
        return " ".join(self.tokens)


class NameScore(msgspec.Struct, frozen=True, kw_only=True):
    """How similar two names are, with the evidence behind the score."""

    score: float
    """In ``[0, 1]``; 1.0 for names that normalise alike."""
    matched_tokens: int
    """Token pairs that support the match (similar enough to count at least half)."""
    substituted_tokens: int
    """Token pairs that speak against it: one name part in place of a different one."""
    added_tokens: int
    """Tokens that only one of the names has."""
    legal_form_conflict: bool = False
    """Both names are organisations with legal forms of different families (``AG`` / ``GmbH``)."""


# --- Normalisation -----------------------------------------------------------------------


def normalize_name(name: str, kind: NameKind = "other") -> NormalizedName:
    """Normalise ``name`` for comparison as a name of the given kind."""
    words = _words(name, kind)
    if kind == "person":
        words = _drop_titles(words)
    if kind == "other":
        words = [w for w in words if w not in _VESSEL_PREFIXES] or words
    words, legal_forms = _split_legal_forms(words, kind)
    tokens = tuple(_CANONICAL.get(w, w) for w in _numbers_to_digits(words))
    return NormalizedName(
        original=name,
        kind=kind,
        tokens=tokens,
        weights=tuple(token_weight(t, kind) for t in tokens),
        keys=tuple(phonetic_key(t) for t in tokens),
        legal_forms=legal_forms,
    )


def _words(name: str, kind: NameKind) -> list[str]:
    """Transliterated, case-folded words of ``name`` without punctuation (``A.B.C.`` -> ``abc``).

    Ordinals lose their suffix (``1st`` -> ``1``). In a person's name, digits inside a word stand
    for look-alike letters (``Ig0r`` -> ``igor``); elsewhere digits and letters are split apart
    (``3%ers`` -> ``3 ers``, ``AN24`` -> ``an 24``).
    """
    text = anyascii(unicodedata.normalize("NFKC", name)).casefold()
    text = _APOSTROPHES.sub("", text).replace("&", " and ")
    text = _DOTTED_ABBREVIATION.sub(lambda m: m.group(0).replace(".", ""), text)
    text = _ORDINAL.sub(r"\1", _NON_ALNUM.sub(" ", text))
    if kind == "person":
        text = _MIXED_WORD.sub(lambda m: m.group(0).translate(_LOOK_ALIKE_LETTERS), text)
    return _DIGIT_LETTER_EDGE.sub(" ", text).split()


def _drop_titles(words: list[str]) -> list[str]:
    """``words`` without titles, unless nothing else would remain."""
    return [w for w in words if w not in TITLES] or words


def _split_legal_forms(words: list[str], kind: NameKind) -> tuple[list[str], tuple[str, ...]]:
    """Separate legal-form words (longest phrase first) from the name proper.

    Organisations lose them wherever they stand; other names only at the end (``Maduro LLC``).
    Nothing is removed if nothing else would remain (``Company``).
    """
    kept: list[str] = []
    forms: list[str] = []
    i = 0
    while i < len(words):
        for size in range(min(_LEGAL_FORM_MAX_WORDS, len(words) - i), 0, -1):
            code = _LEGAL_FORM_PHRASES.get(" ".join(words[i:i + size]))
            if code is not None and (kind == "organization" or i + size == len(words)):
                forms.append(code)
                i += size
                break
        else:
            kept.append(words[i])
            i += 1
    if not kept or (kind == "person" and len(kept) < 2):
        return words, ()
    return kept, tuple(dict.fromkeys(forms))


def _numbers_to_digits(words: Iterable[str]) -> list[str]:
    """Spell numbers as digits: ``forty four`` -> ``44``, ``first`` -> ``1``."""
    out: list[str] = []
    for word in words:
        value = _UNITS.get(word, _TENS.get(word))
        if value is None:
            out.append(word)
        elif word in _UNITS and out and out[-1].isdigit() and len(out[-1]) == 2 and out[-1].endswith("0"):
            out[-1] = str(int(out[-1]) + value)
        else:
            out.append(str(value))
    return out


def token_weight(token: str, kind: NameKind) -> float:
    """How much a token counts in a comparison: particles, initials and numbers count little."""
    if token in PARTICLES:
        return PARTICLE_WEIGHT
    if token.isdigit() or (kind != "person" and _ROMAN.match(token)):
        return NUMBER_WEIGHT
    if len(token) == 1:
        return INITIAL_WEIGHT
    return 1.0


_PHONETIC_RULES: Final = tuple((re.compile(p), r) for p, r in (
    (r"ph", "f"), (r"ck", "k"), (r"q", "k"), (r"c(?=[eiy])", "s"), (r"c", "k"), (r"x", "ks"),
    (r"w", "v"), (r"z", "s"), (r"dj", "j"), (r"(?<=[bdfgjklmnprstv])h", ""), (r"y", "i"), (r"ou|oo|o", "u"),
    (r"ee|ie|ei|e", "i"), (r"(.)\1+", r"\1"),
))


def phonetic_key(token: str) -> str:
    """A rough, script-neutral sound key: merges common transliteration variants of a token."""
    for pattern, replacement in _PHONETIC_RULES:
        token = pattern.sub(replacement, token)
    return token


# --- Comparison --------------------------------------------------------------------------


def compare_names(name1: str, name2: str, kind: NameKind = "other") -> float:
    """The similarity of two raw names of the given kind, in ``[0, 1]``."""
    return score_names(normalize_name(name1, kind), normalize_name(name2, kind)).score


def score_names(a: NormalizedName, b: NormalizedName) -> NameScore:
    """Compare two normalised names (see the module docstring for the method)."""
    if not a.tokens or not b.tokens:
        return NameScore(score=0.0, matched_tokens=0, substituted_tokens=0, added_tokens=0)
    if (b.tokens, b.legal_forms) < (a.tokens, a.legal_forms):
        a, b = b, a  # a fixed order makes the comparison symmetric
    left, right = _Side.of(a), _Side.of(b)
    left, right = _glue(left, right), _glue(right, left)
    pairs = _align(left, right)
    kind = a.kind if a.kind == b.kind else "other"
    return _aggregate(left, right, pairs, kind, _legal_forms_conflict(a.legal_forms, b.legal_forms))


class _Side(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The tokens of one name during a comparison (tokens may get glued together)."""

    tokens: tuple[str, ...]
    keys: tuple[str, ...]
    weights: tuple[float, ...]

    @classmethod
    def of(cls, name: NormalizedName) -> _Side:
        return cls(tokens=name.tokens, keys=name.keys, weights=name.weights)


def token_similarity(x: str, y: str, x_key: str, y_key: str) -> float:
    """Similarity of two tokens in ``[0, 1]``: spelling or sound, initials, exact numbers."""
    if x == y:
        return 1.0
    if len(x) == 1 or len(y) == 1:
        return INITIAL_SIMILARITY if x[0] == y[0] else 0.0
    if x.isdigit() or y.isdigit():
        return 0.0
    spelling = Indel.normalized_similarity(x, y)
    if spelling < SOUND_NEEDS_SPELLING:
        return spelling
    if x_key == y_key:
        return max(spelling, SIMILAR_FROM)
    return max(spelling, Indel.normalized_similarity(x_key, y_key))


def _glue(side: _Side, other: _Side) -> _Side:
    """Glue runs of adjacent tokens of ``side`` that together match one token of ``other``.

    A run is glued if its letters resemble the token (``siemens ag`` / ``siemensag``) better than
    any of its parts does. Only tokens that ``side`` lacks are glued to. Initials are not glued
    (``JC`` / ``Jean Claude``): against a whole list they match by coincidence too often.
    """
    tokens, keys, weights = list(side.tokens), list(side.keys), list(side.weights)
    while (targets := [t for t in other.tokens if t not in tokens]) and (found := _find_run(tokens, targets)):
        start, size, glued = found
        tokens[start:start + size] = [glued]
        keys[start:start + size] = [phonetic_key(glued)]
        weights[start:start + size] = [1.0]
    return _Side(tokens=tuple(tokens), keys=tuple(keys), weights=tuple(weights))


def _find_run(tokens: list[str], targets: list[str]) -> tuple[int, int, str] | None:
    """The first, longest run of ``tokens`` that matches one of ``targets``, as (start, size, glued)."""
    windows = [(target, *_glue_lengths(len(target))) for target in targets if len(target) >= 4]
    if not windows:
        return None
    lengths = [len(t) for t in tokens]
    for size in range(min(4, len(tokens)), 1, -1):
        for start in range(len(tokens) - size + 1):
            length = sum(lengths[start:start + size])
            run = tokens[start:start + size]
            for target, shortest, longest in windows:
                if shortest <= length <= longest and _glued_resembles(run, target):
                    return start, size, "".join(run)
    return None


def _glue_lengths(length: int) -> tuple[float, float]:
    """The shortest and longest strings that can be ``GLUE_SIMILARITY`` alike to one of ``length``."""
    return length * GLUE_SIMILARITY / (2 - GLUE_SIMILARITY), length * (2 - GLUE_SIMILARITY) / GLUE_SIMILARITY


def _glued_resembles(run: Sequence[str], target: str) -> bool:
    """Whether ``target`` resembles the glued ``run`` enough, and more than any single part of it."""
    similarity = Indel.normalized_similarity("".join(run), target)
    return similarity >= GLUE_SIMILARITY and similarity > max(Indel.normalized_similarity(p, target) for p in run) + 0.1


def _align(left: _Side, right: _Side) -> list[tuple[int, int, float]]:
    """Pair tokens greedily, most similar first; each token takes part in at most one pair."""
    candidates = sorted(
        (-token_similarity(x, y, left.keys[i], right.keys[j]), i, j)
        for i, x in enumerate(left.tokens) for j, y in enumerate(right.tokens)
    )
    used_left: set[int] = set()
    used_right: set[int] = set()
    pairs: list[tuple[int, int, float]] = []
    for negative, i, j in candidates:
        if i not in used_left and j not in used_right:
            used_left.add(i)
            used_right.add(j)
            pairs.append((i, j, -negative))
    return pairs


def token_quality(similarity: float) -> float:
    """How much a token pair of this similarity supports a match: 0 up to ``DISSIMILAR_BELOW``,
    1 from ``SIMILAR_FROM``, linear in between."""
    if similarity >= SIMILAR_FROM:
        return 1.0
    if similarity <= DISSIMILAR_BELOW:
        return 0.0
    return (similarity - DISSIMILAR_BELOW) / (SIMILAR_FROM - DISSIMILAR_BELOW)


def _aggregate(left: _Side, right: _Side, pairs: list[tuple[int, int, float]], kind: NameKind,
               legal_form_conflict: bool) -> NameScore:
    """Combine token pairs into a score: the better-covered name's coverage, less additions."""
    support = sum(min(left.weights[i], right.weights[j]) * token_quality(s) for i, j, s in pairs)
    coverage = sorted((support / sum(left.weights), support / sum(right.weights)))
    substitution = sum(min(left.weights[i], right.weights[j]) * (1.0 - token_quality(s)) for i, j, s in pairs)
    score = coverage_score(coverage[1], coverage[0], kind, single=min(len(left.tokens), len(right.tokens)) == 1)
    score -= SUBSTITUTION_PENALTY * substitution
    if legal_form_conflict:
        score *= LEGAL_FORM_CONFLICT
    matched = sum(1 for *_, s in pairs if token_quality(s) >= 0.5)  # supports more than it opposes
    return NameScore(
        score=round(min(1.0, max(0.0, score)), 4),
        matched_tokens=matched,
        substituted_tokens=len(pairs) - matched,
        added_tokens=abs(len(left.tokens) - len(right.tokens)),
        legal_form_conflict=legal_form_conflict,
    )


def coverage_score(better: float, worse: float, kind: NameKind, *, single: bool) -> float:
    """The score of two names whose better- and worse-covered sides have these coverages: the
    better coverage, less ``ADDITION_PENALTY`` (more if one name is a ``single`` token) times
    the share of the other name left unexplained."""
    addition = ADDITION_PENALTY[kind] * (SINGLE_TOKEN_ADDITION_FACTOR if single else 1.0)
    return better * (1.0 - addition * (1.0 - worse))


def _legal_forms_conflict(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Whether both names carry legal forms and no form of one is of a family of the other."""
    families_a = {_LEGAL_FORM_FAMILY[f] for f in a if f in _LEGAL_FORM_FAMILY}
    families_b = {_LEGAL_FORM_FAMILY[f] for f in b if f in _LEGAL_FORM_FAMILY}
    return bool(families_a and families_b) and not families_a & families_b
