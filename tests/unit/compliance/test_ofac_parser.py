"""Reading OFAC's legacy CSV files: the sample in tests/fixtures and the full 2019 list in ../shared."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from adapters.sanctions_ofac import OfacFormatError, load_ofac_list
from adapters.sanctions_ofac.parser import birth_dates, countries
from domain.compliance import Alias, Screener

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = ROOT / "tests" / "fixtures" / "ofac-sample"
OFAC_2019 = ROOT.parent / "shared" / "data" / "sanctions" / "ofac-sdn-2019"


@pytest.fixture(scope="module")
def sample():
    return {entry.uid: entry for entry in load_ofac_list(SAMPLE).entries}


def test_sample_entries_and_types(sample) -> None:
    assert len(sample) == 17
    assert sample["10278"].entity_type == "individual"
    assert sample["11195"].entity_type == "entity"
    assert sample["40716"].entity_type == "vessel"
    assert sample["20540"].entity_type == "aircraft"


def test_an_individual_with_birth_date_programs_and_countries(sample) -> None:
    entry = sample["10278"]

    assert entry.name == "LOGAN MOREY, Elvis Angus"
    assert entry.programs == ("SDNT",)
    assert entry.birth_dates == ("1963-07-28",)
    assert entry.countries == ("BZ",)
    assert entry.remarks.startswith("DOB 28 Jul 1963; POB Toledo District, Belize;")


def test_programs_are_split_and_aliases_attached(sample) -> None:
    entry = sample["11195"]

    assert entry.programs == ("NPWMD", "IFSR", "IRAN-CON-ARMS-EO")
    assert entry.aliases == (
        Alias(name="HESA TRADE CENTER"),
        Alias(name="IRAN AIRCRAFT MANUFACTURING INDUSTRIES"),
        Alias(name="IRAN AIRCRAFT MANUFACTURING COMPANY"),
        Alias(name="KARKHANEJATE SANAYE HAVAPAYMAIE IRAN"),
    )
    assert entry.countries == ("IR",)


def test_countries_come_from_addresses_flags_nationality_and_place_of_birth(sample) -> None:
    assert sample["40716"].countries == ("IR",)  # vessel flag
    assert sample["12685"].countries == ("LY", "CH")  # addresses
    assert sample["48603"].countries == ("RU",)  # address, nationality, citizenship
    assert sample["50972"].countries == ("CK",)


def test_remarks_continue_from_sdn_comments(sample) -> None:
    remarks = sample["33151"].remarks

    assert "Digital Currency Address - XBT 12HQDsicffSBaYdJ6BhnE22sfjTESmmzKx" in remarks
    assert remarks.endswith("a.k.a. 'SUCCESSFUL EXCHANGE'.")


def test_empty_fields_are_empty(sample) -> None:
    assert sample["20540"].aliases == ()
    assert sample["20540"].birth_dates == ()
    assert "-0-" not in repr(list(sample.values()))


def test_version_is_a_digest_of_the_contents_unless_given(tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(SAMPLE, copy)
    version = load_ofac_list(SAMPLE).version

    assert version.startswith("sha256:") and len(version) == len("sha256:") + 16
    assert load_ofac_list(copy).version == version
    with (copy / "alt.csv").open("a") as f:
        f.write('11195,99999,"aka","NEW NAME",-0- \n')
    assert load_ofac_list(copy).version != version
    assert load_ofac_list(SAMPLE, version="2024-01-01").version == "2024-01-01"


def test_windows_1252_files_and_a_dos_end_of_file_mark(tmp_path: Path) -> None:
    (tmp_path / "sdn.csv").write_bytes(
        '1,"SOCIÉTÉ GÉNÉRALE DE TEST",-0- ,"TEST",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,"DOB 1960."\r\n\x1a'
        .encode("cp1252"))
    (tmp_path / "alt.csv").write_bytes(b'1,2,"fka","ANCIENNE SOCI\xc9T\xc9",-0')
    (tmp_path / "add.csv").write_bytes(b"")

    [entry] = load_ofac_list(tmp_path).entries

    assert entry.name == "SOCIÉTÉ GÉNÉRALE DE TEST"
    assert entry.aliases == (Alias(name="ANCIENNE SOCIÉTÉ", type="fka"),)
    assert entry.birth_dates == ("1960",)


def test_a_directory_without_the_list_files_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(OfacFormatError, match="sdn.csv"):
        load_ofac_list(tmp_path)


@pytest.mark.parametrize(("remarks", "dates"), [
    ("DOB 28 Jul 1963; POB Toledo District, Belize;", ("1963-07-28",)),
    ("DOB 1963; nationality Iraq", ("1963",)),
    ("DOB Jul 1963;", ("1963-07",)),
    ("DOB circa 1960; POB Iraq", ("1960",)),
    ("DOB 1955 to 1958;", ("1955", "1956", "1957", "1958")),
    ("DOB 01 Jan 1960 to 31 Dec 1960;", ("1960",)),
    ("DOB circa 1963-1965.", ("1963", "1964", "1965")),
    ("DOB 12 Oct 1972; alt. DOB 13 Oct 1972;", ("1972-10-12", "1972-10-13")),
    ("DOB 1900 to 1950;", ("1900", "1950")),
    ("Gender Male; Passport 123", ()),
])
def test_birth_dates_from_remarks(remarks: str, dates: tuple[str, ...]) -> None:
    assert birth_dates(remarks) == dates


def test_countries_from_remarks() -> None:
    assert countries("POB Toledo District, Belize; nationality Russia; citizen Korea, North") == ["RU", "KP", "BZ"]
    assert countries("POB Somewhere Unknown") == []


def _require_2019_list() -> Path:
    if not (OFAC_2019 / "sdn.csv").is_file():
        pytest.fail(f"the 2019 OFAC SDN list is missing: expected {OFAC_2019}/sdn.csv, alt.csv, add.csv "
                    "(the shared data folder ../shared/data next to the project root)")
    return OFAC_2019


@pytest.fixture(scope="module")
def sdn_2019():
    return load_ofac_list(_require_2019_list())


def test_the_full_2019_list(sdn_2019) -> None:
    """7,379 entries and 9,682 aliases: one more of each than ``wc -l`` counts (the data README's
    7,378 and 9,681), because the files' last line has no newline."""
    assert len(sdn_2019.entries) == 7379
    assert sum(len(entry.aliases) for entry in sdn_2019.entries) == 9682
    assert len({entry.uid for entry in sdn_2019.entries}) == 7379
    assert {entry.entity_type for entry in sdn_2019.entries} == {"individual", "entity", "vessel", "aircraft"}
    with_dob = [entry for entry in sdn_2019.entries if "DOB " in entry.remarks]
    assert with_dob and all(entry.birth_dates for entry in with_dob)


def test_the_screener_finds_names_of_the_full_2019_list(sdn_2019) -> None:
    screener = Screener(sdn_2019)
    sample = sdn_2019.entries[::50]

    missed = [entry.name for entry in sample if entry.uid not in {m.uid for m in screener.screen(entry.name).matches}]

    assert missed == []
