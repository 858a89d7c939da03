"""Screening names against a small hand-made sanctions list."""

from __future__ import annotations

from datetime import date

import pytest

from domain.compliance import Alias, SanctionsEntry, SanctionsList, Screener
from domain.compliance.countries import country_code, normalize_country
from domain.compliance.sanctions import dates_agree, partial_date
from domain.compliance.screening import COUNTRY_MATCH, COUNTRY_MISMATCH, DOB_MATCH, DOB_MISMATCH
from domain.shared.errors import InvalidInput

ENTRIES = (
    SanctionsEntry(uid="10278", name="LOGAN MOREY, Elvis Angus", entity_type="individual", programs=("SDNT",),
                   aliases=(Alias(name="BURTON BURGESS, Elvis"),), birth_dates=("1963-07-28",), countries=("BZ",)),
    SanctionsEntry(uid="6365", name="BIN LADIN, Usama", entity_type="individual", programs=("SDGT",),
                   aliases=(Alias(name="BIN LADEN, Osama"), Alias(name="AL-QA'IDA, Abu Abdallah", type="fka")),
                   birth_dates=("1957", "1958"), countries=("SA",)),
    SanctionsEntry(uid="11195", name="IRAN AIRCRAFT MANUFACTURING INDUSTRIAL COMPANY", entity_type="entity",
                   programs=("NPWMD", "IFSR"), aliases=(Alias(name="HESA TRADE CENTER"),), countries=("IR",)),
    SanctionsEntry(uid="40716", name="IRIS MAKRAN", entity_type="vessel", programs=("IRAN",), countries=("IR",)),
    SanctionsEntry(uid="306", name="BANCO NACIONAL DE CUBA", entity_type="entity", programs=("CUBA",)),
    SanctionsEntry(uid="26235", name="MALKEVICH, Alexander Aleksandrovich", entity_type="individual",
                   programs=("CYBER2",), birth_dates=("1975-06-14",), countries=("RU",)),
)
SANCTIONS = SanctionsList(source="TEST", version="v1", entries=ENTRIES)


@pytest.fixture(scope="module")
def screener() -> Screener:
    return Screener(SANCTIONS)


def test_screener_indexes_primary_names_and_aliases(screener: Screener) -> None:
    assert screener.name_count == 6 + 4


@pytest.mark.parametrize(("query", "uid"), [
    ("Elvis Angus Logan Morey", "10278"),
    ("LOGAN MOREY, Elvis", "10278"),
    ("Elvis Logan Morrey", "10278"),
    ("Osama bin Laden", "6365"),
    ("Iran Aircraft Manufacturing Industrial Co.", "11195"),
    ("Banco Nacional de Cuba", "306"),
    ("BANCONACIONAL DE CUBA", "306"),
    ("Alexander Malkevich", "26235"),
])
def test_screen_finds_list_names_and_their_variants(screener: Screener, query: str, uid: str) -> None:
    result = screener.screen(query)

    assert result.status == "possible_match"
    assert result.matches[0].uid == uid


def test_a_match_on_an_alias_names_the_alias(screener: Screener) -> None:
    match = screener.screen("Abu Abdallah al-Qa'ida").matches[0]

    assert (match.uid, match.primary_name) == ("6365", "BIN LADIN, Usama")
    assert (match.matched_name, match.matched_name_type) == ("AL-QA'IDA, Abu Abdallah", "fka")


def test_an_unrelated_name_is_clear(screener: Screener) -> None:
    result = screener.screen("Margaret Thompson")

    assert (result.status, result.matches) == ("clear", ())
    assert (result.list_source, result.list_version, result.threshold) == ("TEST", "v1", 0.7)


def test_a_match_explains_itself(screener: Screener) -> None:
    match = screener.screen("Elvis Logan Morey").matches[0]

    assert match.entity_type == "individual" and match.programs == ("SDNT",)
    features = match.features
    assert features.name_score == match.score
    assert (features.matched_tokens, features.substituted_tokens, features.added_tokens) == (3, 0, 1)
    assert features.token_overlap == 0.75
    assert (features.dob, features.country, match.modifiers) == ("unknown", "unknown", ())


def test_an_agreeing_birth_date_raises_the_score_and_makes_a_strong_match(screener: Screener) -> None:
    result = screener.screen("Elvis Logan Morey", birth_date=date(1963, 7, 28))

    match = result.matches[0]
    assert match.features.dob == "match"
    assert match.score == pytest.approx(match.features.name_score + DOB_MATCH)
    assert [(m.feature, m.delta) for m in match.modifiers] == [("dob", DOB_MATCH)]
    assert result.status == "strong_match"


def test_a_birth_year_agrees_with_a_full_birth_date(screener: Screener) -> None:
    match = screener.screen("Usama bin Ladin", birth_date="1957-03-10").matches[0]

    assert match.features.dob == "match"


def test_a_contradicting_birth_date_lowers_the_score(screener: Screener) -> None:
    plain = screener.screen("Elvis Logan Morey").matches[0]
    contradicted = screener.screen("Elvis Logan Morey", birth_date="1980").matches[0]

    assert contradicted.features.dob == "mismatch"
    assert contradicted.score == pytest.approx(plain.score + DOB_MISMATCH)
    assert screener.screen("Elvis Logan Morey", birth_date="1980").status == "possible_match"


def test_a_contradicting_birth_date_can_clear_a_weak_name_match(screener: Screener) -> None:
    assert screener.screen("Elvis Morey", threshold=0.8).status == "possible_match"
    assert screener.screen("Elvis Morey", threshold=0.8, birth_date="1990-01-01").status == "clear"


def test_country_agreement_by_code_or_name(screener: Screener) -> None:
    by_code = screener.screen("Iris Makran", country="IR").matches[0]
    by_name = screener.screen("Iris Makran", country="Iran").matches[0]
    elsewhere = screener.screen("Iris Makran", country="France").matches[0]

    assert by_code.features.country == by_name.features.country == "match"
    assert by_code.score == 1.0 and [m.delta for m in by_code.modifiers] == [COUNTRY_MATCH]
    assert elsewhere.features.country == "mismatch"
    assert elsewhere.score == pytest.approx(1.0 + COUNTRY_MISMATCH)


def test_a_birth_date_or_country_the_entry_lacks_is_unknown(screener: Screener) -> None:
    match = screener.screen("Banco Nacional de Cuba", birth_date="1960", country="CU").matches[0]

    assert (match.features.dob, match.features.country) == ("unknown", "unknown")


def test_a_strong_match_needs_corroboration_without_contradiction(screener: Screener) -> None:
    assert screener.screen("Elvis Logan Morey", country="BZ").status == "strong_match"
    assert screener.screen("Elvis Logan Morey", birth_date="1963", country="FR").status == "possible_match"


def test_kind_restricts_the_entries_screened(screener: Screener) -> None:
    assert screener.screen("Iris Makran", kind="other").status == "possible_match"
    assert screener.screen("Iris Makran", kind="person").status == "clear"


def test_each_entry_matches_once_by_its_best_name(screener: Screener) -> None:
    result = screener.screen("Usama bin Laden")

    assert [m.uid for m in result.matches] == ["6365"]
    assert result.matches[0].score == 1.0


def test_threshold_and_limit(screener: Screener) -> None:
    assert len(screener.screen("Elvis Logan Morey", threshold=0.99).matches) == 0
    assert len(screener.screen("Elvis Logan Morey", limit=1).matches) == 1
    with pytest.raises(InvalidInput) as error:
        screener.screen("x", threshold=1.5)
    assert error.value.code == "invalid_threshold"
    with pytest.raises(InvalidInput) as error:
        screener.screen("x", limit=0)
    assert error.value.code == "invalid_limit"


@pytest.mark.parametrize("birth_date", ["28 Jul 1963", "1963-13", "1963-02-30", "63"])
def test_an_invalid_birth_date_is_rejected(screener: Screener, birth_date: str) -> None:
    with pytest.raises(InvalidInput) as error:
        screener.screen("Elvis Logan Morey", birth_date=birth_date)
    assert error.value.code == "invalid_birth_date"


def test_partial_dates() -> None:
    assert partial_date(date(1963, 7, 8)) == "1963-07-08"
    assert partial_date(" 1963-07 ") == "1963-07"
    assert dates_agree("1963", "1963-07-28") and dates_agree("1963-07-28", "1963-07")
    assert not dates_agree("1963-07", "1963-08-01")


def test_country_codes() -> None:
    assert country_code("Korea, North") == country_code("kp") == "KP"
    assert country_code("Burma") == "MM"
    assert country_code("Côte d'Ivoire") == "CI"
    assert country_code("Atlantis") is None
    assert normalize_country("Region: Crimea") == "region crimea"
