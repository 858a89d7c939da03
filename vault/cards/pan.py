"""Primary account numbers: Luhn, validation, generation inside a BIN range, masking, tokens.

Error messages here never contain the PAN they are about.
"""

from __future__ import annotations

import secrets

from vault.errors import InvalidRequest

PAN_LENGTH = 16
MIN_LENGTH, MAX_LENGTH = 12, 19
TOKEN_PREFIX = "tok_"


def luhn_check_digit(payload: str) -> str:
    """The digit that makes ``payload + digit`` pass the Luhn check."""
    total = 0
    for position, char in enumerate(reversed(payload)):
        digit = int(char)
        if position % 2 == 0:  # doubled: these sit at odd positions once the check digit is appended
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return str((10 - total % 10) % 10)


def luhn_valid(number: str) -> bool:
    return len(number) > 1 and number.isdigit() and luhn_check_digit(number[:-1]) == number[-1]


def validate_pan(pan: str) -> str:
    """The PAN, or :class:`InvalidRequest` saying what is wrong with it (never echoing it)."""
    if not pan.isascii() or not pan.isdigit():
        raise InvalidRequest("the card number must contain digits only", code="invalid_pan")
    if not MIN_LENGTH <= len(pan) <= MAX_LENGTH:
        raise InvalidRequest(f"the card number must have {MIN_LENGTH} to {MAX_LENGTH} digits", code="invalid_pan")
    if not luhn_valid(pan):
        raise InvalidRequest("the card number fails the Luhn check", code="invalid_pan")
    return pan


def validate_bin(bin_: str) -> str:
    if not (bin_.isascii() and bin_.isdigit() and len(bin_) in (6, 8)) or bin_[0] == "0":
        raise InvalidRequest("a BIN is 6 or 8 digits and does not start with 0", code="invalid_bin")
    return bin_


def generate_pan(bin_: str, length: int = PAN_LENGTH) -> str:
    """A random PAN in ``bin_``'s range with a correct Luhn check digit."""
    validate_bin(bin_)
    digits = length - len(bin_) - 1
    body = bin_ + f"{secrets.randbelow(10**digits):0{digits}d}"
    return body + luhn_check_digit(body)


_BASE32 = b"abcdefghijklmnopqrstuvwxyz234567"
_BYTE_TO_BASE32 = bytes(_BASE32[b % 32] for b in range(256))  # 256 = 8 x 32: uniform


def new_token() -> str:
    """A random token that looks nothing like a PAN: a prefix and 26 random lowercase base32
    characters (letters and the digits 2-7), 130 random bits."""
    return TOKEN_PREFIX + secrets.token_bytes(26).translate(_BYTE_TO_BASE32).decode()


def mask(pan: str) -> str:
    """At most the first 6 and the last 4 digits: ``411111******1111``."""
    return pan[:6] + "*" * (len(pan) - 10) + pan[-4:]


def validate_expiry(month: int, year: int) -> None:
    if not 1 <= month <= 12 or not 2000 <= year <= 2099:
        raise InvalidRequest("expiry month is 1-12 and year a four-digit year", code="invalid_expiry")
