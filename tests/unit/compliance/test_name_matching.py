"""Name normalisation and the fuzzy name scorer."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.compliance.name_matching import compare_names, normalize_name, phonetic_key, score_names

# --- Normalisation -----------------------------------------------------------------------


@pytest.mark.parametrize(("name", "kind", "tokens"), [
    ("Recep Tayyip Erdoğan", "person", ("recep", "tayyip", "erdogan")),
    ("Сергей Викторович Лавров", "person", ("sergey", "viktorovich", "lavrov")),
    ("LOGAN MOREY, Elvis Angus", "person", ("logan", "morey", "elvis", "angus")),
    ("Dr. Rami Makhlouf", "person", ("rami", "makhlouf")),
    ("Mr. Recep Tayyip Erdoğan", "person", ("recep", "tayyip", "erdogan")),
    ("Shaikh Isa Bin Tarif Al Bin Ali", "person", ("isa", "bin", "tarif", "al", "bin", "ali")),
    ("HAJI", "person", ("haji",)),
    ("'Abd al-Aziz Ibn Sa'ud", "person", ("abd", "al", "aziz", "bin", "saud")),
    ("El-Sisi, Abdel Fattah", "person", ("al", "sisi", "abd", "fattah")),
    ("Ig0r Sech1n", "person", ("igor", "sechin")),
    ("Nicolás Maduro LLC", "person", ("nicolas", "maduro")),
    ("A.B.C. Company", "organization", ("abc",)),
    ("Procter & Gamble Co.", "organization", ("procter", "and", "gamble")),
    ("Brigade Forty-Four", "organization", ("brigade", "44")),
    ("1st International Bank", "organization", ("1", "international", "bank")),
    ("MV Hellenic Spirit", "other", ("hellenic", "spirit")),
    ("Company", "organization", ("company",)),
])
def test_normalize_name_tokens(name: str, kind, tokens: tuple[str, ...]) -> None:
    assert normalize_name(name, kind).tokens == tokens


@pytest.mark.parametrize(("name", "tokens", "legal_forms"), [
    ("Siemens Aktiengesellschaft", ("siemens",), ("ag",)),
    ("TACTICAL MISSILES CORPORATION JOINT STOCK COMPANY", ("tactical", "missiles"), ("corp", "jsc")),
    ("Volkswagen Gesellschaft mit beschränkter Haftung", ("volkswagen",), ("gmbh",)),
    ("FABERLIC EUROPE Sp. z o.o.", ("faberlic", "europe"), ("spzoo",)),
    ('ООО "АЯС 2000"', ("ayas", "2000"), ("ooo",)),
    ("Bowne Global Solutions, L.L.C.", ("bowne", "global", "solutions"), ("llc",)),
])
def test_normalize_name_separates_legal_forms_of_organisations(name: str, tokens, legal_forms) -> None:
    normalized = normalize_name(name, "organization")

    assert (normalized.tokens, normalized.legal_forms) == (tokens, legal_forms)


def test_particles_initials_and_numbers_weigh_less_than_name_tokens() -> None:
    normalized = normalize_name("Hans J. von Friedrich 3", "organization")

    assert dict(zip(normalized.tokens, normalized.weights, strict=True)) == {
        "hans": 1.0, "j": 0.5, "von": 0.25, "friedrich": 1.0, "3": 0.3,
    }


def test_phonetic_key_merges_transliteration_variants() -> None:
    assert phonetic_key("qaddafi") == phonetic_key("kadafi")
    assert phonetic_key("wladimir") == phonetic_key("vladimir")
    assert phonetic_key("mohammed") == phonetic_key("muhamid")


# --- Scores ------------------------------------------------------------------------------


@pytest.mark.parametrize(("a", "b", "kind"), [
    ("Putin, Vladimir", "Vladimir Putin", "person"),
    ("Siemens Aktiengesellschaft", "Siemens AG", "organization"),
    ("Сергей Викторович Лавров", "Sergey Viktorovich Lavrov", "person"),
    ("Mr. Rami Makhlouf", "Rami Makhlouf", "person"),
    ("Procter & Gamble Co.", "Procter and Gamble Company", "organization"),
])
def test_names_that_normalise_alike_score_one(a: str, b: str, kind) -> None:
    assert compare_names(a, b, kind) == 1.0


@pytest.mark.parametrize(("a", "b", "kind"), [
    ("Vladmir Putin", "Vladimir Putin", "person"),
    ("SiemensAG", "Siemens AG", "organization"),
    ("Nikolai Patr ushev", "Nikolai Patrushev", "person"),
    ("Moammar Qaddafi", "Muammar Gaddafi", "person"),
    ("Sergey Viktorovich Lavrov", "Sergey Lavrov", "person"),
    ("Hans J Friedrich", "Hans Joachim Friedrich", "person"),
])
def test_variants_of_a_name_score_above_the_threshold(a: str, b: str, kind) -> None:
    assert compare_names(a, b, kind) >= 0.7


@pytest.mark.parametrize(("a", "b", "kind"), [
    ("Daniel Tusk", "Donald Tusk", "person"),
    ("TARIQ ANWAR EL SAYED MOHAMED", "TARIQ ANWAR EL SAYED AHMED", "person"),
    ("Hans O Friedrich", "Hans Joachim Friedrich", "person"),
    ("Bowne of Atlanta, Inc.", "Bowne of Boston, Inc.", "organization"),
    ("Usama bin Laden", "Shaikh Isa Bin Tarif Al Bin Ali", "person"),
    ("SHAMSUDDIN", "SHAMSUDDIN MOHAMMED HAQQANI", "person"),
])
def test_different_names_score_below_the_threshold(a: str, b: str, kind) -> None:
    assert compare_names(a, b, kind) < 0.7


def test_a_substituted_token_costs_more_than_an_added_one() -> None:
    added = compare_names("Sergey Viktorovich Lavrov", "Sergey Lavrov", "person")
    substituted = compare_names("Sergey Viktorovich Lavrov", "Sergey Ivanovich Lavrov", "person")

    assert added > substituted


def test_score_explains_matched_substituted_and_added_tokens() -> None:
    score = score_names(normalize_name("Sergey Viktorovich Lavrov", "person"),
                        normalize_name("Sergey Borisovich Lavrova", "person"))

    assert (score.matched_tokens, score.substituted_tokens, score.added_tokens) == (2, 1, 0)


def test_legal_forms_of_different_families_lower_the_score_and_say_so() -> None:
    a, b = normalize_name("Deutsche Bank AG", "organization"), normalize_name("Deutsche Bank GmbH", "organization")

    score = score_names(a, b)

    assert score.legal_form_conflict and score.score < 1.0
    assert not score_names(a, normalize_name("Deutsche Bank Aktiengesellschaft", "organization")).legal_form_conflict


def test_names_without_tokens_score_zero() -> None:
    assert compare_names("...", "Vladimir Putin", "person") == 0.0


# --- Properties --------------------------------------------------------------------------

names = st.text(alphabet=st.characters(codec="utf-8", categories=("L", "N", "P", "Zs")), max_size=40)
latin_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ .,-'", max_size=40)
kinds = st.sampled_from(["person", "organization", "other"])


@settings(max_examples=300)
@given(names, names, kinds)
def test_scores_are_bounded_and_symmetric(a: str, b: str, kind) -> None:
    score = compare_names(a, b, kind)

    assert 0.0 <= score <= 1.0
    assert compare_names(b, a, kind) == score


@settings(max_examples=300)
@given(names, kinds)
def test_a_name_scores_one_against_itself(name: str, kind) -> None:
    normalized = normalize_name(name, kind)

    assert score_names(normalized, normalized).score == (1.0 if normalized.tokens else 0.0)


@settings(max_examples=200)
@given(latin_names, latin_names, kinds)
def test_case_does_not_matter(a: str, b: str, kind) -> None:
    assert compare_names(a.upper(), b.lower(), kind) == compare_names(a, b, kind)
