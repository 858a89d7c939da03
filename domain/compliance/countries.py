"""Country names and codes: ISO 3166-1 alpha-2 codes for the names sanctions lists use.

``country_code`` understands alpha-2 codes, the ISO short names and the spellings of the OFAC
lists (``Burma``, ``Korea, North``, ``Congo, Democratic Republic of the``...). A name it does not
know stays a name: ``normalize_country`` returns it normalised by ``country_key`` instead, so
that two spellings that differ only in case, accents or punctuation still compare equal.
"""

from __future__ import annotations

import re
from typing import Final

from anyascii import anyascii

_ISO_NAMES: Final = """
AD Andorra|AE United Arab Emirates|AF Afghanistan|AG Antigua and Barbuda|AI Anguilla|AL Albania|AM Armenia
AO Angola|AQ Antarctica|AR Argentina|AS American Samoa|AT Austria|AU Australia|AW Aruba|AX Aland Islands
AZ Azerbaijan|BA Bosnia and Herzegovina|BB Barbados|BD Bangladesh|BE Belgium|BF Burkina Faso|BG Bulgaria
BH Bahrain|BI Burundi|BJ Benin|BL Saint Barthelemy|BM Bermuda|BN Brunei|BO Bolivia|BQ Bonaire|BR Brazil
BS Bahamas|BT Bhutan|BW Botswana|BY Belarus|BZ Belize|CA Canada|CC Cocos Islands
CD Democratic Republic of the Congo|CF Central African Republic|CG Republic of the Congo|CH Switzerland
CI Cote d Ivoire|CK Cook Islands|CL Chile|CM Cameroon|CN China|CO Colombia|CR Costa Rica|CU Cuba
CV Cabo Verde|CW Curacao|CX Christmas Island|CY Cyprus|CZ Czechia|DE Germany|DJ Djibouti|DK Denmark
DM Dominica|DO Dominican Republic|DZ Algeria|EC Ecuador|EE Estonia|EG Egypt|EH Western Sahara|ER Eritrea
ES Spain|ET Ethiopia|FI Finland|FJ Fiji|FK Falkland Islands|FM Micronesia|FO Faroe Islands|FR France
GA Gabon|GB United Kingdom|GD Grenada|GE Georgia|GF French Guiana|GG Guernsey|GH Ghana|GI Gibraltar
GL Greenland|GM Gambia|GN Guinea|GP Guadeloupe|GQ Equatorial Guinea|GR Greece|GT Guatemala|GU Guam
GW Guinea-Bissau|GY Guyana|HK Hong Kong|HN Honduras|HR Croatia|HT Haiti|HU Hungary|ID Indonesia|IE Ireland
IL Israel|IM Isle of Man|IN India|IQ Iraq|IR Iran|IS Iceland|IT Italy|JE Jersey|JM Jamaica|JO Jordan
JP Japan|KE Kenya|KG Kyrgyzstan|KH Cambodia|KI Kiribati|KM Comoros|KN Saint Kitts and Nevis|KP North Korea
KR South Korea|KW Kuwait|KY Cayman Islands|KZ Kazakhstan|LA Laos|LB Lebanon|LC Saint Lucia|LI Liechtenstein
LK Sri Lanka|LR Liberia|LS Lesotho|LT Lithuania|LU Luxembourg|LV Latvia|LY Libya|MA Morocco|MC Monaco
MD Moldova|ME Montenegro|MF Saint Martin|MG Madagascar|MH Marshall Islands|MK North Macedonia|ML Mali
MM Myanmar|MN Mongolia|MO Macao|MP Northern Mariana Islands|MQ Martinique|MR Mauritania|MS Montserrat
MT Malta|MU Mauritius|MV Maldives|MW Malawi|MX Mexico|MY Malaysia|MZ Mozambique|NA Namibia|NC New Caledonia
NE Niger|NF Norfolk Island|NG Nigeria|NI Nicaragua|NL Netherlands|NO Norway|NP Nepal|NR Nauru|NU Niue
NZ New Zealand|OM Oman|PA Panama|PE Peru|PF French Polynesia|PG Papua New Guinea|PH Philippines|PK Pakistan
PL Poland|PM Saint Pierre and Miquelon|PN Pitcairn|PR Puerto Rico|PS Palestine|PT Portugal|PW Palau
PY Paraguay|QA Qatar|RE Reunion|RO Romania|RS Serbia|RU Russia|RW Rwanda|SA Saudi Arabia|SB Solomon Islands
SC Seychelles|SD Sudan|SE Sweden|SG Singapore|SH Saint Helena|SI Slovenia|SK Slovakia|SL Sierra Leone
SM San Marino|SN Senegal|SO Somalia|SR Suriname|SS South Sudan|ST Sao Tome and Principe|SV El Salvador
SX Sint Maarten|SY Syria|SZ Eswatini|TC Turks and Caicos Islands|TD Chad|TG Togo|TH Thailand|TJ Tajikistan
TK Tokelau|TL Timor-Leste|TM Turkmenistan|TN Tunisia|TO Tonga|TR Turkey|TT Trinidad and Tobago|TV Tuvalu
TW Taiwan|TZ Tanzania|UA Ukraine|UG Uganda|US United States|UY Uruguay|UZ Uzbekistan|VA Holy See
VC Saint Vincent and the Grenadines|VE Venezuela|VG British Virgin Islands|VI United States Virgin Islands
VN Vietnam|VU Vanuatu|WF Wallis and Futuna|WS Samoa|XK Kosovo|YE Yemen|YT Mayotte|ZA South Africa|ZM Zambia
ZW Zimbabwe
"""
"""ISO 3166-1 alpha-2 codes with an English short name (and XK, the code in common use for Kosovo)."""

_OTHER_NAMES: Final = {
    "Burma": "MM", "Korea, North": "KP", "Korea, South": "KR", "Korea, Democratic People's Republic of": "KP",
    "Korea, Republic of": "KR", "Democratic People's Republic of Korea": "KP", "Republic of Korea": "KR",
    "Congo, Democratic Republic of the": "CD", "Congo, Republic of the": "CG",
    "Cote d'Ivoire": "CI", "Ivory Coast": "CI", "Bahamas, The": "BS", "The Gambia": "GM", "Man, Isle of": "IM",
    "Virgin Islands, British": "VG", "Virgin Islands, U.S.": "VI", "Czech Republic": "CZ",
    "Macedonia, The Former Yugoslav Republic of": "MK", "Macedonia": "MK", "Russian Federation": "RU",
    "Iran, Islamic Republic of": "IR", "Syrian Arab Republic": "SY", "Lao People's Democratic Republic": "LA",
    "Viet Nam": "VN", "Palestinian": "PS", "West Bank": "PS", "Gaza": "PS", "Region: Gaza": "PS",
    "Cape Verde": "CV", "Swaziland": "SZ", "Turkiye": "TR", "East Timor": "TL", "Brunei Darussalam": "BN",
    "Vatican City": "VA", "Great Britain": "GB", "United States of America": "US", "USA": "US", "UK": "GB",
    "Bolivia, Plurinational State of": "BO", "Venezuela, Bolivarian Republic of": "VE",
    "Tanzania, United Republic of": "TZ", "Moldova, Republic of": "MD", "Micronesia, Federated States of": "FM",
    "Saint Kitts & Nevis": "KN", "Trinidad & Tobago": "TT", "Bosnia-Herzegovina": "BA",
}
"""Other spellings, in particular OFAC's."""

_NON_ALNUM: Final = re.compile(r"[^a-z0-9]+")
_APOSTROPHES: Final = re.compile(r"['`]")


def country_key(name: str) -> str:
    """A country name reduced for lookup: Latin letters, lower case, no punctuation or ``the``."""
    words = _NON_ALNUM.sub(" ", _APOSTROPHES.sub("", anyascii(name).casefold())).split()
    return " ".join(w for w in words if w != "the")


def _build_table() -> dict[str, str]:
    table = {}
    for item in _ISO_NAMES.replace("\n", "|").split("|"):
        if item.strip():
            code, name = item.strip().split(" ", 1)
            table[country_key(name)] = code
            table[code.casefold()] = code
    table.update({country_key(name): code for name, code in _OTHER_NAMES.items()})
    return table


_CODES: Final = _build_table()


def country_code(name_or_code: str) -> str | None:
    """The ISO alpha-2 code of a country given by name or code, or ``None`` if unknown."""
    return _CODES.get(country_key(name_or_code))


def normalize_country(name_or_code: str) -> str:
    """The alpha-2 code if the country is known, else its ``country_key``."""
    return country_code(name_or_code) or country_key(name_or_code)
